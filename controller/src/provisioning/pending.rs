//! Which pods the provisioner acts on: pods the kube-scheduler tried and could not place
//! (PodScheduled=False, reason Unschedulable), not bound, not being deleted, not DaemonSet pods
//! (those follow nodes, never cause them), and meant for the default scheduler.

use k8s_openapi::api::core::v1::Pod;

pub type PodKey = (String, String);

pub fn key(pod: &Pod) -> PodKey {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

pub fn is_daemonset_pod(pod: &Pod) -> bool {
    pod.metadata.owner_references.as_ref().is_some_and(|refs| {
        refs.iter()
            .any(|r| r.kind == "DaemonSet" && r.controller == Some(true))
    })
}

pub fn is_provisionable(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_some() || is_daemonset_pod(pod) {
        return false;
    }
    let Some(spec) = &pod.spec else { return false };
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) {
        return false;
    }
    if spec
        .scheduler_name
        .as_deref()
        .is_some_and(|s| s != "default-scheduler")
    {
        return false;
    }
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(extra: Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
            ]}
        });
        json_merge(&mut v, extra);
        serde_json::from_value(v).unwrap_or_default()
    }

    fn json_merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    json_merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    #[test]
    fn an_unschedulable_pending_pod_is_provisionable() {
        assert!(is_provisionable(&pod(json!({}))));
        assert_eq!(
            key(&pod(json!({}))),
            ("default".to_string(), "p".to_string())
        );
    }

    #[test]
    fn pods_not_yet_tried_bound_deleting_or_for_other_schedulers_are_not() {
        assert!(!is_provisionable(&pod(
            json!({"status": {"conditions": []}})
        )));
        assert!(!is_provisionable(&pod(json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}))));
        assert!(!is_provisionable(&pod(json!({"spec": {"nodeName": "n1"}}))));
        assert!(!is_provisionable(&pod(
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})
        )));
        assert!(!is_provisionable(&pod(
            json!({"spec": {"schedulerName": "other"}})
        )));
    }

    #[test]
    fn daemonset_pods_never_cause_nodes() {
        let p = pod(json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "u", "controller": true}
        ]}}));
        assert!(is_daemonset_pod(&p));
        assert!(!is_provisionable(&p));
    }
}
