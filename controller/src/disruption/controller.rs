//! The disruption loop: every few seconds each node of ours is judged by [`super::decide`] and the
//! decision applied: stamp or clear the emptiness annotation, or terminate the node (through the
//! finalizer, so it is drained) with an event, a metric and a log line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
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
use crate::termination::node::{self as ournode, NodeEvents};

pub const PERIOD: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

pub struct Disruption {
    client: kube::Client,
    clock: Arc<dyn Clock>,
    events: NodeEvents,
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
    pub fn new(client: kube::Client, metrics: &Metrics, clock: Arc<dyn Clock>) -> Self {
        let actions = Family::<ActionLabels, Counter>::default();
        metrics.register(
            "karpenter_deprovisioning_actions_performed",
            "Nodes the disruption loop acted on, by action (empty, expired)",
            actions.clone(),
        );
        Disruption {
            events: NodeEvents::new(client.clone()),
            client,
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
        let api: Api<Node> = Api::all(self.client.clone());
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
            if let Err(error) = self.apply(&api, &node, decision).await {
                tracing::warn!(node = ournode::name(&node), %error, "disruption step failed; retrying next pass");
            }
        }
    }

    async fn apply(
        &self,
        api: &Api<Node>,
        node: &Node,
        decision: Decision,
    ) -> Result<(), kube::Error> {
        let name = ournode::name(node);
        match decision {
            Decision::Nothing => Ok(()),
            Decision::MarkEmpty(at) => {
                tracing::debug!(node = name, since = %at, "node is empty");
                let patch = serde_json::json!({"metadata": {"annotations": {EMPTINESS_ANNOTATION: at.to_string()}}});
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
            Decision::ClearEmpty => {
                let patch =
                    serde_json::json!({"metadata": {"annotations": {EMPTINESS_ANNOTATION: null}}});
                api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
            Decision::Terminate { reason, note } => {
                tracing::info!(node = name, reason, %note, "terminating node");
                self.events
                    .publish(node, false, event_reason(reason), note)
                    .await;
                ournode::request_termination(api, name, reason).await?;
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
}
