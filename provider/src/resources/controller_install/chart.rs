//! The Helm chart in `controller/chart`, generated from `controller_objects::objects`, so that
//! `helm install` and `karpenter_controller` install the same objects from one source of truth.
//!
//! The objects are rendered once with placeholder values, then each placeholder becomes the
//! template expression of its chart value; optional parts (the web identity token, extra
//! environment variables, the IMDS monitor) become `if`/`range` blocks. Helm conventions: the CRD
//! lives in `crds/`, the release namespace is not an object of the chart (`--create-namespace`),
//! and `app.kubernetes.io/managed-by` is the release service. `committed_chart_matches` keeps
//! the files on disk current; tests/provider/test_chart.py runs helm on them.

use std::collections::BTreeMap;

use regex::{Captures, Regex};
use serde_json::Value as Json;

use super::objects::{IMDS_MONITOR, Install, objects};
use crate::kube::MANAGED_BY;
use karpenter_contract::crd;
use karpenter_contract::settings::SettingKey;

const NS: &str = "__NAMESPACE__";
const IMAGE: &str = "__IMAGE__";
const REPLICAS: i64 = 424_242;
const REGION: &str = "__REGION__";
const ROLE: &str = "__ROLE_ARN__";
const ENV: &str = "__ENV__";
const SETTINGS: &str = "__SETTINGS__";
const CLUSTER: &str = "__CLUSTER_NAME__";
const ANNOTATIONS: &str = "__SA_ANNOTATIONS__";
const LOG: &str = "__LOG_LEVEL__";
const CPU: &str = "__CPU_REQUEST__";
const MEM_REQUEST: &str = "__MEMORY_REQUEST__";
const MEM_LIMIT: &str = "__MEMORY_LIMIT__";

/// Chart version and appVersion: the workspace version, like the binaries.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn placeholder_install() -> Install {
    Install {
        namespace: NS.into(),
        image: IMAGE.into(),
        replicas: REPLICAS,
        service_account_annotations: BTreeMap::from([(ANNOTATIONS.into(), ANNOTATIONS.into())]),
        region: REGION.into(),
        web_identity_role_arn: Some(ROLE.into()),
        env: BTreeMap::from([(ENV.into(), ENV.into())]),
        settings: BTreeMap::from([
            (SettingKey::ClusterName.name(), CLUSTER.into()),
            (SETTINGS.into(), SETTINGS.into()),
        ]),
        cpu_request: CPU.into(),
        memory_request: MEM_REQUEST.into(),
        memory_limit: MEM_LIMIT.into(),
        log_level: LOG.into(),
        imds_monitor: true,
    }
}

fn yaml(objs: &[&Json]) -> String {
    let mut out = String::new();
    for o in objs {
        out.push_str("---\n");
        // serde_json values always serialise to YAML.
        out.push_str(&serde_yaml_ng::to_string(o).unwrap_or_default());
    }
    out
}

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this file, checked by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad pattern {pattern}: {e}"))
}

/// Wraps the YAML block starting at the line `key:` (its list items and deeper lines) in a
/// condition.
fn wrap_key(text: &str, key: &str, condition: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start() != format!("{key}:") {
            out.push(line.to_string());
            continue;
        }
        out.push(format!("{{{{- if {condition} }}}}"));
        out.push(line.to_string());
        while let Some(next) = lines.peek() {
            let next_indent = next.len() - next.trim_start().len();
            if next_indent > indent
                || (next_indent == indent && next.trim_start().starts_with("- "))
            {
                out.push(next.to_string());
                lines.next();
            } else {
                break;
            }
        }
        out.push("{{- end }}".into());
    }
    out.join("\n") + "\n"
}

fn templated(text: &str) -> String {
    // Optional list entries first, while their placeholders still mark them.
    let t = re(r"(?m)^( *)- name: __ENV__\n *value: __ENV__\n").replace_all(text, |c: &Captures| {
        let i = &c[1];
        format!(
            "{{{{- range $name, $value := .Values.env }}}}\n{i}- name: {{{{ $name }}}}\n{i}  value: {{{{ $value | quote }}}}\n{{{{- end }}}}\n"
        )
    });
    let mut t = re(r"(?m)^ *- name: AWS_ROLE_ARN\n.*\n *- name: AWS_WEB_IDENTITY_TOKEN_FILE\n.*\n")
        .replace_all(&t, |c: &Captures| {
            format!(
                "{{{{- if .Values.webIdentity.roleArn }}}}\n{}{{{{- end }}}}\n",
                &c[0]
            )
        })
        .into_owned();
    for key in ["volumes", "volumeMounts"] {
        t = wrap_key(&t, key, ".Values.webIdentity.roleArn");
    }
    // Maps of the user's: the placeholder entry becomes the whole map, at its indentation.
    for (placeholder, value) in [
        (ANNOTATIONS, ".Values.serviceAccount.annotations"),
        (SETTINGS, ".Values.settings"),
    ] {
        t = re(&format!("(?m)^( *){placeholder}: {placeholder}\n"))
            .replace_all(&t, |c: &Captures| {
                format!(
                    "{{{{- with {value} }}}}\n{{{{- toYaml . | nindent {} }}}}\n{{{{- end }}}}\n",
                    c[1].len()
                )
            })
            .into_owned();
    }
    for (placeholder, expr) in [
        (NS, "{{ .Release.Namespace }}".to_string()),
        (
            IMAGE,
            r#"{{ required "image: build and push one with `make image`" .Values.image | quote }}"#
                .into(),
        ),
        (&REPLICAS.to_string(), "{{ .Values.replicas }}".into()),
        (
            REGION,
            r#"{{ required "region: the AWS region of the cluster" .Values.region | quote }}"#
                .into(),
        ),
        (ROLE, "{{ .Values.webIdentity.roleArn | quote }}".into()),
        (
            CLUSTER,
            r#"{{ required "clusterName: the cluster's name" .Values.clusterName | quote }}"#
                .into(),
        ),
        (LOG, "{{ .Values.logLevel | quote }}".into()),
        (CPU, "{{ .Values.resources.cpuRequest | quote }}".into()),
        (
            MEM_REQUEST,
            "{{ .Values.resources.memoryRequest | quote }}".into(),
        ),
        (
            MEM_LIMIT,
            "{{ .Values.resources.memoryLimit | quote }}".into(),
        ),
        (MANAGED_BY.1, "{{ .Release.Service }}".into()),
    ] {
        t = t.replace(placeholder, &expr);
    }
    t
}

const VALUES: &str = r#"# Values of the karpenter-rs controller chart. Every key is documented in
# docs/guides/helm.md; the chart installs the same objects as the karpenter_controller resource.

# Controller image, best by digest. There is no published image: `make image` builds and pushes one.
image: ""
replicas: 2
# The cluster's name (settings key clusterName) and the AWS region the controller works in.
clusterName: ""
region: ""
# Further controller settings (ConfigMap keys, see docs/reference/controller-settings.md),
# e.g. interruptionQueue: Karpenter-my-cluster
settings: {}
serviceAccount:
  # e.g. eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/KarpenterControllerRole-my-cluster
  annotations: {}
webIdentity:
  # Mount a token for sts.amazonaws.com and set AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE, for
  # clusters without the EKS pod identity webhook. Empty: off.
  roleArn: ""
# Further environment variables of the controller container, e.g. AWS_ENDPOINT_URL.
env: {}
logLevel: info
resources:
  cpuRequest: 250m
  memoryRequest: 256Mi
  memoryLimit: 512Mi
# Also run the IMDS monitor DaemonSet on every Linux node.
imdsMonitor: false
"#;

/// Every file of the chart, by path under controller/chart.
pub fn files() -> Vec<(String, String)> {
    let all = objects(&placeholder_install());
    let is_imds = |o: &&Json| {
        o["metadata"]["name"] == IMDS_MONITOR
            || o["metadata"]["labels"]["app.kubernetes.io/name"] == IMDS_MONITOR
    };
    let controller: Vec<&Json> = all
        .iter()
        .filter(|o| o["kind"] != "CustomResourceDefinition" && o["kind"] != "Namespace")
        .filter(|o| !is_imds(o))
        .collect();
    let imds: Vec<&Json> = all.iter().filter(is_imds).collect();
    let chart = format!(
        "apiVersion: v2\nname: karpenter-rs\ndescription: \"The karpenter-rs controller, spot-first node autoscaling for Kubernetes on AWS\"\ntype: application\nversion: {VERSION}\nappVersion: \"{VERSION}\"\n"
    );
    let header = "# Generated from provider/src/resources/controller_objects.rs by\n# `terraform-provider-karpenter chart --out controller/chart`; do not edit.\n";
    vec![
        ("Chart.yaml".into(), chart),
        ("values.yaml".into(), VALUES.into()),
        (
            "crds/provisioners.karpenter.sh.yaml".into(),
            format!("{header}{}", yaml(&[&crd::crd_json()])),
        ),
        (
            "templates/controller.yaml".into(),
            format!("{header}{}", templated(&yaml(&controller))),
        ),
        (
            "templates/imds-monitor.yaml".into(),
            format!(
                "{header}{{{{- if .Values.imdsMonitor }}}}\n{}{{{{- end }}}}\n",
                templated(&yaml(&imds))
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_placeholder_survives_the_templating() {
        for (path, text) in files() {
            assert!(!text.contains("__"), "{path} keeps a placeholder:\n{text}");
            assert!(
                !text.contains("424242"),
                "{path} keeps the replicas placeholder"
            );
        }
    }

    #[test]
    fn optional_parts_become_conditions_and_loops() {
        let files: BTreeMap<String, String> = files().into_iter().collect();
        let controller = &files["templates/controller.yaml"];
        assert!(controller.contains("{{- range $name, $value := .Values.env }}"));
        assert_eq!(
            controller
                .matches("{{- if .Values.webIdentity.roleArn }}")
                .count(),
            3,
            "env, volumes and volumeMounts"
        );
        assert!(files["templates/imds-monitor.yaml"].contains("{{- if .Values.imdsMonitor }}"));
        assert!(files["crds/provisioners.karpenter.sh.yaml"].contains("CustomResourceDefinition"));
        assert!(!controller.contains("kind: Namespace"));
    }

    /// The chart's values for an installation, as a user of the chart would write them.
    fn values_of(i: &Install) -> Json {
        let mut settings = i.settings.clone();
        let cluster = settings
            .remove(&SettingKey::ClusterName.name())
            .unwrap_or_default();
        serde_json::json!({
            "image": i.image, "replicas": i.replicas, "clusterName": cluster, "region": i.region,
            "settings": settings,
            "serviceAccount": {"annotations": i.service_account_annotations},
            "webIdentity": {"roleArn": i.web_identity_role_arn.clone().unwrap_or_default()},
            "env": i.env, "logLevel": i.log_level,
            "resources": {"cpuRequest": i.cpu_request, "memoryRequest": i.memory_request, "memoryLimit": i.memory_limit},
            "imdsMonitor": i.imds_monitor,
        })
    }

    /// Nulls and empty maps say "nothing" in both renderings; helm marks objects as its own.
    fn normalised(v: &Json) -> Json {
        match v {
            Json::Object(m) => Json::Object(
                m.iter()
                    .filter(|(_, v)| !(v.is_null() || v.as_object().is_some_and(|o| o.is_empty())))
                    .map(|(k, v)| {
                        let v = if k == MANAGED_BY.0 {
                            Json::from("Helm")
                        } else {
                            normalised(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Json::Array(a) => Json::Array(a.iter().map(normalised).collect()),
            other => other.clone(),
        }
    }

    fn helm() -> std::path::PathBuf {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/bin/build-go.sh");
        let out = std::process::Command::new(script).arg("helm").output();
        let dir = out
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().last().map(str::to_string));
        match dir {
            Some(d) => std::path::Path::new(&d).join("helm"),
            None => panic!("tests/bin/build-go.sh helm failed: helm is needed to check the chart"),
        }
    }

    /// `helm template` of the committed chart gives exactly the objects karpenter_controller
    /// installs for the same settings, for a plain and for a fully configured installation.
    #[test]
    fn helm_renders_what_the_provider_installs() -> Result<(), Box<dyn std::error::Error>> {
        let chart = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/chart");
        let plain = Install {
            service_account_annotations: BTreeMap::new(),
            ..Install::example()
        };
        let full = Install {
            namespace: "platform".into(),
            replicas: 3,
            service_account_annotations: BTreeMap::from([(
                "eks.amazonaws.com/role-arn".into(),
                "arn:aws:iam::1:role/r".into(),
            )]),
            web_identity_role_arn: Some("arn:aws:iam::1:role/r".into()),
            env: BTreeMap::from([
                ("AWS_ENDPOINT_URL".into(), "http://10.99.0.1:5000".into()),
                ("HTTPS_PROXY".into(), "http://proxy:3128".into()),
            ]),
            settings: BTreeMap::from([
                ("clusterName".into(), "demo".into()),
                ("interruptionQueue".into(), "Karpenter-demo".into()),
                ("spotQuotaFallback".into(), "true".into()),
            ]),
            log_level: "debug".into(),
            imds_monitor: true,
            ..plain.clone()
        };
        let helm = helm();
        let dir = tempfile::tempdir()?;
        for install in [plain, full] {
            let values = dir.path().join("values.json");
            std::fs::write(&values, serde_json::to_vec(&values_of(&install))?)?;
            let out = std::process::Command::new(&helm)
                .args(["template", "karpenter"])
                .arg(&chart)
                .args(["--namespace", &install.namespace, "--include-crds", "-f"])
                .arg(&values)
                .output()?;
            assert!(
                out.status.success(),
                "helm template: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout)?;
            let mut rendered = Vec::new();
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let v: Json = serde::Deserialize::deserialize(doc)?;
                if !v.is_null() {
                    rendered.push(normalised(&v));
                }
            }
            let expected: Vec<Json> = objects(&install)
                .iter()
                .filter(|o| o["kind"] != "Namespace")
                .map(normalised)
                .collect();
            let key = |o: &Json| {
                format!(
                    "{}/{}/{}",
                    o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]
                )
            };
            let mut a: Vec<_> = rendered.iter().map(|o| (key(o), o.clone())).collect();
            let mut b: Vec<_> = expected.iter().map(|o| (key(o), o.clone())).collect();
            a.sort_by(|x, y| x.0.cmp(&y.0));
            b.sort_by(|x, y| x.0.cmp(&y.0));
            assert_eq!(
                a.iter().map(|x| &x.0).collect::<Vec<_>>(),
                b.iter().map(|x| &x.0).collect::<Vec<_>>()
            );
            for ((k, got), (_, want)) in a.iter().zip(&b) {
                assert_eq!(got, want, "{k} differs between helm and the provider");
            }
        }
        Ok(())
    }

    /// controller/chart must be exactly what this module generates; on failure run
    /// `cargo run -p terraform-provider-karpenter -- chart --out controller/chart`.
    #[test]
    fn committed_chart_matches() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../controller/chart");
        for (rel, text) in files() {
            let on_disk = std::fs::read_to_string(dir.join(&rel)).unwrap_or_default();
            assert!(
                on_disk == text,
                "controller/chart/{rel} is stale; regenerate with `terraform-provider-karpenter chart --out controller/chart`"
            );
        }
    }
}
