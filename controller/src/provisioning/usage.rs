//! What each provisioner's nodes add up to: counted against its limits before every decision,
//! written to its status (node count, resources: the printer columns) and to the usage/limit
//! gauges. Counted from Node objects, so it is current even when the status is not.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use karpenter_core::api::{Quantity, labels};

use crate::crd::Provisioner;
use crate::metrics::{Metrics, ResourceLabels};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub nodes: i64,
    pub cpu_millis: i128,
    pub memory_bytes: i128,
}

impl Usage {
    /// As the status's `resources` map writes it.
    pub fn resources(&self) -> BTreeMap<String, Quantity> {
        BTreeMap::from([
            (
                labels::RESOURCE_CPU.to_string(),
                Quantity::from_millis(self.cpu_millis),
            ),
            (
                labels::RESOURCE_MEMORY.to_string(),
                binary_quantity(self.memory_bytes),
            ),
        ])
    }
}

/// Bytes in the largest binary unit that divides them exactly (`16Gi`, `1536Mi`).
fn binary_quantity(bytes: i128) -> Quantity {
    for (suffix, unit) in [
        ("Ti", 1i128 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes != 0 && bytes % unit == 0 {
            return Quantity::new(format!("{}{suffix}", bytes / unit));
        }
    }
    Quantity::new(bytes.to_string())
}

pub fn usage_by_provisioner<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
) -> BTreeMap<String, Usage> {
    let mut out: BTreeMap<String, Usage> = BTreeMap::new();
    for node in nodes {
        if node.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(name) = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::PROVISIONER_NAME))
        else {
            continue;
        };
        let capacity = node.status.as_ref().and_then(|s| s.capacity.as_ref());
        let read = |key: &str| {
            capacity
                .and_then(|c| c.get(key))
                .map(|q| Quantity::new(q.0.clone()))
        };
        let u = out.entry(name.clone()).or_default();
        u.nodes += 1;
        u.cpu_millis += read(labels::RESOURCE_CPU)
            .and_then(|q| q.millis().ok())
            .unwrap_or(0);
        u.memory_bytes += read(labels::RESOURCE_MEMORY)
            .and_then(|q| q.units_ceil().ok())
            .unwrap_or(0);
    }
    out
}

/// The core's view of a provisioner with its status resources replaced by the counted usage.
pub fn with_usage(p: &Provisioner, usage: Option<&Usage>) -> karpenter_core::api::Provisioner {
    let mut core = p.to_core();
    let status = core.status.get_or_insert_with(Default::default);
    let u = usage.cloned().unwrap_or_default();
    status.resources = u.resources();
    status.node_count = Some(u.nodes);
    core
}

pub fn record(
    metrics: &Metrics,
    provisioners: &[std::sync::Arc<Provisioner>],
    usage: &BTreeMap<String, Usage>,
) {
    metrics.provisioner_usage.clear();
    metrics.provisioner_limit.clear();
    for p in provisioners {
        let name = p.name().to_string();
        let u = usage.get(&name).cloned().unwrap_or_default();
        for (resource, value) in [
            ("cpu", u.cpu_millis as f64 / 1000.0),
            ("memory", u.memory_bytes as f64),
        ] {
            metrics
                .provisioner_usage
                .get_or_create(&ResourceLabels {
                    provisioner: name.clone(),
                    resource_type: resource.into(),
                })
                .set(value);
        }
        if let Some(limits) = &p.spec.limits {
            for (resource, q) in &limits.resources {
                let value = if resource == labels::RESOURCE_CPU {
                    q.millis().map(|m| m as f64 / 1000.0)
                } else {
                    q.units_ceil().map(|v| v as f64)
                };
                if let Ok(value) = value {
                    metrics
                        .provisioner_limit
                        .get_or_create(&ResourceLabels {
                            provisioner: name.clone(),
                            resource_type: resource.clone(),
                        })
                        .set(value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(provisioner: &str, cpu: &str, memory: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": format!("n-{cpu}-{memory}"), "labels": {labels::PROVISIONER_NAME: provisioner}},
            "status": {"capacity": {"cpu": cpu, "memory": memory}}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn usage_adds_up_node_capacity_per_provisioner() {
        let nodes = [
            node("a", "2", "8Gi"),
            node("a", "4000m", "16Gi"),
            node("b", "2", "4Gi"),
            Node::default(),
        ];
        let usage = usage_by_provisioner(&nodes);
        assert_eq!(
            usage["a"],
            Usage {
                nodes: 2,
                cpu_millis: 6000,
                memory_bytes: 24 << 30
            }
        );
        assert_eq!(usage["b"].nodes, 1);
        assert_eq!(usage.len(), 2);
    }

    #[test]
    fn the_core_provisioner_carries_the_counted_usage_for_limits() {
        let p = Provisioner::new("a", Default::default());
        let core = with_usage(
            &p,
            Some(&Usage {
                nodes: 1,
                cpu_millis: 2000,
                memory_bytes: 8 << 30,
            }),
        );
        let status = core.status.unwrap_or_default();
        assert_eq!(status.node_count, Some(1));
        assert_eq!(status.resources["cpu"].millis(), Ok(2000));
        assert_eq!(status.resources["memory"].units_ceil(), Ok(8 << 30));
        assert_eq!(status.resources["memory"].as_str(), "8Gi");
    }
}
