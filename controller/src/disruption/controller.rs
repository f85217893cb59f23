//! The disruption loop: every few seconds each node of ours is judged by [`super::decide`] and the
//! decision applied: stamp or clear the emptiness annotation, or terminate the node (through the
//! finalizer, so it is drained) with an event, a metric and a log line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::decide::{self, Decision, EMPTINESS_ANNOTATION, NodeFacts};
use crate::clock::Clock;
use crate::crd::Provisioner;
use crate::metrics::Metrics;
use crate::provisioning::NominatedNodes;
use crate::provisioning::convert::is_ready;
use crate::termination::drain::holds_node;
use crate::termination::node as ournode;
use crate::termination::ops::NodeOps;

pub const PERIOD: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

pub struct Disruption {
    cluster: Arc<dyn NodeOps>,
    clock: Arc<dyn Clock>,
    actions: Family<ActionLabels, Counter>,
    /// Nodes pods were recently nominated to, and for how long a nomination keeps a node busy.
    nominated: Option<(NominatedNodes, Duration)>,
}

fn seconds(v: Option<i64>) -> Option<Duration> {
    v.and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
}

/// The facts [`decide::decide`] needs about `node`, given the pods bound to it.
pub fn facts(node: &Node, pods: &[&Pod], provisioner: Option<&Provisioner>) -> NodeFacts {
    let spec = provisioner.map(|p| &p.spec);
    NodeFacts {
        created: node.metadata.creation_timestamp.as_ref().map(|t| t.0),
        ready: is_ready(node),
        busy_pods: pods.iter().filter(|p| holds_node(p)).count(),
        recently_nominated: false,
        empty_since: node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(EMPTINESS_ANNOTATION))
            .and_then(|t| t.parse().ok()),
        ttl_after_empty: spec.and_then(|s| seconds(s.ttl_seconds_after_empty)),
        ttl_until_expired: spec.and_then(|s| seconds(s.ttl_seconds_until_expired)),
    }
}

impl Disruption {
    pub fn new(cluster: Arc<dyn NodeOps>, metrics: &Metrics, clock: Arc<dyn Clock>) -> Self {
        let actions = Family::<ActionLabels, Counter>::default();
        metrics.register(
            "karpenter_deprovisioning_actions_performed",
            "Nodes the disruption loop acted on, by action (empty, expired)",
            actions.clone(),
        );
        Disruption {
            cluster,
            clock,
            actions,
            nominated: None,
        }
    }

    /// Nodes that pods were nominated to within `window` are not empty: their pods are on the
    /// way (the kube-scheduler binds them once it retries, which can take seconds).
    pub fn with_nominations(mut self, nominated: NominatedNodes, window: Duration) -> Self {
        self.nominated = Some((nominated, window));
        self
    }

    pub async fn run(self, nodes: Store<Node>, pods: Store<Pod>, provisioners: Store<Provisioner>) {
        for ready in [
            nodes.wait_until_ready().await.is_ok(),
            pods.wait_until_ready().await.is_ok(),
            provisioners.wait_until_ready().await.is_ok(),
        ] {
            if !ready {
                return;
            }
        }
        tracing::info!("disruption: watching emptiness and expiry");
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            self.pass(&nodes, &pods, &provisioners).await;
        }
    }

    async fn pass(
        &self,
        nodes: &Store<Node>,
        pods: &Store<Pod>,
        provisioners: &Store<Provisioner>,
    ) {
        let all_pods = pods.state();
        let mut by_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
        for p in &all_pods {
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
                by_node.entry(n).or_default().push(p);
            }
        }
        let provs: HashMap<String, Arc<Provisioner>> = provisioners
            .state()
            .into_iter()
            .filter_map(|p| p.metadata.name.clone().map(|n| (n, p)))
            .collect();
        let now = self.clock.wall();
        for node in nodes.state() {
            if node.metadata.deletion_timestamp.is_some() || !ournode::has_finalizer(&node) {
                continue;
            }
            let Some(prov) = ournode::provisioner(&node).and_then(|p| provs.get(p)) else {
                continue;
            };
            let on_node = by_node
                .get(ournode::name(&node))
                .cloned()
                .unwrap_or_default();
            let mut f = facts(&node, &on_node, Some(prov));
            f.recently_nominated = self
                .nominated
                .as_ref()
                .is_some_and(|(n, window)| n.within(ournode::name(&node), *window));
            let decision = decide::decide(&f, now);
            if let Err(error) = self.apply(&node, decision).await {
                tracing::warn!(node = ournode::name(&node), %error, "disruption step failed; retrying next pass");
            }
        }
    }

    async fn apply(&self, node: &Node, decision: Decision) -> Result<(), kube::Error> {
        let name = ournode::name(node);
        match decision {
            Decision::Nothing => Ok(()),
            Decision::MarkEmpty(at) => {
                tracing::debug!(node = name, since = %at, "node is empty");
                self.cluster
                    .annotate(name, EMPTINESS_ANNOTATION, Some(&at.to_string()))
                    .await
            }
            Decision::ClearEmpty => {
                self.cluster
                    .annotate(name, EMPTINESS_ANNOTATION, None)
                    .await
            }
            Decision::Terminate { reason, note } => {
                tracing::info!(node = name, reason, %note, "terminating node");
                self.cluster
                    .publish(node, false, event_reason(reason), note)
                    .await;
                self.cluster.request_termination(name, reason).await?;
                self.actions
                    .get_or_create(&ActionLabels {
                        action: reason.to_string(),
                    })
                    .inc();
                Ok(())
            }
        }
    }
}

fn event_reason(reason: &str) -> &'static str {
    match reason {
        decide::REASON_EXPIRED => "Expired",
        _ => "Empty",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_come_from_the_node_its_pods_and_its_provisioner() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "annotations": {EMPTINESS_ANNOTATION: "2026-01-01T00:05:00Z"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap_or_default();
        let ds: Pod = serde_json::from_value(json!({"metadata": {"name": "d", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "x", "uid": "u", "controller": true}]}}))
            .unwrap_or_default();
        let app: Pod =
            serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap_or_default();
        let prov: Provisioner = serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner", "metadata": {"name": "p"},
            "spec": {"ttlSecondsAfterEmpty": 30, "ttlSecondsUntilExpired": 600}
        }))
        .unwrap_or_else(|_| Provisioner::new("p", Default::default()));
        let f = facts(&node, &[&ds, &app], Some(&prov));
        assert!(f.ready);
        assert_eq!(f.busy_pods, 1);
        assert_eq!(f.empty_since, "2026-01-01T00:05:00Z".parse().ok());
        assert_eq!(f.ttl_after_empty, Some(Duration::from_secs(30)));
        assert_eq!(f.ttl_until_expired, Some(Duration::from_secs(600)));
        assert_eq!(facts(&node, &[&ds], Some(&prov)).busy_pods, 0);
    }

    fn store<K>(objects: Vec<K>) -> Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone,
    {
        let (reader, mut writer) = kube::runtime::reflector::store();
        for o in objects {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(o));
        }
        reader
    }

    fn our_node(name: &str, created: k8s_openapi::jiff::Timestamp, provisioner: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created.to_string(),
                         "finalizers": [crate::provisioning::node::TERMINATION_FINALIZER],
                         "labels": {karpenter_core::api::labels::PROVISIONER_NAME: provisioner}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap_or_default()
    }

    fn provisioner(name: &str, spec: serde_json::Value) -> Provisioner {
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner",
            "metadata": {"name": name}, "spec": spec
        }))
        .unwrap_or_else(|_| Provisioner::new(name, Default::default()))
    }

    #[tokio::test]
    async fn a_pass_expires_old_nodes_stamps_empty_ones_and_keeps_going_past_a_failure() {
        use crate::clock::ManualClock;
        use crate::termination::ops_double::FakeCluster;
        let clock = Arc::new(ManualClock::new());
        let now = k8s_openapi::jiff::Timestamp::from_second(clock.wall().as_second())
            .unwrap_or(clock.wall());
        let hour_ago = now
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(3600))
            .unwrap_or(now);
        let cluster = Arc::new(FakeCluster::default());
        let metrics = Metrics::new();
        let disruption = Disruption::new(cluster.clone(), &metrics, clock.clone());
        let nodes = store(vec![
            our_node("old", hour_ago, "expiring"),
            our_node("idle", now, "emptying"),
            our_node("stranger", hour_ago, "unknown-provisioner"),
        ]);
        let provisioners = store(vec![
            provisioner("expiring", json!({"ttlSecondsUntilExpired": 600})),
            provisioner("emptying", json!({"ttlSecondsAfterEmpty": 30})),
        ]);
        let acted = |calls: &[String]| {
            let stamped = calls
                .iter()
                .any(|c| c.starts_with("annotate idle karpenter.sh/emptiness-timestamp="));
            let expired = calls.iter().any(|c| c == "terminate old expired");
            (stamped, expired)
        };
        cluster.fail_node_writes(503, 1);
        disruption.pass(&nodes, &store(vec![]), &provisioners).await;
        let (stamped, expired) = acted(&cluster.calls());
        assert!(
            stamped != expired,
            "one write failed, the other went ahead: {:?}",
            cluster.calls()
        );
        disruption.pass(&nodes, &store(vec![]), &provisioners).await;
        let calls = cluster.calls();
        assert_eq!(
            acted(&calls),
            (true, true),
            "the failed one is done next pass: {calls:?}"
        );
        assert!(calls.contains(&"event old Expired".to_string()));
        assert!(!calls.iter().any(|c| c.contains("stranger")), "{calls:?}");
    }
}
