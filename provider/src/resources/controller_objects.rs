//! The objects of a controller installation, as JSON in apply order: CRD, namespace,
//! ServiceAccount, RBAC, settings ConfigMap, Deployment, metrics Service, PodDisruptionBudget.
//!
//! Pure: `Install` in, objects out, so unit tests check the security-relevant parts (least
//! privilege, non-root, read-only root filesystem) without a cluster.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::controller_crd;

pub const APP: &str = "karpenter";
pub const SETTINGS_CONFIGMAP: &str = "karpenter-settings";
pub const LEASE_NAME: &str = "karpenter-leader-election";
pub const METRICS_PORT: u16 = 8080;
/// The annotation EKS reads to give a ServiceAccount's pods an IAM role (IRSA).
pub const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// Everything the installation is parameterised by.
#[derive(Clone, Debug, PartialEq)]
pub struct Install {
    pub namespace: String,
    pub image: String,
    pub replicas: i64,
    pub service_account_annotations: BTreeMap<String, String>,
    /// ConfigMap data, keyed as the controller's settings module reads them.
    pub settings: BTreeMap<String, String>,
    pub cpu_request: String,
    pub memory_request: String,
    pub memory_limit: String,
    pub log_level: String,
}

fn labels() -> Json {
    json!({"app.kubernetes.io/name": APP, "app.kubernetes.io/managed-by": "terraform-provider-karpenter"})
}

fn meta(name: &str, ns: Option<&str>) -> Json {
    let mut m = json!({"name": name, "labels": labels()});
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

/// What the controller reads and writes cluster-wide, and nothing more.
fn cluster_role_rules() -> Json {
    json!([
        {"apiGroups": ["karpenter.sh"], "resources": ["provisioners"], "verbs": ["get", "list", "watch", "update", "patch"]},
        {"apiGroups": ["karpenter.sh"], "resources": ["provisioners/status"], "verbs": ["get", "update", "patch"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "list", "watch"]}
    ])
}

/// In its own namespace only: its settings and its leader-election Lease.
fn role_rules() -> Json {
    json!([
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [SETTINGS_CONFIGMAP], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [LEASE_NAME], "verbs": ["get", "update", "patch"]}
    ])
}

fn deployment(i: &Install) -> Json {
    let probe = |path: &str| json!({"httpGet": {"path": path, "port": "http-metrics"}, "periodSeconds": 10, "timeoutSeconds": 5});
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(APP, Some(&i.namespace)),
        "spec": {
            "replicas": i.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": APP}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {
                    "serviceAccountName": APP,
                    "priorityClassName": "system-cluster-critical",
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    // Replicas on different nodes, and never on nodes this controller launched.
                    "affinity": {
                        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "karpenter.sh/provisioner-name", "operator": "DoesNotExist"}]}
                        ]}},
                        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                            "weight": 100,
                            "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": APP}}}
                        }]}
                    },
                    "containers": [{
                        "name": "controller",
                        "image": i.image,
                        "args": ["run"],
                        "env": [
                            {"name": "KARPENTER_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "KARPENTER_SETTINGS_CONFIGMAP", "value": SETTINGS_CONFIGMAP},
                            {"name": "KARPENTER_LEADER_ELECT", "value": "true"},
                            {"name": "KARPENTER_LEASE_NAME", "value": LEASE_NAME},
                            {"name": "KARPENTER_LISTEN", "value": format!("0.0.0.0:{METRICS_PORT}")},
                            {"name": "RUST_LOG", "value": i.log_level}
                        ],
                        "ports": [{"name": "http-metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
                        "livenessProbe": probe("/healthz"),
                        "readinessProbe": probe("/readyz"),
                        "resources": {
                            "requests": {"cpu": i.cpu_request, "memory": i.memory_request},
                            "limits": {"memory": i.memory_limit}
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true,
                            "capabilities": {"drop": ["ALL"]}
                        }
                    }]
                }
            }
        }
    })
}

/// Every object, in the order they are applied (reverse order on removal).
pub fn objects(i: &Install) -> Vec<Json> {
    let ns = i.namespace.as_str();
    let mut sa_meta = meta(APP, Some(ns));
    if !i.service_account_annotations.is_empty() {
        sa_meta["annotations"] = json!(i.service_account_annotations);
    }
    vec![
        controller_crd::crd_json(),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, None)}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa_meta}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(APP, None), "rules": cluster_role_rules()}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(APP, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": APP},
               "subjects": [{"kind": "ServiceAccount", "name": APP, "namespace": ns}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(APP, Some(ns)), "rules": role_rules()}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(APP, Some(ns)),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": APP},
               "subjects": [{"kind": "ServiceAccount", "name": APP, "namespace": ns}]}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(SETTINGS_CONFIGMAP, Some(ns)), "data": i.settings}),
        deployment(i),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(&format!("{APP}-metrics"), Some(ns)),
               "spec": {"selector": {"app.kubernetes.io/name": APP},
                        "ports": [{"name": "http-metrics", "port": METRICS_PORT, "targetPort": "http-metrics", "protocol": "TCP"}]}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(APP, Some(ns)),
               "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": APP}}}}),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install() -> Install {
        Install {
            namespace: "karpenter".into(),
            image: "ghcr.io/karpenter-rs/controller:0.1.0".into(),
            replicas: 2,
            service_account_annotations: BTreeMap::from([(
                IRSA_ANNOTATION.into(),
                "arn:aws:iam::1:role/r".into(),
            )]),
            settings: BTreeMap::from([("clusterName".into(), "demo".into())]),
            cpu_request: "250m".into(),
            memory_request: "256Mi".into(),
            memory_limit: "512Mi".into(),
            log_level: "info".into(),
        }
    }

    #[test]
    fn the_deployment_runs_non_root_with_a_read_only_root_filesystem() {
        let objs = objects(&install());
        let d = objs
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .cloned()
            .unwrap_or_default();
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(
            d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
            true
        );
        assert_eq!(d["spec"]["replicas"], 2);
        assert!(c["livenessProbe"].is_object() && c["readinessProbe"].is_object());
    }

    #[test]
    fn rbac_grants_no_wildcards_and_no_secrets() {
        let objs = objects(&install());
        for o in objs
            .iter()
            .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role")
        {
            let text = o["rules"].to_string();
            assert!(!text.contains('*'), "wildcard in {text}");
            assert!(!text.contains("secrets"), "secrets in {text}");
        }
    }

    #[test]
    fn the_crd_comes_first_and_the_irsa_annotation_is_on_the_service_account() {
        let objs = objects(&install());
        assert_eq!(objs[0]["kind"], "CustomResourceDefinition");
        let sa = objs
            .iter()
            .find(|o| o["kind"] == "ServiceAccount")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            sa["metadata"]["annotations"][IRSA_ANNOTATION],
            "arn:aws:iam::1:role/r"
        );
    }
}
