//! One step of draining a node: list its pods, evict what the [`drain::plan`] says may go now,
//! and say when to look again. Shared by the termination finalizer (which then terminates the
//! instance) and the IMDS monitor (which only drains its own node). Nothing waits in here.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};

use super::drain::{self, PodRef, eviction_backoff};
use super::evict::{self, Outcome};

/// What one step did and what is left.
#[derive(Debug, Default)]
pub struct Step {
    pub evicted: u32,
    pub refused: u32,
    /// Nothing holds the node any more.
    pub done: bool,
    /// do-not-evict pods the node is waiting for.
    pub do_not_evict: Vec<PodRef>,
    /// When to step again: the shortest PDB backoff when something was refused.
    pub retry_after: Option<Duration>,
}

/// PDB refusals in a row per pod uid, so a pod behind a tight budget backs off while the others
/// keep moving. One per drainer; entries go when the pod is evicted.
#[derive(Default)]
pub struct Refusals(Mutex<HashMap<String, u32>>);

impl Refusals {
    fn record(&self, uid: &str) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(uid.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    fn clear(&self, uid: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(uid);
    }
}

pub async fn step(
    client: &kube::Client,
    node: &str,
    refusals: &Refusals,
) -> Result<Step, kube::Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?;
    let plan = drain::plan(on_node.items.iter(), Timestamp::now());
    let mut out = Step {
        done: plan.is_done(),
        do_not_evict: plan.do_not_evict.clone(),
        ..Step::default()
    };
    for (ns, name) in &plan.evict {
        let uid = on_node
            .items
            .iter()
            .find(|p| {
                p.metadata.name.as_deref() == Some(name)
                    && p.metadata.namespace.as_deref() == Some(ns)
            })
            .and_then(|p| p.metadata.uid.as_deref())
            .unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        match evict::evict(&api, name).await {
            Outcome::Evicted | Outcome::Gone => {
                refusals.clear(uid);
                out.evicted += 1;
            }
            Outcome::Refused(message) => {
                let n = refusals.record(uid);
                out.refused += 1;
                tracing::debug!(%node, pod = %format!("{ns}/{name}"), %message, refusals = n,
                    "eviction refused by a disruption budget");
                let wait = eviction_backoff(n);
                out.retry_after = Some(out.retry_after.map_or(wait, |w| w.min(wait)));
            }
            Outcome::Failed(e) => return Err(e),
        }
    }
    Ok(out)
}
