//! Operations on our Node objects shared by termination, disruption and interruption: who owns a
//! node, its instance, cordoning, and asking for its termination with a reason.

use k8s_openapi::api::core::v1::{Node, Taint};
use karpenter_core::api::labels;
use kube::Resource;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::cloud::{CapacityType, Pool};
use crate::provisioning::node::TERMINATION_FINALIZER;

/// The taint a node gets when it is being disrupted: new pods stay off it while it drains.
/// `node.kubernetes.io/unschedulable` belongs to the node controller (it mirrors
/// `spec.unschedulable`, which we also set so `kubectl get nodes` shows SchedulingDisabled).
pub const DISRUPTION_TAINT_KEY: &str = "karpenter.sh/disruption";
pub const DISRUPTION_TAINT_VALUE: &str = "disrupting";
/// Why the node is being terminated; read back for the metric label and log line.
pub const TERMINATION_REASON: &str = "karpenter.sh/termination-reason";

pub fn name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or_default()
}

/// Created by us: it carries our finalizer or our provisioner label.
pub fn is_ours(node: &Node) -> bool {
    node.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TERMINATION_FINALIZER))
        || provisioner(node).is_some()
}

pub fn provisioner(node: &Node) -> Option<&str> {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::PROVISIONER_NAME))
        .map(String::as_str)
}

pub fn has_finalizer(node: &Node) -> bool {
    node.metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|f| f == TERMINATION_FINALIZER))
}

/// The EC2 instance id from `spec.providerID` (`aws:///<zone>/<id>`).
pub fn instance_id(node: &Node) -> Option<&str> {
    node.spec
        .as_ref()
        .and_then(|s| s.provider_id.as_deref())
        .and_then(|p| p.rsplit('/').next())
        .filter(|id| id.starts_with("i-"))
}

/// The capacity pool the node's instance runs in, from its labels.
pub fn pool(node: &Node) -> Option<Pool> {
    let l = node.metadata.labels.as_ref()?;
    Some(Pool::new(
        l.get(labels::INSTANCE_TYPE)?.clone(),
        l.get(labels::ZONE)?.clone(),
        CapacityType::parse(l.get(labels::CAPACITY_TYPE)?)?,
    ))
}

pub fn reason(node: &Node) -> &str {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TERMINATION_REASON))
        .map_or("deleted", String::as_str)
}

pub fn is_cordoned(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    spec.and_then(|s| s.unschedulable).unwrap_or(false)
        && spec
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| t.iter().any(|t| t.key == DISRUPTION_TAINT_KEY))
}

/// The node's taints with ours added (unchanged when present).
pub fn taints_with_disruption(node: &Node) -> Vec<Taint> {
    let mut taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if !taints.iter().any(|t| t.key == DISRUPTION_TAINT_KEY) {
        taints.push(Taint {
            key: DISRUPTION_TAINT_KEY.into(),
            value: Some(DISRUPTION_TAINT_VALUE.into()),
            effect: "NoSchedule".into(),
            time_added: None,
        });
    }
    taints
}

/// Taints the node NoSchedule and marks it unschedulable. Idempotent. The patch carries the
/// resourceVersion read, so a concurrent change to the taints makes it fail rather than lose one;
/// on such a conflict (the kubelet's status updates cause most of them) the node is read again and
/// the patch retried, a few times.
pub async fn cordon(api: &Api<Node>, node: &Node) -> Result<(), kube::Error> {
    const ATTEMPTS: usize = 5;
    let mut current = node.clone();
    let mut attempt = 1;
    loop {
        if is_cordoned(&current) {
            return Ok(());
        }
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": current.metadata.resource_version},
            "spec": {"unschedulable": true, "taints": taints_with_disruption(&current)},
        });
        match api
            .patch(
                name(&current),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < ATTEMPTS => {
                attempt += 1;
                current = api.get(name(node)).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Undoes `cordon`: our taint off and schedulable again (for a disruption that was called off).
pub async fn uncordon(api: &Api<Node>, node_name: &str) -> Result<(), kube::Error> {
    let Some(node) = api.get_opt(node_name).await? else {
        return Ok(());
    };
    let taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key != DISRUPTION_TAINT_KEY)
        .collect();
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": node.metadata.resource_version},
        "spec": {"unschedulable": null, "taints": taints},
    });
    api.patch(node_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

/// Records why, then deletes the Node; our finalizer routes the deletion through the termination
/// controller (cordon, drain, terminate the instance). A node already gone is success.
pub async fn request_termination(
    api: &Api<Node>,
    node_name: &str,
    why: &str,
) -> Result<(), kube::Error> {
    let patch = serde_json::json!({"metadata": {"annotations": {TERMINATION_REASON: why}}});
    match api
        .patch(node_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e),
    }
    match api.delete(node_name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Events on nodes; best effort like every event we publish.
#[derive(Clone)]
pub struct NodeEvents {
    recorder: Recorder,
}

impl NodeEvents {
    pub fn new(client: kube::Client) -> Self {
        NodeEvents {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "karpenter".into(),
                    instance: std::env::var(karpenter_contract::settings::env::POD_NAME).ok(),
                },
            ),
        }
    }

    pub async fn publish(&self, node: &Node, warning: bool, reason: &str, note: String) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(note.chars().take(1000).collect()),
            action: reason.to_string(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &node.object_ref(&())).await {
            tracing::warn!(%error, node = name(node), reason, "could not publish an event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn the_instance_and_pool_come_from_the_provider_id_and_labels() {
        let n = node(json!({"metadata": {"name": "n", "labels": {
            labels::INSTANCE_TYPE: "m5.large", labels::ZONE: "a", labels::CAPACITY_TYPE: "spot",
            labels::PROVISIONER_NAME: "p"}},
            "spec": {"providerID": "aws:///a/i-0123"}}));
        assert_eq!(instance_id(&n), Some("i-0123"));
        assert_eq!(
            pool(&n),
            Some(Pool::new("m5.large", "a", CapacityType::Spot))
        );
        assert!(is_ours(&n));
        assert_eq!(provisioner(&n), Some("p"));
        assert_eq!(reason(&n), "deleted");
        assert_eq!(
            instance_id(&node(json!({"spec": {"providerID": "kwok://x"}}))),
            None
        );
        assert!(!is_ours(&Node::default()));
    }

    #[test]
    fn our_taint_is_added_once_and_others_are_kept() {
        let n = node(
            json!({"spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}}),
        );
        let t = taints_with_disruption(&n);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].key, DISRUPTION_TAINT_KEY);
        let mut cordoned = n.clone();
        if let Some(spec) = cordoned.spec.as_mut() {
            spec.taints = Some(t);
            spec.unschedulable = Some(true);
        }
        assert!(is_cordoned(&cordoned));
        assert_eq!(taints_with_disruption(&cordoned).len(), 2);
        assert!(!is_cordoned(&n));
    }
}
