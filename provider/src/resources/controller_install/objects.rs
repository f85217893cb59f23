//! The objects of a controller installation, as JSON in apply order: CRD, namespace,
//! ServiceAccount, RBAC, settings ConfigMap, Deployment, metrics Service, PodDisruptionBudget,
//! and optionally the IMDS monitor (its ServiceAccount, RBAC and DaemonSet).
//!
//! Pure: `Install` in, objects out, so unit tests check the security-relevant parts (least
//! privilege, non-root, read-only root filesystem) without a cluster.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use crate::kube::MANAGED_BY;
use karpenter_contract::settings::{HEALTHZ_PATH, READYZ_PATH, env};
use karpenter_contract::{crd, rbac};

pub const APP: &str = "karpenter";
pub use karpenter_contract::settings::{HTTP_PORT as METRICS_PORT, LEASE_NAME, SETTINGS_CONFIGMAP};
/// The annotation EKS reads to give a ServiceAccount's pods an IAM role (IRSA).
pub const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
pub const IMDS_MONITOR: &str = "karpenter-imds-monitor";
/// Where the web identity token is mounted, and for whom it is issued: the same path and audience
/// the EKS pod identity webhook uses, so the AWS SDK's web identity provider reads it unchanged.
pub const WEB_IDENTITY_TOKEN_DIR: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
pub const WEB_IDENTITY_AUDIENCE: &str = "sts.amazonaws.com";
/// The taint of system nodes (EKS's convention for nodes kept for cluster add-ons), which the
/// controller tolerates so it can run there while workloads cannot.
pub const SYSTEM_NODE_TAINT_KEY: &str = "CriticalAddonsOnly";
/// Environment variables the installation sets itself (in the controller or the IMDS monitor);
/// `env` may not name them.
pub const RESERVED_ENV: [&str; 11] = [
    env::NAMESPACE,
    env::POD_NAME,
    env::NODE_NAME,
    env::SETTINGS_CONFIGMAP,
    env::LEADER_ELECT,
    env::LEASE_NAME,
    env::LISTEN,
    "RUST_LOG",
    "AWS_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

/// Everything the installation is parameterised by.
#[derive(Clone, Debug, PartialEq)]
pub struct Install {
    pub namespace: String,
    pub image: String,
    pub replicas: i64,
    pub service_account_annotations: BTreeMap<String, String>,
    /// The AWS region the controller works in (the provider's).
    pub region: String,
    /// Mount a web identity token and name this role in the environment, as the EKS pod
    /// identity webhook would, for clusters that have no such webhook.
    pub web_identity_role_arn: Option<String>,
    /// Further environment variables of the controller and IMDS monitor containers.
    pub env: BTreeMap<String, String>,
    /// ConfigMap data, keyed as the controller's settings module reads them.
    pub settings: BTreeMap<String, String>,
    pub cpu_request: String,
    pub memory_request: String,
    pub memory_limit: String,
    pub log_level: String,
    /// Also run `karpenter-controller imds-monitor` on every node (a DaemonSet).
    pub imds_monitor: bool,
}

#[cfg(test)]
impl Install {
    /// A plausible installation for tests: IRSA annotation, two replicas, no extras.
    pub fn example() -> Self {
        Install {
            namespace: "karpenter".into(),
            image: "registry.example/karpenter-controller@sha256:abc".into(),
            replicas: 2,
            service_account_annotations: BTreeMap::from([(
                IRSA_ANNOTATION.into(),
                "arn:aws:iam::1:role/r".into(),
            )]),
            region: "ap-southeast-1".into(),
            web_identity_role_arn: None,
            env: BTreeMap::new(),
            settings: BTreeMap::from([("clusterName".into(), "demo".into())]),
            cpu_request: "250m".into(),
            memory_request: "256Mi".into(),
            memory_limit: "512Mi".into(),
            log_level: "info".into(),
            imds_monitor: false,
        }
    }
}

fn labels() -> Json {
    json!({"app.kubernetes.io/name": APP, MANAGED_BY.0: MANAGED_BY.1})
}

fn meta(name: &str, ns: Option<&str>) -> Json {
    let mut m = json!({"name": name, "labels": labels()});
    if let Some(ns) = ns {
        m["namespace"] = json!(ns);
    }
    m
}

fn container_env(i: &Install) -> Vec<Json> {
    let mut env = vec![
        json!({"name": env::NAMESPACE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
        json!({"name": env::POD_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": env::SETTINGS_CONFIGMAP, "value": SETTINGS_CONFIGMAP}),
        json!({"name": env::LEADER_ELECT, "value": "true"}),
        json!({"name": env::LEASE_NAME, "value": LEASE_NAME}),
        json!({"name": env::LISTEN, "value": format!("0.0.0.0:{METRICS_PORT}")}),
        json!({"name": "RUST_LOG", "value": i.log_level}),
        json!({"name": "AWS_REGION", "value": i.region}),
    ];
    if let Some(arn) = &i.web_identity_role_arn {
        env.push(json!({"name": "AWS_ROLE_ARN", "value": arn}));
        env.push(json!({"name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": format!("{WEB_IDENTITY_TOKEN_DIR}/token")}));
    }
    env.extend(user_env(i));
    env
}

/// The user's `env`, as container environment entries (controller and IMDS monitor alike).
fn user_env(i: &Install) -> impl Iterator<Item = Json> + '_ {
    i.env.iter().map(|(k, v)| json!({"name": k, "value": v}))
}

fn deployment(i: &Install) -> Json {
    let probe = |path: &str| json!({"httpGet": {"path": path, "port": "http-metrics"}, "periodSeconds": 10, "timeoutSeconds": 5});
    let mut d = json!({
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
                    // System nodes keep workloads off with this taint; the controller belongs there.
                    "tolerations": [{"key": SYSTEM_NODE_TAINT_KEY, "operator": "Exists"}],
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
                        "env": container_env(i),
                        "ports": [{"name": "http-metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
                        "livenessProbe": probe(HEALTHZ_PATH),
                        "readinessProbe": probe(READYZ_PATH),
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
    });
    if i.web_identity_role_arn.is_some() {
        let pod = &mut d["spec"]["template"]["spec"];
        pod["volumes"] = json!([{"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": WEB_IDENTITY_AUDIENCE, "expirationSeconds": 86400, "path": "token"}}]}}]);
        pod["containers"][0]["volumeMounts"] = json!([{"name": "aws-iam-token", "mountPath": WEB_IDENTITY_TOKEN_DIR, "readOnly": true}]);
    }
    d
}

fn imds_monitor_env(i: &Install) -> Vec<Json> {
    let mut env = vec![
        json!({"name": env::NODE_NAME, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
        json!({"name": env::POD_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": "RUST_LOG", "value": i.log_level}),
    ];
    env.extend(user_env(i));
    env
}

/// The node-local IMDS monitor: it only cordons and drains the node it runs on, so its role has
/// no create/delete on nodes and no AWS access at all.
fn imds_monitor_objects(i: &Install) -> Vec<Json> {
    let ns = i.namespace.as_str();
    let labels = json!({"app.kubernetes.io/name": IMDS_MONITOR, MANAGED_BY.0: MANAGED_BY.1});
    let daemonset = json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": IMDS_MONITOR, "namespace": ns, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": IMDS_MONITOR}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": IMDS_MONITOR,
                    "priorityClassName": "system-node-critical",
                    // IMDSv2 answers PUTs only within its hop limit; on the host network a hop
                    // limit of 1 is enough.
                    "hostNetwork": true,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"operator": "Exists"}],
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "imds-monitor",
                        "image": i.image,
                        "args": ["imds-monitor"],
                        "env": imds_monitor_env(i),
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
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
    });
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(IMDS_MONITOR, Some(ns))}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(IMDS_MONITOR, None), "rules": rbac::to_json(rbac::IMDS_MONITOR_RULES)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(IMDS_MONITOR, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": IMDS_MONITOR},
               "subjects": [{"kind": "ServiceAccount", "name": IMDS_MONITOR, "namespace": ns}]}),
        daemonset,
    ]
}

/// Every object, in the order they are applied (reverse order on removal).
pub fn objects(i: &Install) -> Vec<Json> {
    let ns = i.namespace.as_str();
    let mut sa_meta = meta(APP, Some(ns));
    if !i.service_account_annotations.is_empty() {
        sa_meta["annotations"] = json!(i.service_account_annotations);
    }
    let mut all = vec![
        crd::crd_json(),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(ns, None)}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": sa_meta}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(APP, None), "rules": rbac::to_json(rbac::CONTROLLER_CLUSTER_RULES)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(APP, None),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": APP},
               "subjects": [{"kind": "ServiceAccount", "name": APP, "namespace": ns}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(APP, Some(ns)), "rules": rbac::to_json(rbac::CONTROLLER_NAMESPACE_RULES)}),
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
    ];
    if i.imds_monitor {
        all.extend(imds_monitor_objects(i));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install() -> Install {
        Install::example()
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

    fn container(objs: &[Json]) -> Json {
        objs.iter()
            .find(|o| o["kind"] == "Deployment")
            .map(|d| d["spec"]["template"]["spec"]["containers"][0].clone())
            .unwrap_or_default()
    }

    fn env_value(container: &Json, name: &str) -> Option<String> {
        container["env"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str().map(str::to_string))
    }

    #[test]
    fn the_controller_gets_its_region_and_the_users_environment() {
        let c = container(&objects(&Install {
            env: BTreeMap::from([("AWS_ENDPOINT_URL".into(), "http://10.99.0.1:1".into())]),
            ..install()
        }));
        assert_eq!(
            env_value(&c, "AWS_REGION").as_deref(),
            Some("ap-southeast-1")
        );
        assert_eq!(
            env_value(&c, "AWS_ENDPOINT_URL").as_deref(),
            Some("http://10.99.0.1:1")
        );
        assert_eq!(env_value(&c, "AWS_ROLE_ARN"), None);
        assert!(c["volumeMounts"].is_null());
    }

    #[test]
    fn a_web_identity_role_mounts_a_token_for_sts_and_names_it() {
        let objs = objects(&Install {
            web_identity_role_arn: Some("arn:aws:iam::1:role/r".into()),
            ..install()
        });
        let c = container(&objs);
        assert_eq!(
            env_value(&c, "AWS_ROLE_ARN").as_deref(),
            Some("arn:aws:iam::1:role/r")
        );
        let file = env_value(&c, "AWS_WEB_IDENTITY_TOKEN_FILE").unwrap_or_default();
        assert_eq!(c["volumeMounts"][0]["mountPath"], WEB_IDENTITY_TOKEN_DIR);
        assert!(file.starts_with(WEB_IDENTITY_TOKEN_DIR));
        let d = objs
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .cloned()
            .unwrap_or_default();
        let token = &d["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"];
        assert_eq!(token["audience"], WEB_IDENTITY_AUDIENCE);
        assert_eq!(
            format!(
                "{WEB_IDENTITY_TOKEN_DIR}/{}",
                token["path"].as_str().unwrap_or_default()
            ),
            file
        );
    }

    #[test]
    fn every_variable_the_installation_sets_is_reserved() {
        let c = container(&objects(&Install {
            web_identity_role_arn: Some("arn:aws:iam::1:role/r".into()),
            ..install()
        }));
        let mut set: Vec<&str> = c["env"]
            .as_array()
            .map(|e| e.iter().filter_map(|v| v["name"].as_str()).collect())
            .unwrap_or_default();
        set.push(env::NODE_NAME); // the IMDS monitor's
        set.sort_unstable();
        let mut reserved = RESERVED_ENV.to_vec();
        reserved.sort_unstable();
        assert_eq!(set, reserved);
    }

    #[test]
    fn the_imds_monitor_is_a_node_local_daemonset_only_when_asked_for() {
        let without = objects(&install());
        assert!(!without.iter().any(|o| o["kind"] == "DaemonSet"));
        let with = objects(&Install {
            imds_monitor: true,
            ..install()
        });
        assert_eq!(with.len(), without.len() + 4);
        let ds = with
            .iter()
            .find(|o| o["kind"] == "DaemonSet")
            .cloned()
            .unwrap_or_default();
        let pod = &ds["spec"]["template"]["spec"];
        assert_eq!(pod["hostNetwork"], true);
        assert_eq!(pod["containers"][0]["args"][0], "imds-monitor");
        assert_eq!(
            pod["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
            "spec.nodeName"
        );
        let role = with
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == IMDS_MONITOR)
            .cloned()
            .unwrap_or_default();
        assert!(!role["rules"].to_string().contains("delete"));
    }

    #[test]
    fn rbac_grants_no_wildcards_and_no_secrets() {
        let objs = objects(&Install {
            imds_monitor: true,
            ..install()
        });
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
