//! One step of draining a node: list its pods, evict what the [`drain::plan`] says may go now,
//! and say when to look again. Shared by the termination finalizer (which then terminates the
//! instance) and the IMDS monitor (which only drains its own node). Nothing waits in here.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::drain::{self, PodRef, eviction_backoff};
use super::evict::{Outcome, PodOps};

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
    pods: &dyn PodOps,
    node: &str,
    refusals: &Refusals,
    now: Timestamp,
) -> Result<Step, kube::Error> {
    let on_node = pods.pods_on(node).await?;
    let plan = drain::plan(on_node.iter(), now);
    let mut out = Step {
        done: plan.is_done(),
        do_not_evict: plan.do_not_evict.clone(),
        ..Step::default()
    };
    for (ns, name) in &plan.evict {
        let uid = on_node
            .iter()
            .find(|p| {
                p.metadata.name.as_deref() == Some(name)
                    && p.metadata.namespace.as_deref() == Some(ns)
            })
            .and_then(|p| p.metadata.uid.as_deref())
            .unwrap_or_default();
        match pods.evict(ns, name).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;
    use std::sync::Mutex;

    /// Pods on the node, and what the Eviction API answers for each (Evicted unless listed).
    struct Pods {
        on_node: Vec<Pod>,
        refused: Vec<&'static str>,
        asked: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl PodOps for Pods {
        async fn pods_on(&self, _node: &str) -> Result<Vec<Pod>, kube::Error> {
            Ok(self.on_node.clone())
        }

        async fn evict(&self, namespace: &str, name: &str) -> Outcome {
            self.asked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(format!("{namespace}/{name}"));
            if self.refused.contains(&name) {
                Outcome::Refused(
                    "Cannot evict pod as it would violate the pod's disruption budget.".into(),
                )
            } else {
                Outcome::Evicted
            }
        }
    }

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
        let pods = Pods {
            on_node: vec![
                pod("a", json!({})),
                pod("b", json!({})),
                pod("c", json!({})),
            ],
            refused: vec!["b"],
            asked: Mutex::default(),
        };
        let refusals = Refusals::default();
        let first = step(&pods, "n", &refusals, now()).await?;
        assert_eq!((first.evicted, first.refused, first.done), (2, 1, false));
        assert_eq!(first.retry_after, Some(eviction_backoff(1)));
        let second = step(&pods, "n", &refusals, now()).await?;
        assert_eq!(
            second.retry_after,
            Some(eviction_backoff(2)),
            "refusals in a row back off longer"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_do_not_evict_pod_holds_the_node_and_is_never_evicted() -> Result<(), kube::Error> {
        let pods = Pods {
            on_node: vec![pod("keep", json!({"karpenter.sh/do-not-evict": "true"}))],
            refused: vec![],
            asked: Mutex::default(),
        };
        let s = step(&pods, "n", &Refusals::default(), now()).await?;
        assert!(!s.done);
        assert_eq!(
            s.do_not_evict,
            vec![("app".to_string(), "keep".to_string())]
        );
        assert!(
            pods.asked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_node_with_nothing_left_is_done() -> Result<(), kube::Error> {
        let pods = Pods {
            on_node: vec![],
            refused: vec![],
            asked: Mutex::default(),
        };
        let s = step(&pods, "n", &Refusals::default(), now()).await?;
        assert!(s.done && s.evicted == 0 && s.retry_after.is_none());
        Ok(())
    }
}
