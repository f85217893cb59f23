//! Bottlerocket: TOML settings under `[settings.kubernetes]`, merged over the Provisioner's TOML.

use super::{BootstrapError, ClusterFacts, NodeSetup};
use crate::api::KubeletConfiguration;
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
    if let Some(k) = &node.kubelet {
        kubelet_settings(&mut k8s, k);
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

fn string_table<V: ToString>(map: &std::collections::BTreeMap<String, V>) -> Value {
    Value::Table(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.to_string())))
            .collect(),
    )
}

/// The kubeletConfiguration under Bottlerocket's names. podsPerCore has none: validation refuses
/// it for this family.
fn kubelet_settings(k8s: &mut Table, k: &KubeletConfiguration) {
    if !k.cluster_dns.is_empty() {
        let ips: Vec<Value> = k
            .cluster_dns
            .iter()
            .map(|ip| Value::from(ip.clone()))
            .collect();
        k8s.insert("cluster-dns-ip".into(), Value::Array(ips));
    }
    let ints = [
        ("max-pods", k.max_pods),
        (
            "eviction-max-pod-grace-period",
            k.eviction_max_pod_grace_period,
        ),
        (
            "image-gc-high-threshold-percent",
            k.image_gc_high_threshold_percent,
        ),
        (
            "image-gc-low-threshold-percent",
            k.image_gc_low_threshold_percent,
        ),
    ];
    for (key, value) in ints {
        if let Some(v) = value {
            k8s.insert(key.into(), i64::from(v).into());
        }
    }
    if let Some(quota) = k.cpu_cfs_quota {
        k8s.insert("cpu-cfs-quota-enforced".into(), quota.into());
    }
    let quantities = [
        ("kube-reserved", &k.kube_reserved),
        ("system-reserved", &k.system_reserved),
    ];
    for (key, map) in quantities {
        if !map.is_empty() {
            let text: std::collections::BTreeMap<String, &str> =
                map.iter().map(|(r, q)| (r.clone(), q.as_str())).collect();
            k8s.insert(key.into(), string_table(&text));
        }
    }
    let strings = [
        ("eviction-hard", &k.eviction_hard),
        ("eviction-soft", &k.eviction_soft),
        ("eviction-soft-grace-period", &k.eviction_soft_grace_period),
    ];
    for (key, map) in strings {
        if !map.is_empty() {
            k8s.insert(key.into(), string_table(map));
        }
    }
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
