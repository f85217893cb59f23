//! A launch that never registers: a Node we created that is still not Ready after the
//! registration timeout stands for an instance that will never serve (bad AMI, no network path to
//! the API server). Its instance is terminated and the Node deleted, so its pods are batched again.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use karpenter_core::api::labels;

use super::convert::is_ready;
use super::node::LAUNCHED_AT_ANNOTATION;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unregistered {
    pub node: String,
    pub instance_id: Option<String>,
}

/// Nodes of ours (provisioner label and launch time) not Ready `timeout` after their launch.
pub fn unregistered<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    now: Timestamp,
    timeout: Duration,
) -> Vec<Unregistered> {
    let mut out = Vec::new();
    for node in nodes {
        if is_ready(node) || node.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let ours = node
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(labels::PROVISIONER_NAME));
        let launched = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LAUNCHED_AT_ANNOTATION))
            .and_then(|t| t.parse::<Timestamp>().ok());
        let (true, Some(launched)) = (ours, launched) else {
            continue;
        };
        let age = now.duration_since(launched);
        if age.is_negative() || age.unsigned_abs() < timeout {
            continue;
        }
        out.push(Unregistered {
            node: node.metadata.name.clone().unwrap_or_default(),
            instance_id: node
                .spec
                .as_ref()
                .and_then(|s| s.provider_id.as_deref())
                .and_then(|p| p.rsplit('/').next())
                .filter(|id| id.starts_with("i-"))
                .map(str::to_string),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(ready: bool, launched_at: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {labels::PROVISIONER_NAME: "p"},
                          "annotations": {LAUNCHED_AT_ANNOTATION: launched_at}},
            "spec": {"providerID": "aws:///ap-southeast-1a/i-0abc"},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn a_node_not_ready_after_the_timeout_is_reported_with_its_instance()
    -> Result<(), Box<dyn std::error::Error>> {
        let now: Timestamp = "2026-01-01T00:20:00Z".parse()?;
        let timeout = Duration::from_secs(15 * 60);
        let late = node(false, "2026-01-01T00:00:00Z");
        assert_eq!(
            unregistered([&late], now, timeout),
            vec![Unregistered {
                node: "n1".into(),
                instance_id: Some("i-0abc".into())
            }]
        );
        let recent = node(false, "2026-01-01T00:10:00Z");
        assert!(unregistered([&recent], now, timeout).is_empty());
        let ready = node(true, "2026-01-01T00:00:00Z");
        assert!(unregistered([&ready], now, timeout).is_empty());
        assert!(unregistered([&Node::default()], now, timeout).is_empty());
        Ok(())
    }
}
