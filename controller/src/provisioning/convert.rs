//! Kubernetes and cloud objects as the pure scheduler sees them. The core's types use the
//! Kubernetes JSON field names, so pods and taints convert through serde; the catalog converts
//! in `cloud::to_core`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use karpenter_core::scheduling::{ExistingNode, Pod as CorePod};

#[derive(Debug, thiserror::Error)]
#[error("{what} {name}: cannot read it for scheduling: {source}")]
pub struct ConvertError {
    pub what: &'static str,
    pub name: String,
    #[source]
    pub source: serde_json::Error,
}

pub fn pod(p: &Pod) -> Result<CorePod, ConvertError> {
    let name = format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or_default(),
        p.metadata.name.as_deref().unwrap_or_default()
    );
    let err = |source| ConvertError {
        what: "pod",
        name: name.clone(),
        source,
    };
    serde_json::to_value(p)
        .and_then(serde_json::from_value)
        .map_err(err)
}

/// A DaemonSet's pod template as the pod it would put on every new node.
pub fn daemonset_pod(
    namespace: &str,
    name: &str,
    template: &PodTemplateSpec,
) -> Result<CorePod, ConvertError> {
    let as_pod = Pod {
        metadata: {
            let mut m = template.metadata.clone().unwrap_or_default();
            m.namespace = Some(namespace.to_string());
            m.name.get_or_insert_with(|| name.to_string());
            m
        },
        spec: template.spec.clone(),
        status: None,
    };
    pod(&as_pod).map_err(|mut e| {
        e.what = "daemonset";
        e
    })
}

pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A node pods may still land on: not being deleted, not cordoned.
pub fn accepts_pods(node: &Node) -> bool {
    node.metadata.deletion_timestamp.is_none()
        && !node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
}

pub fn existing_node(node: &Node, pods: Vec<CorePod>) -> Result<ExistingNode, ConvertError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let err = |source| ConvertError {
        what: "node",
        name: name.clone(),
        source,
    };
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let taints = serde_json::to_value(taints)
        .and_then(serde_json::from_value)
        .map_err(err)?;
    let allocatable = node
        .status
        .as_ref()
        .and_then(|s| s.allocatable.clone())
        .unwrap_or_default();
    let allocatable = serde_json::to_value(allocatable)
        .and_then(serde_json::from_value)
        .map_err(err)?;
    Ok(ExistingNode {
        name: name.clone(),
        labels: node.metadata.labels.clone().unwrap_or_default(),
        taints,
        allocatable,
        pods,
        in_flight: !is_ready(node),
    })
}

/// Pods by the node they are bound to, terminal pods left out (they hold no resources).
pub fn pods_by_node(pods: &[std::sync::Arc<Pod>]) -> BTreeMap<String, Vec<&Pod>> {
    let mut out: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in pods {
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_ref()) {
            out.entry(node.clone()).or_default().push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_kubernetes_pod_converts_with_requests_selectors_and_spread()
    -> Result<(), Box<dyn std::error::Error>> {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}],
                "nodeSelector": {"karpenter.sh/capacity-type": "spot"},
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]
            }
        }))?;
        let core = pod(&p)?;
        assert_eq!(core.name(), "web-1");
        assert_eq!(core.namespace(), "shop");
        let r = core.requests()?;
        assert_eq!(r.cpu_millis, 500);
        assert_eq!(r.memory_bytes, 1 << 30);
        assert_eq!(
            core.spec.node_selector["karpenter.sh/capacity-type"],
            "spot"
        );
        assert_eq!(core.spec.topology_spread_constraints.len(), 1);
        Ok(())
    }

    #[test]
    fn only_ready_uncordoned_nodes_count_as_registered() -> Result<(), Box<dyn std::error::Error>> {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n"},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"},
                       "conditions": [{"type": "Ready", "status": "False"}]}
        }))?;
        assert!(!is_ready(&node));
        assert!(accepts_pods(&node));
        let e = existing_node(&node, vec![])?;
        assert!(e.in_flight);
        assert_eq!(e.taints.len(), 1);
        assert_eq!(e.allocatable["cpu"].as_str(), "2");
        Ok(())
    }
}
