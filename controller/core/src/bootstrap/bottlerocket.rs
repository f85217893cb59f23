//! Bottlerocket: TOML settings under `[settings.kubernetes]`, merged over the Provisioner's TOML.

use super::{BootstrapError, ClusterFacts, NodeSetup};
use std::net::IpAddr;
use toml::{Table, Value};

pub(super) fn parse(user: &str) -> Result<Table, String> {
    user.parse::<Table>()
        .map_err(|e| format!("not valid TOML for Bottlerocket settings: {}", e.message()))
}

fn ours(cluster: &ClusterFacts, dns: IpAddr, node: &NodeSetup) -> Table {
    let mut k8s = Table::new();
    k8s.insert("cluster-name".into(), cluster.name.clone().into());
    k8s.insert("api-server".into(), cluster.endpoint.clone().into());
    k8s.insert(
        "cluster-certificate".into(),
        cluster.ca_bundle.clone().into(),
    );
    k8s.insert("cluster-dns-ip".into(), dns.to_string().into());
    if let Some(max_pods) = node.max_pods {
        k8s.insert("max-pods".into(), i64::from(max_pods).into());
    }
    if !node.labels.is_empty() {
        let labels: Table = node
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        k8s.insert("node-labels".into(), labels.into());
    }
    if !node.taints.is_empty() {
        // Bottlerocket: key -> ["value:Effect", ...].
        let mut taints = Table::new();
        for t in &node.taints {
            let entry = format!("{}:{}", t.value.as_deref().unwrap_or(""), t.effect);
            match taints.get_mut(&t.key) {
                Some(Value::Array(list)) => list.push(entry.into()),
                _ => {
                    taints.insert(t.key.clone(), Value::Array(vec![entry.into()]));
                }
            }
        }
        k8s.insert("node-taints".into(), taints.into());
    }
    let mut settings = Table::new();
    settings.insert("kubernetes".into(), k8s.into());
    let mut doc = Table::new();
    doc.insert("settings".into(), settings.into());
    doc
}

/// Deep merge: tables merge key by key, anything else from `over` replaces `base`.
fn merge(base: &mut Table, over: Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

pub(super) fn user_data(
    cluster: &ClusterFacts,
    dns: IpAddr,
    node: &NodeSetup,
    user: Option<&str>,
) -> Result<String, BootstrapError> {
    let mut doc = match user {
        Some(u) if !u.trim().is_empty() => parse(u).map_err(BootstrapError::UserData)?,
        _ => Table::new(),
    };
    merge(&mut doc, ours(cluster, dns, node));
    toml::to_string(&doc).map_err(|e| BootstrapError::UserData(format!("cannot render TOML: {e}")))
}
