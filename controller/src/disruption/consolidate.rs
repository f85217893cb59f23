//! Consolidation in the cluster: which nodes are candidates, the decision of
//! `karpenter_core::consolidation` on the scheduler's view of the cluster, the validation that
//! the same decision still holds a while later (a pod that arrived meanwhile changes it), and
//! carrying it out: deleting through the finalizer, or launching the cheaper replacement first
//! and deleting the old node only once the replacement is there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use karpenter_core::api::labels;
use karpenter_core::consolidation::{Candidate, Decision};
use karpenter_core::scheduling::SchedulingInput;

use super::blockers::blocked;
use super::metrics::DisruptionMetrics;
use crate::clock::Clock;
use crate::provisioning::convert::{self, is_ready};
use crate::provisioning::node::PRICE_ANNOTATION;
use crate::termination::drain::holds_node;
use crate::termination::node as ournode;
use crate::termination::ops::{NodeOps, PodOps};
use crate::termination::replacement::{Outcome, REPLACEMENT_FOR, node_hash};

/// A node younger than this is not a candidate: it was just launched for pods that may still be
/// on their way.
pub const STABILIZATION: Duration = Duration::from_secs(30);
/// A decision is acted on only when a pass at least this much later reaches the same one.
pub const VALIDATION_DELAY: Duration = Duration::from_secs(10);
/// How long a replacement may take to be ready before the consolidation is called off.
pub const REPLACEMENT_TIMEOUT: Duration = Duration::from_secs(300);
/// A node whose replacement was called off is not tried again for this long.
pub const ABANDONED_BACKOFF: Duration = Duration::from_secs(1800);
/// The termination reason consolidation records on the nodes it ends.
pub const REASON: &str = "consolidation";

/// The cluster as the scheduler sees it: nodes that take pods with the pods on them, the valid
/// provisioners with their usage, the catalog's instance types, the DaemonSets. None while there
/// is no catalog.
#[async_trait]
pub trait ClusterView: Send + Sync {
    async fn view(&self) -> Option<SchedulingInput>;
}

/// The nodes of `provisioner` consolidation may consider now: ours, Ready, not cordoned or
/// deleting, older than the stabilisation window, not just chosen for pending pods, nothing
/// refusing disruption, with a known price.
pub fn candidates(
    nodes: &[Arc<Node>],
    pods_by_node: &HashMap<&str, Vec<&Pod>>,
    provisioner: &str,
    now: Timestamp,
    recently_nominated: &dyn Fn(&str) -> bool,
) -> Vec<Candidate> {
    let old_enough = |n: &Node| {
        n.metadata
            .creation_timestamp
            .as_ref()
            .is_some_and(|t| now.duration_since(t.0).as_secs() >= STABILIZATION.as_secs() as i64)
    };
    nodes
        .iter()
        .filter(|n| ournode::provisioner(n) == Some(provisioner))
        .filter(|n| ournode::has_finalizer(n) && n.metadata.deletion_timestamp.is_none())
        .filter(|n| convert::accepts_pods(n) && is_ready(n) && old_enough(n))
        .filter(|n| !recently_nominated(ournode::name(n)))
        .filter_map(|n| {
            let name = ournode::name(n);
            let on_node = pods_by_node
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if blocked(n, on_node, true).is_some() {
                return None;
            }
            let price = n
                .metadata
                .annotations
                .as_ref()?
                .get(PRICE_ANNOTATION)?
                .parse()
                .ok()?;
            let capacity_type = n.metadata.labels.as_ref()?.get(labels::CAPACITY_TYPE)?;
            let pods = on_node
                .iter()
                .filter(|p| holds_node(p))
                .map(|p| convert::pod(p).ok())
                .collect::<Option<Vec<_>>>()?;
            Some(Candidate {
                node: name.to_string(),
                price,
                capacity_type: capacity_type.clone(),
                pods,
            })
        })
        .collect()
}

/// Nodes of `provisioner` cordoned with their replacement in place (an interruption's
/// `replace-and-cordon`, e.g. for a rebalance recommendation): every placeholder made for them is
/// bound to a node. Room for their pods is reserved; keeping them too is paying twice.
pub fn redundant(nodes: &[Arc<Node>], pods: &[Arc<Pod>], provisioner: &str) -> Vec<String> {
    let mut placeholders: HashMap<&str, (usize, usize)> = HashMap::new();
    for p in pods {
        let Some(of) = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(REPLACEMENT_FOR))
        else {
            continue;
        };
        let e = placeholders.entry(of.as_str()).or_default();
        e.0 += 1;
        if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
            e.1 += 1;
        }
    }
    nodes
        .iter()
        .filter(|n| ournode::provisioner(n) == Some(provisioner))
        .filter(|n| n.metadata.deletion_timestamp.is_none() && ournode::is_cordoned(n))
        .map(|n| ournode::name(n))
        .filter(|name| {
            placeholders
                .get(node_hash(name).as_str())
                .is_some_and(|(all, bound)| *all > 0 && all == bound)
        })
        .map(str::to_string)
        .collect()
}

/// The same action: the same nodes deleted, or the same nodes replaced.
fn same_action(a: &Decision, b: &Decision) -> bool {
    match (a, b) {
        (Decision::Delete { nodes: x, .. }, Decision::Delete { nodes: y, .. })
        | (Decision::Replace { nodes: x, .. }, Decision::Replace { nodes: y, .. }) => x == y,
        _ => false,
    }
}

/// Decisions waiting for their validation, one per provisioner, and whether a replacement is
/// under way (one at a time, like Karpenter).
#[derive(Default)]
pub struct Validation {
    pending: Mutex<HashMap<String, (Decision, Instant)>>,
    replacing: Arc<AtomicBool>,
    /// Nodes whose replacement was called off, and when.
    abandoned: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Validation {
    /// Whether `node`'s replacement was called off less than `ABANDONED_BACKOFF` ago.
    pub fn recently_abandoned(&self, node: &str, now: Instant) -> bool {
        self.abandoned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node)
            .is_some_and(|at| now.saturating_duration_since(*at) < ABANDONED_BACKOFF)
    }

    pub fn replacing(&self) -> bool {
        self.replacing.load(Ordering::SeqCst)
    }

    /// The decision to act on now: one reached again at least `VALIDATION_DELAY` after it was
    /// first reached. A different decision starts the wait again; Nothing forgets it.
    pub fn confirm(&self, provisioner: &str, decision: Decision, now: Instant) -> Option<Decision> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if decision == Decision::Nothing {
            pending.remove(provisioner);
            return None;
        }
        match pending.get(provisioner) {
            Some((first, at)) if same_action(first, &decision) => {
                if now.saturating_duration_since(*at) >= VALIDATION_DELAY {
                    pending.remove(provisioner);
                    Some(decision)
                } else {
                    None
                }
            }
            _ => {
                pending.insert(provisioner.to_string(), (decision, now));
                None
            }
        }
    }
}

fn dollars(x: f64) -> String {
    format!("${x:.4}/h")
}

/// Carries a validated decision out. Deletions go to the finalizer at once; a replacement runs in
/// the background (cordon, launch and wait, then delete; called off and undone on timeout).
pub async fn act(
    decision: Decision,
    nodes: &Arc<dyn NodeOps>,
    pods: &Arc<dyn PodOps>,
    metrics: &DisruptionMetrics,
    validation: &Validation,
    clock: &Arc<dyn Clock>,
) -> Result<(), kube::Error> {
    match decision {
        Decision::Nothing => Ok(()),
        Decision::Delete {
            nodes: names,
            reason,
            savings_per_hour,
        } => {
            metrics.decided("delete", reason);
            for name in names {
                let Some(node) = nodes.get(&name).await? else {
                    continue;
                };
                let note = format!(
                    "consolidation ({reason}): its pods fit on the other nodes; saves {}",
                    dollars(savings_per_hour)
                );
                tracing::info!(node = %name, reason, savings_per_hour, "consolidation: deleting node");
                nodes.publish(&node, false, "Disrupting", note).await;
                nodes.request_termination(&name, REASON).await?;
                metrics.acted("delete", reason);
            }
            Ok(())
        }
        Decision::Replace {
            nodes: names,
            with,
            savings_per_hour,
        } => {
            metrics.decided("replace", "underutilized");
            let mut old = Vec::new();
            for name in &names {
                if let Some(node) = nodes.get(name).await? {
                    old.push(node);
                }
            }
            if old.len() != names.len() {
                // One of them is gone already: the decision no longer holds.
                return Ok(());
            }
            let types: Vec<&str> = with
                .instance_types
                .iter()
                .take(5)
                .map(|t| t.name.as_ref())
                .collect();
            let note = format!(
                "consolidation: replacing {} with one cheaper {} node ({}{}, from {}); saves {}",
                if names.len() == 1 {
                    "it".to_string()
                } else {
                    format!("{} nodes ({})", names.len(), names.join(", "))
                },
                with.capacity_type,
                types.join(", "),
                if with.instance_types.len() > types.len() {
                    format!(" and {} more", with.instance_types.len() - types.len())
                } else {
                    String::new()
                },
                dollars(with.price()),
                dollars(savings_per_hour)
            );
            tracing::info!(nodes = ?names, savings_per_hour, cheapest = ?types.first(), "consolidation: replacing nodes");
            for (i, node) in old.iter().enumerate() {
                if let Err(e) = nodes.cordon(node).await {
                    // All or none: a node left cordoned here would never be a candidate again.
                    for done in &old[..i] {
                        nodes.uncordon(ournode::name(done)).await?;
                    }
                    return Err(e);
                }
            }
            for node in &old {
                nodes.publish(node, false, "Disrupting", note.clone()).await;
            }
            validation.replacing.store(true, Ordering::SeqCst);
            let (nodes, pods, metrics) = (nodes.clone(), pods.clone(), metrics.clone());
            let replacing = validation.replacing.clone();
            let (abandoned, clock) = (validation.abandoned.clone(), clock.clone());
            tokio::spawn(async move {
                let done = replace(&old, nodes.as_ref(), pods.as_ref(), &metrics).await;
                if !matches!(done, Ok(true)) {
                    let mut abandoned = abandoned.lock().unwrap_or_else(PoisonError::into_inner);
                    for name in &names {
                        abandoned.insert(name.clone(), clock.now());
                    }
                }
                if let Err(error) = done {
                    tracing::warn!(nodes = ?names, %error, "consolidation replacement failed; the nodes are left alone for a while");
                }
                replacing.store(false, Ordering::SeqCst);
            });
            Ok(())
        }
    }
}

/// The replacement's launch and the old nodes' deletion (true), or the undoing of it all
/// (false). Every node's placeholders are created at once, so one batch launches for them all.
async fn replace(
    old: &[Node],
    nodes: &dyn NodeOps,
    pods: &dyn PodOps,
    metrics: &DisruptionMetrics,
) -> Result<bool, kube::Error> {
    let outcomes = futures::future::join_all(
        old.iter()
            .map(|node| pods.launch_replacement(node, REPLACEMENT_TIMEOUT)),
    )
    .await;
    let mut failure = None;
    let mut ready = true;
    for outcome in outcomes {
        match outcome {
            Ok(Outcome::Ready | Outcome::NothingToReplace) => {}
            Ok(Outcome::TimedOut) => ready = false,
            Err(e) => failure = Some(e),
        }
    }
    if ready && failure.is_none() {
        for node in old {
            nodes
                .request_termination(ournode::name(node), REASON)
                .await?;
            metrics.acted("replace", "underutilized");
        }
        return Ok(true);
    }
    for node in old {
        let name = ournode::name(node);
        pods.release_replacement(name).await?;
        nodes.uncordon(name).await?;
    }
    if let Some(e) = failure {
        return Err(e);
    }
    for node in old {
        nodes
            .publish(
                node,
                true,
                "ConsolidationAbandoned",
                format!(
                    "the replacement was not ready within {REPLACEMENT_TIMEOUT:?}; the node stays and is not tried again for {ABANDONED_BACKOFF:?}"
                ),
            )
            .await;
    }
    tracing::warn!(nodes = ?old.iter().map(ournode::name).collect::<Vec<_>>(), "consolidation replacement not ready in time; called off");
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_core::consolidation::Decision;
    use serde_json::json;

    #[test]
    fn a_cordoned_node_whose_placeholders_are_all_bound_is_redundant() {
        let node = |name: &str, cordoned: bool| -> Arc<Node> {
            let taints = if cordoned {
                json!([{"key": ournode::DISRUPTION_TAINT_KEY, "value": "disrupting", "effect": "NoSchedule"}])
            } else {
                json!([])
            };
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {labels::PROVISIONER_NAME: "p"}},
                    "spec": {"unschedulable": cordoned, "taints": taints}
                }))
                .unwrap_or_default(),
            )
        };
        let placeholder = |of: &str, on: Option<&str>| -> Arc<Pod> {
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": "ph", "labels": {REPLACEMENT_FOR: node_hash(of)}},
                    "spec": {"nodeName": on, "containers": []}
                }))
                .unwrap_or_default(),
            )
        };
        let nodes = [
            node("old", true),
            node("waiting", true),
            node("busy", false),
        ];
        let pods = [
            placeholder("old", Some("new")),
            placeholder("old", Some("new")),
            placeholder("waiting", None),
            placeholder("busy", Some("new")),
        ];
        assert_eq!(redundant(&nodes, &pods, "p"), ["old"]);
        assert!(redundant(&nodes, &pods, "other").is_empty());
    }

    fn delete(nodes: &[&str]) -> Decision {
        Decision::Delete {
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            reason: "underutilized",
            savings_per_hour: 0.1,
        }
    }

    #[test]
    fn a_node_whose_replacement_was_called_off_is_left_alone_for_a_while() {
        let v = Validation::default();
        let t0 = Instant::now();
        v.abandoned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert("n".into(), t0);
        assert!(v.recently_abandoned("n", t0 + Duration::from_secs(60)));
        assert!(!v.recently_abandoned("n", t0 + ABANDONED_BACKOFF));
        assert!(!v.recently_abandoned("other", t0));
    }

    #[test]
    fn a_decision_is_acted_on_only_when_reached_again_after_the_delay() {
        let v = Validation::default();
        let t0 = Instant::now();
        assert_eq!(v.confirm("p", delete(&["a"]), t0), None);
        assert_eq!(
            v.confirm("p", delete(&["a"]), t0 + Duration::from_secs(3)),
            None
        );
        let later = t0 + VALIDATION_DELAY;
        assert_eq!(v.confirm("p", delete(&["a"]), later), Some(delete(&["a"])));
        // A pod arrived: the next decision differs, and the wait starts again.
        assert_eq!(v.confirm("p", delete(&["b"]), later), None);
        assert_eq!(
            v.confirm("p", delete(&["a"]), later + VALIDATION_DELAY),
            None
        );
        assert_eq!(v.confirm("p", Decision::Nothing, later), None);
        assert_eq!(
            v.confirm("p", delete(&["a"]), later + 2 * VALIDATION_DELAY),
            None
        );
    }
}

#[cfg(test)]
mod replace_tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::metrics::Metrics;
    use crate::termination::ops_double::FakeCluster;
    use karpenter_core::scheduling::NewNode;
    use serde_json::json;

    fn node(name: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "uid": name}, "spec": {}}))
            .unwrap_or_default()
    }

    /// Acts on "replace a and b by one node" on `cluster`.
    async fn act_on_two(
        cluster: &Arc<FakeCluster>,
        validation: &Validation,
    ) -> Result<(), kube::Error> {
        let (nodes, pods): (Arc<dyn NodeOps>, Arc<dyn PodOps>) = (cluster.clone(), cluster.clone());
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new());
        let decision = Decision::Replace {
            nodes: vec!["a".into(), "b".into()],
            with: Box::new(NewNode::default()),
            savings_per_hour: 0.1,
        };
        let metrics = DisruptionMetrics::register(&Metrics::new());
        act(decision, &nodes, &pods, &metrics, validation, &clock).await
    }

    fn two_nodes() -> Arc<FakeCluster> {
        Arc::new(FakeCluster::new(vec![node("a"), node("b")], vec![]))
    }

    /// Replaces a and b and waits for the background part to end.
    async fn replace_two(outcome: Outcome) -> (Arc<FakeCluster>, Validation) {
        let cluster = two_nodes();
        cluster.replacement_outcome(outcome);
        let validation = Validation::default();
        let acted = act_on_two(&cluster, &validation).await;
        assert!(acted.is_ok(), "{acted:?}");
        while validation.replacing() {
            tokio::task::yield_now().await;
        }
        (cluster, validation)
    }

    #[tokio::test]
    async fn several_nodes_are_deleted_together_once_their_one_replacement_holds_their_pods() {
        let (cluster, _) = replace_two(Outcome::Ready).await;
        let calls = cluster.calls();
        for expected in [
            "cordon a",
            "cordon b",
            "replace a",
            "replace b",
            "terminate a consolidation",
            "terminate b consolidation",
        ] {
            assert!(calls.iter().any(|c| c == expected), "{expected}: {calls:?}");
        }
    }

    #[tokio::test]
    async fn a_cordon_that_fails_midway_undoes_the_ones_before() {
        let cluster = two_nodes();
        cluster.fail_node_writes_after(1, 503, 1);
        let validation = Validation::default();
        let acted = act_on_two(&cluster, &validation).await;
        assert!(acted.is_err());
        assert_eq!(cluster.calls(), ["cordon a", "uncordon a"]);
        assert!(!validation.replacing());
    }

    #[tokio::test]
    async fn a_replacement_not_ready_in_time_gives_every_node_back() {
        let (cluster, validation) = replace_two(Outcome::TimedOut).await;
        let calls = cluster.calls();
        assert!(
            !calls.iter().any(|c| c.starts_with("terminate")),
            "{calls:?}"
        );
        for n in ["a", "b"] {
            for expected in [
                format!("release {n}"),
                format!("uncordon {n}"),
                format!("event {n} ConsolidationAbandoned"),
            ] {
                assert!(calls.contains(&expected), "{expected}: {calls:?}");
            }
            assert!(validation.recently_abandoned(n, Instant::now()));
        }
    }
}
