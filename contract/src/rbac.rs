//! What the controller and the IMDS monitor may do in the cluster, as data: the provider writes
//! these rules into the installation's (Cluster)Roles and the Helm chart, and the controller's
//! calls are what they are for.

use serde::Serialize;

use crate::settings::{LEASE_NAME, SETTINGS_CONFIGMAP};

/// One RBAC PolicyRule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub api_groups: &'static [&'static str],
    pub resources: &'static [&'static str],
    #[serde(skip_serializing_if = "no_names")]
    pub resource_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
}

fn no_names(names: &&[&str]) -> bool {
    names.is_empty()
}

const fn rule(
    api_groups: &'static [&'static str],
    resources: &'static [&'static str],
    verbs: &'static [&'static str],
) -> Rule {
    Rule {
        api_groups,
        resources,
        resource_names: &[],
        verbs,
    }
}

/// The controller, cluster-wide. Each verb is one some request of the controller needs: the
/// e2e suite runs the controller with exactly these rules and
/// `tests/e2e/test_least_privilege.py` names, for every verb, a request that used it.
pub const CONTROLLER_CLUSTER_RULES: &[Rule] = &[
    // Read through watches; the status carries node count and resources.
    rule(&["karpenter.sh"], &["provisioners"], &["list", "watch"]),
    rule(&["karpenter.sh"], &["provisioners/status"], &["patch"]),
    rule(
        &[""],
        &["nodes"],
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    // create/delete: the placeholder pods that hold a replacement's room during an interruption,
    // and pods a drain past its grace period deletes.
    rule(&[""], &["pods"], &["list", "watch", "create", "delete"]),
    rule(&[""], &["pods/eviction"], &["create"]),
    // kube's event recorder: create, then patch the series of a repeated event.
    rule(&["events.k8s.io"], &["events"], &["create", "patch"]),
    rule(&["apps"], &["daemonsets"], &["list", "watch"]),
    rule(&["policy"], &["poddisruptionbudgets"], &["list", "watch"]),
];

/// The controller, in its own namespace only: its settings (read once at start) and its
/// leader-election Lease.
pub const CONTROLLER_NAMESPACE_RULES: &[Rule] = &[
    Rule {
        api_groups: &[""],
        resources: &["configmaps"],
        resource_names: &[SETTINGS_CONFIGMAP],
        verbs: &["get"],
    },
    rule(&["coordination.k8s.io"], &["leases"], &["create"]),
    Rule {
        api_groups: &["coordination.k8s.io"],
        resources: &["leases"],
        resource_names: &[LEASE_NAME],
        verbs: &["get", "update"],
    },
];

/// The IMDS monitor: it cordons and drains only the node it runs on.
pub const IMDS_MONITOR_RULES: &[Rule] = &[
    rule(&[""], &["nodes"], &["get", "patch"]),
    rule(&[""], &["pods"], &["list"]),
    rule(&[""], &["pods/eviction"], &["create"]),
    rule(&["events.k8s.io", ""], &["events"], &["create", "patch"]),
];

/// Rules as the Kubernetes API writes them.
pub fn to_json(rules: &[Rule]) -> serde_json::Value {
    serde_json::to_value(rules).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_serialise_as_policy_rules() {
        assert_eq!(
            to_json(&CONTROLLER_NAMESPACE_RULES[..1]),
            serde_json::json!([{"apiGroups": [""], "resources": ["configmaps"],
                                "resourceNames": ["karpenter-settings"], "verbs": ["get"]}])
        );
        assert!(
            to_json(IMDS_MONITOR_RULES)[0]
                .get("resourceNames")
                .is_none()
        );
    }
}
