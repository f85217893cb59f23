//! The hourly cost of the capacity we launched, by provisioner and capacity type, from the price
//! each Node was launched at (an annotation, so a restarted controller reports the same figure).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use karpenter_core::api::labels;

use super::node::PRICE_ANNOTATION;
use crate::metrics::{Metrics, NodeLabels};

/// (provisioner, capacity type) -> USD per hour, over nodes that are not being deleted.
pub fn cost_by_pool<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for node in nodes {
        if node.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let (Some(node_labels), Some(annotations)) =
            (&node.metadata.labels, &node.metadata.annotations)
        else {
            continue;
        };
        let (Some(provisioner), Some(capacity_type)) = (
            node_labels.get(labels::PROVISIONER_NAME),
            node_labels.get(labels::CAPACITY_TYPE),
        ) else {
            continue;
        };
        let Some(price) = annotations
            .get(PRICE_ANNOTATION)
            .and_then(|p| p.parse::<f64>().ok())
        else {
            continue;
        };
        *out.entry((provisioner.clone(), capacity_type.clone()))
            .or_insert(0.0) += price;
    }
    out
}

/// Replaces the gauge's series, so pools whose last node went away disappear.
pub fn record<'a>(metrics: &Metrics, nodes: impl IntoIterator<Item = &'a Node>) {
    let costs = cost_by_pool(nodes);
    metrics.cost_per_hour.clear();
    for ((provisioner, capacity_type), cost) in costs {
        metrics
            .cost_per_hour
            .get_or_create(&NodeLabels {
                provisioner,
                capacity_type,
            })
            .set(cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(provisioner: &str, capacity_type: &str, price: &str, deleting: bool) -> Node {
        let mut v = json!({
            "metadata": {
                "name": format!("n-{provisioner}-{price}"),
                "labels": {labels::PROVISIONER_NAME: provisioner, labels::CAPACITY_TYPE: capacity_type},
                "annotations": {PRICE_ANNOTATION: price}
            }
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn costs_sum_per_provisioner_and_capacity_type_skipping_deleted_and_foreign_nodes() {
        let nodes = [
            node("a", "spot", "0.04", false),
            node("a", "spot", "0.06", false),
            node("a", "on-demand", "0.096", false),
            node("b", "spot", "1.5", true),
            Node::default(),
        ];
        let costs = cost_by_pool(&nodes);
        assert_eq!(costs.len(), 2);
        assert!((costs[&("a".to_string(), "spot".to_string())] - 0.10).abs() < 1e-9);
        assert!((costs[&("a".to_string(), "on-demand".to_string())] - 0.096).abs() < 1e-9);
    }

    #[test]
    fn the_gauge_drops_pools_that_no_longer_have_nodes() {
        let m = Metrics::new();
        record(&m, &[node("a", "spot", "0.04", false)]);
        assert!(
            m.render()
                .contains(r#"karpenter_cost_per_hour{provisioner="a",capacity_type="spot"} 0.04"#)
        );
        record(&m, &[]);
        assert!(!m.render().contains(r#"karpenter_cost_per_hour{"#));
    }
}
