//! AL2023: MIME multi-part user data ending in a nodeadm NodeConfig.

use super::{BootstrapError, ClusterFacts, NodeSetup};
use mailparse::MailHeaderMap;
use serde_json::{Value as Json, json};
use std::net::IpAddr;

pub(super) const NODE_CONFIG_TYPE: &str = "application/node.eks.aws";

/// One part of the document: its Content-Type header value and its body.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Part {
    pub content_type: String,
    pub body: String,
}

/// Whether the text starts with a MIME header, i.e. the user meant a MIME document.
fn looks_like_mime(text: &str) -> bool {
    let first = text
        .trim_start()
        .lines()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    first.starts_with("mime-version:") || first.starts_with("content-type:")
}

/// The Provisioner's user data as parts: a MIME multi-part document's own parts, or the whole
/// text as one part typed by its content.
pub(super) fn user_parts(user: &str) -> Result<Vec<Part>, String> {
    if !looks_like_mime(user) {
        let content_type = if user.contains("NodeConfig") && user.contains("node.eks.aws/") {
            NODE_CONFIG_TYPE
        } else if user.trim_start().starts_with("#cloud-config") {
            "text/cloud-config; charset=\"us-ascii\""
        } else {
            "text/x-shellscript; charset=\"us-ascii\""
        };
        return Ok(vec![Part {
            content_type: content_type.to_string(),
            body: user.to_string(),
        }]);
    }
    let mail = mailparse::parse_mail(user.as_bytes())
        .map_err(|e| format!("not a valid MIME document: {e}"))?;
    if !mail.ctype.mimetype.starts_with("multipart/") {
        return Err(format!(
            "a MIME document must be multipart/mixed, not {}; put each script or NodeConfig in its own part",
            mail.ctype.mimetype
        ));
    }
    if mail.subparts.is_empty() {
        return Err(
            "the MIME multi-part document has no parts: check its boundary parameter and the --boundary lines"
                .to_string(),
        );
    }
    mail.subparts
        .iter()
        .map(|p| {
            let body = p
                .get_body()
                .map_err(|e| format!("a MIME part cannot be decoded: {e}"))?;
            let content_type = p
                .get_headers()
                .get_first_value("Content-Type")
                .unwrap_or_else(|| "text/x-shellscript; charset=\"us-ascii\"".to_string());
            Ok(Part { content_type, body })
        })
        .collect()
}

fn node_config(cluster: &ClusterFacts, dns: IpAddr, node: &NodeSetup) -> Json {
    // The API's field names are the KubeletConfiguration's (clusterDNS, maxPods, kubeReserved, ...).
    let mut kubelet_config = node
        .kubelet
        .as_ref()
        .and_then(|k| serde_json::to_value(k).ok())
        .filter(Json::is_object)
        .unwrap_or_else(|| json!({}));
    if kubelet_config.get("clusterDNS").is_none() {
        kubelet_config["clusterDNS"] = json!([dns.to_string()]);
    }
    if !node.taints.is_empty() {
        kubelet_config["registerWithTaints"] = json!(
            node.taints
                .iter()
                .map(|t| {
                    let mut taint = json!({"key": t.key, "effect": t.effect});
                    if let Some(v) = &t.value {
                        taint["value"] = json!(v);
                    }
                    taint
                })
                .collect::<Vec<_>>()
        );
    }
    let mut kubelet = json!({ "config": kubelet_config });
    if !node.labels.is_empty() {
        let labels: Vec<String> = node
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        kubelet["flags"] = json!([format!("--node-labels={}", labels.join(","))]);
    }
    json!({
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {
            "cluster": {
                "name": cluster.name,
                "apiServerEndpoint": cluster.endpoint,
                "certificateAuthority": cluster.ca_bundle,
                "cidr": cluster.service_cidr,
            },
            "kubelet": kubelet,
        }
    })
}

pub(super) fn user_data(
    cluster: &ClusterFacts,
    dns: IpAddr,
    node: &NodeSetup,
    user: Option<&str>,
) -> Result<String, BootstrapError> {
    let mut parts = match user {
        Some(u) if !u.trim().is_empty() => user_parts(u).map_err(BootstrapError::UserData)?,
        _ => Vec::new(),
    };
    // JSON is YAML: nodeadm decodes it as it decodes the YAML its docs show.
    parts.push(Part {
        content_type: NODE_CONFIG_TYPE.to_string(),
        body: format!("---\n{:#}\n", node_config(cluster, dns, node)),
    });
    Ok(render(&parts))
}

/// A boundary that no body contains.
fn boundary(parts: &[Part]) -> String {
    (0..)
        .map(|n| format!("//karpenter-rs-{n}"))
        .find(|b| !parts.iter().any(|p| p.body.contains(b.as_str())))
        .unwrap_or_default()
}

fn render(parts: &[Part]) -> String {
    let b = boundary(parts);
    let mut out = format!("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"{b}\"\n\n");
    for p in parts {
        // The line break before a delimiter belongs to the delimiter: one more keeps the body's own.
        out.push_str(&format!(
            "--{b}\nContent-Type: {}\n\n{}\n",
            p.content_type, p.body
        ));
    }
    out.push_str(&format!("--{b}--\n"));
    out
}
