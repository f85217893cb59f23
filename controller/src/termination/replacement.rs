//! Launching the replacement before anything is evicted.
//!
//! The provisioner launches capacity only for pods the kube-scheduler could not place. So for each
//! pod that holds the interrupted node, a placeholder pod is created in its namespace with the
//! same scheduling constraints (requests, nodeSelector, node affinity, tolerations, priority) and a
//! pause container. The interrupted node is already cordoned, so the placeholders are
//! unschedulable wherever there is no room, the provisioner launches for them exactly as it would
//! for the real pods, and the kube-scheduler binds them to the new capacity. When the node drains,
//! the placeholders are deleted first ([`release`]) and the evicted pods take the room they held.
//! Placeholders are owned by the Node, so the garbage collector removes any left behind.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use sha2::{Digest, Sha256};

use crate::termination::drain::holds_node;
use crate::termination::node as ournode;

/// Label on placeholders: a hash of the node they stand in for (node names can exceed the
/// 63-character label value limit).
pub const REPLACEMENT_FOR: &str = "karpenter.sh/replacement-for";
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

pub fn node_hash(node: &str) -> String {
    let digest = Sha256::digest(node.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Sum of the containers' requests (init containers run before and do not add up).
fn requests(spec: &PodSpec) -> BTreeMap<String, Quantity> {
    use karpenter_core::api::quantity;
    let mut sums: BTreeMap<String, i128> = BTreeMap::new();
    let mut out: BTreeMap<String, Quantity> = BTreeMap::new();
    for c in &spec.containers {
        for (k, q) in c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .into_iter()
            .flatten()
        {
            match quantity::parse_millis(&q.0) {
                Ok(v) => *sums.entry(k.clone()).or_default() += v,
                // The API server accepted it, so keep it as written rather than drop a request.
                Err(_) => {
                    out.insert(k.clone(), q.clone());
                }
            }
        }
    }
    for (k, millis) in sums {
        out.insert(
            k,
            Quantity(quantity::Quantity::from_millis(millis).as_str().to_string()),
        );
    }
    out
}

/// The placeholder for one pod of `node`; `None` for pods that do not hold the node.
pub fn placeholder(node: &Node, pod: &Pod) -> Option<Pod> {
    if !holds_node(pod) || pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let spec = pod.spec.as_ref()?;
    let name = pod.metadata.name.as_deref()?;
    let mut pname = format!("replacement-{}-{name}", node_hash(ournode::name(node)));
    pname.truncate(253);
    let pname = pname.trim_end_matches(['-', '.']).to_string();
    Some(Pod {
        metadata: ObjectMeta {
            name: Some(pname),
            namespace: pod.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([(
                REPLACEMENT_FOR.to_string(),
                node_hash(ournode::name(node)),
            )])),
            owner_references: node.metadata.uid.clone().map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: ournode::name(node).to_string(),
                    uid,
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "placeholder".into(),
                image: Some(PAUSE_IMAGE.into()),
                resources: Some(ResourceRequirements {
                    requests: Some(requests(spec)),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            node_selector: spec.node_selector.clone(),
            affinity: spec
                .affinity
                .as_ref()
                .map(|a| k8s_openapi::api::core::v1::Affinity {
                    node_affinity: a.node_affinity.clone(),
                    ..Default::default()
                }),
            tolerations: spec.tolerations.clone(),
            priority_class_name: spec.priority_class_name.clone(),
            termination_grace_period_seconds: Some(0),
            ..PodSpec::default()
        }),
        status: None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every placeholder is bound to a node: the replacement capacity is there.
    Ready,
    /// Nothing on the node needs a new home.
    NothingToReplace,
    /// The deadline passed first; the drain goes ahead (the interruption will not wait).
    TimedOut,
}

/// Creates the placeholders for `node` and waits until they are all bound, or `timeout`.
pub async fn launch(
    client: &kube::Client,
    node: &Node,
    timeout: Duration,
) -> Result<Outcome, kube::Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={}", ournode::name(node))))
        .await?;
    let wanted: Vec<Pod> = on_node
        .items
        .iter()
        .filter_map(|p| placeholder(node, p))
        .collect();
    if wanted.is_empty() {
        return Ok(Outcome::NothingToReplace);
    }
    for p in &wanted {
        let api: Api<Pod> = Api::namespaced(
            client.clone(),
            p.metadata.namespace.as_deref().unwrap_or("default"),
        );
        match api.create(&PostParams::default(), p).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    let selector = format!("{REPLACEMENT_FOR}={}", node_hash(ournode::name(node)));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let placed = pods.list(&ListParams::default().labels(&selector)).await?;
        let bound = placed
            .items
            .iter()
            .filter(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_some_and(|n| !n.is_empty())
            })
            .count();
        if bound >= wanted.len() {
            return Ok(Outcome::Ready);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Outcome::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How long [`release`] waits for the placeholders to be gone.
pub const RELEASE_WAIT: Duration = Duration::from_secs(15);

/// Deletes the placeholders of `node` and waits (up to [`RELEASE_WAIT`]) until they are gone, so
/// the pods evicted next find their room free. A pod being deleted still holds its room for the
/// kube-scheduler: evicting at once made the new pods unschedulable for a moment, and the
/// provisioner launched a second node for pods that had one (seen in the consolidation bench).
pub async fn release(client: &kube::Client, node_name: &str) -> Result<(), kube::Error> {
    let pods: Api<Pod> = Api::all(client.clone());
    let selector =
        ListParams::default().labels(&format!("{REPLACEMENT_FOR}={}", node_hash(node_name)));
    for p in pods.list(&selector).await?.items {
        let api: Api<Pod> = Api::namespaced(
            client.clone(),
            p.metadata.namespace.as_deref().unwrap_or("default"),
        );
        match api
            .delete(
                p.metadata.name.as_deref().unwrap_or_default(),
                &DeleteParams::default().grace_period(0),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
    loop {
        let left = pods.list(&selector).await?.items.len();
        if left == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(node = node_name, placeholders = left, wait = ?RELEASE_WAIT,
                "placeholders not gone yet; draining anyway");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Node {
        serde_json::from_value(json!({"metadata": {"name": "ip-10-0-0-1", "uid": "node-uid"}}))
            .unwrap_or_default()
    }

    #[test]
    fn a_placeholder_keeps_the_scheduling_constraints_and_sums_the_requests() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {
                "nodeSelector": {"karpenter.sh/capacity-type": "spot"},
                "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}},
                    {"name": "b", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
                ]
            },
            "status": {"phase": "Running"}
        }))
        .unwrap_or_default();
        let Some(p) = placeholder(&node(), &pod) else {
            panic!("no placeholder")
        };
        assert_eq!(p.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REPLACEMENT_FOR)),
            Some(&node_hash("ip-10-0-0-1"))
        );
        assert_eq!(
            p.metadata
                .owner_references
                .as_ref()
                .map(|o| o[0].uid.as_str()),
            Some("node-uid")
        );
        let spec = p.spec.unwrap_or_default();
        assert_eq!(
            spec.node_selector.unwrap_or_default()["karpenter.sh/capacity-type"],
            "spot"
        );
        assert_eq!(spec.tolerations.map(|t| t.len()), Some(1));
        let req = spec.containers[0]
            .resources
            .clone()
            .and_then(|r| r.requests)
            .unwrap_or_default();
        assert_eq!(req["cpu"].0, "1250m");
        assert_eq!(req["memory"].0, (1280u64 * 1024 * 1024).to_string());
    }

    #[test]
    fn daemonset_and_finished_pods_need_no_placeholder() {
        let ds: Pod = serde_json::from_value(json!({"metadata": {"name": "d", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "x", "uid": "u", "controller": true}]},
            "spec": {"containers": []}})).unwrap_or_default();
        let done: Pod = serde_json::from_value(
            json!({"metadata": {"name": "j"}, "spec": {"containers": []},
            "status": {"phase": "Succeeded"}}),
        )
        .unwrap_or_default();
        assert!(placeholder(&node(), &ds).is_none());
        assert!(placeholder(&node(), &done).is_none());
    }
}
