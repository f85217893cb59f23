//! Deleting a Provisioner terminates its nodes: a node of ours whose provisioner no longer exists
//! (or is being deleted) is deleted with reason `provisioner_deleted`, and the finalizer drains it.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::reflector::Store;

use super::node as ournode;
use crate::crd::Provisioner;

pub const REASON: &str = "provisioner_deleted";
pub const PERIOD: Duration = Duration::from_secs(5);

/// Nodes of ours, not yet deleting, whose provisioner is not among `live`.
pub fn orphans<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    live: &BTreeSet<String>,
) -> Vec<String> {
    nodes
        .into_iter()
        .filter(|n| n.metadata.deletion_timestamp.is_none() && ournode::has_finalizer(n))
        .filter(|n| ournode::provisioner(n).is_some_and(|p| !live.contains(p)))
        .map(|n| ournode::name(n).to_string())
        .collect()
}

/// Runs until the stores' watches end; both stores must be ready before the first look, or a
/// Provisioner not yet listed would read as deleted.
pub async fn run(client: kube::Client, nodes: Store<Node>, provisioners: Store<Provisioner>) {
    if nodes.wait_until_ready().await.is_err() || provisioners.wait_until_ready().await.is_err() {
        return;
    }
    let api: Api<Node> = Api::all(client);
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        let live: BTreeSet<String> = provisioners
            .state()
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let state = nodes.state();
        for name in orphans(state.iter().map(|n| n.as_ref()), &live) {
            tracing::info!(node = %name, "its provisioner was deleted; terminating the node");
            if let Err(error) = ournode::request_termination(&api, &name, REASON).await {
                tracing::warn!(node = %name, %error, "could not delete the node of a deleted provisioner");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provisioning::node::TERMINATION_FINALIZER;
    use karpenter_core::api::labels;
    use serde_json::json;

    fn node(name: &str, provisioner: &str, deleting: bool) -> Node {
        let mut v = json!({"metadata": {"name": name, "finalizers": [TERMINATION_FINALIZER],
                                        "labels": {labels::PROVISIONER_NAME: provisioner}}});
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn only_live_nodes_of_missing_provisioners_are_orphans() {
        let live = BTreeSet::from(["keep".to_string()]);
        let nodes = [
            node("a", "keep", false),
            node("b", "gone", false),
            node("c", "gone", true),
        ];
        assert_eq!(orphans(nodes.iter(), &live), ["b"]);
        assert!(orphans([&Node::default()], &live).is_empty());
    }
}
