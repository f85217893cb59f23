//! What keeps voluntary disruption (consolidation, expiry, drift, emptiness) off a node: the
//! `karpenter.sh/do-not-disrupt` annotation on the node or on a pod it runs, and v1alpha5's
//! `karpenter.sh/do-not-evict` on a pod (and, for consolidation only, `do-not-consolidate` on the
//! node). Interruption is not voluntary: these never stop it.

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::termination::drain::{DO_NOT_EVICT, has_do_not_evict};

pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
pub const DO_NOT_CONSOLIDATE: &str = "karpenter.sh/do-not-consolidate";

fn annotated(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .is_some_and(|v| v == "true")
}

/// Why voluntary disruption may not take `node` (running `pods`) now, if something says so.
pub fn blocked(node: &Node, pods: &[&Pod], consolidating: bool) -> Option<String> {
    if annotated(&node.metadata, DO_NOT_DISRUPT) {
        return Some(format!("the node has {DO_NOT_DISRUPT}"));
    }
    if consolidating && annotated(&node.metadata, DO_NOT_CONSOLIDATE) {
        return Some(format!("the node has {DO_NOT_CONSOLIDATE}"));
    }
    let finished = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|ph| ph == "Succeeded" || ph == "Failed")
    };
    pods.iter().filter(|p| !finished(p)).find_map(|p| {
        let name = format!(
            "{}/{}",
            p.metadata.namespace.as_deref().unwrap_or_default(),
            p.metadata.name.as_deref().unwrap_or_default()
        );
        if annotated(&p.metadata, DO_NOT_DISRUPT) {
            Some(format!("pod {name} has {DO_NOT_DISRUPT}"))
        } else if has_do_not_evict(p) {
            Some(format!("pod {name} has {DO_NOT_EVICT}"))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value, phase: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "app",
            "annotations": annotations}, "status": {"phase": phase}}))
        .unwrap_or_default()
    }

    fn node(annotations: serde_json::Value) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n", "annotations": annotations}}))
            .unwrap_or_default()
    }

    #[test]
    fn the_node_or_a_running_pod_can_refuse_voluntary_disruption() {
        let plain = node(json!({}));
        assert_eq!(blocked(&plain, &[], false), None);
        let keep = pod(json!({DO_NOT_DISRUPT: "true"}), "Running");
        assert_eq!(
            blocked(&plain, &[&keep], false).as_deref(),
            Some("pod app/p has karpenter.sh/do-not-disrupt")
        );
        let old = pod(json!({DO_NOT_EVICT: "true"}), "Running");
        assert!(blocked(&plain, &[&old], false).is_some());
        let done = pod(json!({DO_NOT_DISRUPT: "true"}), "Succeeded");
        assert_eq!(
            blocked(&plain, &[&done], false),
            None,
            "a finished pod holds nothing"
        );
        let pinned = node(json!({DO_NOT_DISRUPT: "true"}));
        assert!(blocked(&pinned, &[], false).is_some());
        let no_consolidation = node(json!({DO_NOT_CONSOLIDATE: "true"}));
        assert_eq!(blocked(&no_consolidation, &[], false), None);
        assert!(blocked(&no_consolidation, &[], true).is_some());
    }
}
