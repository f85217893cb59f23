//! One step of draining a node: list its pods, evict what the [`drain::plan`] says may go now,
//! and say when to look again. Shared by the termination finalizer (which then terminates the
//! instance) and the IMDS monitor (which only drains its own node). Nothing waits in here.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use super::drain::{self, PodRef, eviction_backoff};
use super::ops::{Eviction, PodOps};

/// What one step did and what is left.
#[derive(Debug, Default)]
pub struct Step {
    pub evicted: u32,
    pub refused: u32,
    /// Nothing holds the node any more.
    pub done: bool,
    /// do-not-evict pods the node is waiting for.
    pub do_not_evict: Vec<PodRef>,
    /// Every pod still holding the node after this step (refused, do-not-evict, not yet gone).
    pub holding: Vec<PodRef>,
    /// When to step again: the shortest PDB backoff when something was refused.
    pub retry_after: Option<Duration>,
    /// Pods refused this step after being evicted or never tried before: a budget started to
    /// hold the node, worth saying once rather than on every retry.
    pub newly_refused: Vec<Pod>,
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
    pods: &dyn PodOps,
    node: &str,
    refusals: &Refusals,
    now: Timestamp,
) -> Result<Step, kube::Error> {
    let on_node = pods.pods_on(node).await?;
    let plan = drain::plan(on_node.iter(), now);
    let mut out = Step {
        done: plan.is_done(),
        holding: on_node
            .iter()
            .filter(|p| drain::holds_node(p))
            .map(|p| {
                (
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default(),
                )
            })
            .collect(),
        do_not_evict: plan.do_not_evict.clone(),
        ..Step::default()
    };
    for (ns, name) in &plan.evict {
        let pod = on_node.iter().find(|p| {
            p.metadata.name.as_deref() == Some(name) && p.metadata.namespace.as_deref() == Some(ns)
        });
        let uid = pod
            .and_then(|p| p.metadata.uid.as_deref())
            .unwrap_or_default();
        match pods.evict(ns, name).await {
            Eviction::Evicted | Eviction::Gone => {
                refusals.clear(uid);
                out.evicted += 1;
            }
            Eviction::Refused(message) => {
                let n = refusals.record(uid);
                out.refused += 1;
                tracing::debug!(%node, pod = %format!("{ns}/{name}"), %message, refusals = n,
                    "eviction refused by a disruption budget");
                if n == 1 {
                    out.newly_refused.extend(pod.cloned());
                }
                let wait = eviction_backoff(n);
                out.retry_after = Some(out.retry_after.map_or(wait, |w| w.min(wait)));
            }
            Eviction::Failed(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::termination::ops_double::FakeCluster;
    use serde_json::json;

    fn pod(name: &str, annotations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "app", "uid": format!("uid-{name}"),
                         "annotations": annotations},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "i"}]}
        }))
        .unwrap_or_default()
    }

    fn now() -> Timestamp {
        "2026-01-01T00:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[tokio::test]
    async fn a_refused_pod_backs_off_alone_while_the_others_are_evicted() -> Result<(), kube::Error>
    {
        let pods = ["a", "b", "c"].map(|p| pod(p, json!({})));
        let cluster = FakeCluster::new(vec![], pods.to_vec());
        cluster.refuse_eviction_of("b");
        let refusals = Refusals::default();
        let first = step(&cluster, "n", &refusals, now()).await?;
        assert_eq!((first.evicted, first.refused, first.done), (2, 1, false));
        assert_eq!(first.retry_after, Some(eviction_backoff(1)));
        assert_eq!(first.newly_refused.len(), 1);
        let second = step(&cluster, "n", &refusals, now()).await?;
        assert_eq!(
            second.retry_after,
            Some(eviction_backoff(2)),
            "refusals in a row back off longer"
        );
        assert!(second.newly_refused.is_empty(), "said once");
        Ok(())
    }

    #[tokio::test]
    async fn a_do_not_evict_pod_holds_the_node_and_is_never_evicted() -> Result<(), kube::Error> {
        let keep = pod("keep", json!({"karpenter.sh/do-not-evict": "true"}));
        let cluster = FakeCluster::new(vec![], vec![keep]);
        let s = step(&cluster, "n", &Refusals::default(), now()).await?;
        assert!(!s.done);
        assert_eq!(
            s.do_not_evict,
            vec![("app".to_string(), "keep".to_string())]
        );
        assert!(cluster.calls().is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_node_with_nothing_left_is_done() -> Result<(), kube::Error> {
        let cluster = FakeCluster::default();
        let s = step(&cluster, "n", &Refusals::default(), now()).await?;
        assert!(s.done && s.evicted == 0 && s.retry_after.is_none());
        Ok(())
    }
}
