//! Which PodDisruptionBudgets protect a pod, from the shared cache: named in the event a drain
//! publishes when an eviction is refused, so "why is my node not going away" has an answer
//! on the node itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use karpenter_core::scheduling::pod::{LabelSelector, LabelSelectorRequirement};

/// `namespace/name (N disruptions allowed)` of each budget in the pod's namespace whose selector
/// matches it. A budget without a selector (or with an empty one) protects nothing in policy/v1.
pub fn protecting(budgets: &[Arc<PodDisruptionBudget>], pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let labels: BTreeMap<String, String> = pod.metadata.labels.clone().unwrap_or_default();
    budgets
        .iter()
        .filter(|b| b.metadata.namespace.as_deref().unwrap_or("default") == ns)
        .filter(|b| {
            b.spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .map(selector)
                .is_some_and(|s| s != LabelSelector::default() && s.matches(&labels))
        })
        .map(|b| {
            let allowed = b.status.as_ref().map_or(0, |s| s.disruptions_allowed);
            format!(
                "{ns}/{} ({allowed} disruptions allowed)",
                b.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect()
}

fn selector(s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: s.match_labels.clone().unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .map(|e| LabelSelectorRequirement {
                key: e.key.clone(),
                operator: e.operator.clone(),
                values: e.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn budget(
        ns: &str,
        name: &str,
        selector: serde_json::Value,
        allowed: i32,
    ) -> Arc<PodDisruptionBudget> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": selector, "maxUnavailable": 0},
                "status": {"disruptionsAllowed": allowed, "currentHealthy": 1, "desiredHealthy": 1,
                           "expectedPods": 1}
            }))
            .unwrap_or_default(),
        )
    }

    #[test]
    fn a_pod_is_protected_by_the_budgets_of_its_namespace_that_select_it() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "a", "namespace": "app", "labels": {"app": "web", "tier": "front"}}
        }))
        .unwrap_or_default();
        let budgets = vec![
            budget("app", "web", json!({"matchLabels": {"app": "web"}}), 0),
            budget(
                "app",
                "front",
                json!({"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]}]}),
                1,
            ),
            budget("other", "web", json!({"matchLabels": {"app": "web"}}), 0),
            budget("app", "db", json!({"matchLabels": {"app": "db"}}), 0),
            budget("app", "everything", json!({}), 0),
        ];
        assert_eq!(
            protecting(&budgets, &pod),
            [
                "app/web (0 disruptions allowed)",
                "app/front (1 disruptions allowed)"
            ]
        );
    }
}
