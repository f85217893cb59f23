//! `kubernetes { config_path, config_context, host, token, cluster_ca_certificate,
//! client_certificate, client_key, insecure }`.
//!
//! Resolution follows the kubernetes and helm providers: the kubeconfig file (`config_path`, else
//! `KUBECONFIG`, else `~/.kube/config` when it exists) gives a starting point, the context named by
//! `config_context` (else the file's current context) is selected, and every explicit setting
//! overrides what that context says. With `host` set and no file at all, the explicit settings are
//! the whole configuration.

use std::path::PathBuf;

use base64::Engine;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value as Json, json};

use crate::plugin::{Attribute, Block, BlockNesting, Diagnostics, NestedBlock, Value};

const DEFAULT_CONTEXT: &str = "terraform";

pub fn kubernetes_block() -> NestedBlock {
    let s = |name: &str, text: &str| Attribute::string(name).optional().description(text);
    NestedBlock::new(
        "kubernetes",
        BlockNesting::List,
        Block::new()
            .description(
                "How to reach the Kubernetes API server for `karpenter_provisioner` and `karpenter_controller`. \
                 Without it the kubeconfig of `KUBECONFIG` (or `~/.kube/config`) and its current context apply.",
            )
            .attribute(s("config_path", "Path of a kubeconfig file. Defaults to `KUBECONFIG`, then `~/.kube/config`."))
            .attribute(s("config_context", "Context of the kubeconfig to use instead of its current context."))
            .attribute(s("host", "API server URL, e.g. `https://127.0.0.1:6443`; overrides the kubeconfig's."))
            .attribute(s("token", "Bearer token; overrides the kubeconfig's credentials.").sensitive())
            .attribute(s("cluster_ca_certificate", "PEM of the CA that signed the API server's certificate."))
            .attribute(s("client_certificate", "PEM client certificate for TLS client authentication."))
            .attribute(s("client_key", "PEM key of `client_certificate`.").sensitive())
            .attribute(
                Attribute::bool("insecure")
                    .optional()
                    .description("Skip verification of the API server's certificate. For throwaway clusters only."),
            ),
    )
    .max_items(1)
}

/// The block's values, as plain data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubeSettings {
    pub config_path: Option<String>,
    pub config_context: Option<String>,
    pub host: Option<String>,
    pub token: Option<String>,
    pub cluster_ca_certificate: Option<String>,
    pub client_certificate: Option<String>,
    pub client_key: Option<String>,
    pub insecure: Option<bool>,
}

impl KubeSettings {
    /// Reads the block (a list of at most one object) from the provider configuration.
    pub fn from_provider_config(config: &Value) -> Self {
        let b = match config.get("kubernetes") {
            Value::List(v) => v.first().cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let s = |k: &str| b.get(k).as_str().map(str::to_string);
        KubeSettings {
            config_path: s("config_path"),
            config_context: s("config_context"),
            host: s("host"),
            token: s("token"),
            cluster_ca_certificate: s("cluster_ca_certificate"),
            client_certificate: s("client_certificate"),
            client_key: s("client_key"),
            insecure: b.get("insecure").as_bool(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeConfigError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error(
        "no Kubernetes API server configured: set `kubernetes {{ host = ... }}` or `config_path` in the provider block, or KUBECONFIG"
    )]
    Nothing,
    #[error("context {0:?} is not in the kubeconfig")]
    NoContext(String),
    #[error("invalid kubeconfig: {0}")]
    Invalid(String),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
}

/// The starting kubeconfig: the file asked for, else KUBECONFIG, else ~/.kube/config if present.
fn base_kubeconfig(s: &KubeSettings) -> Result<Option<Kubeconfig>, KubeConfigError> {
    let read = |p: PathBuf| {
        Kubeconfig::read_from(&p).map_err(|source| KubeConfigError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    if let Some(p) = &s.config_path {
        return read(expand_home(p)).map(Some);
    }
    if s.host.is_some() {
        return Ok(None);
    }
    if let Some(kc) = Kubeconfig::from_env().map_err(|source| KubeConfigError::Read {
        path: "$KUBECONFIG".into(),
        source,
    })? {
        return Ok(Some(kc));
    }
    match std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config")) {
        Some(p) if p.exists() => read(p).map(Some),
        _ => Ok(None),
    }
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Applies the explicit settings onto `kc` (as its JSON form) and returns the context to use.
fn overlay(kc: &mut Json, s: &KubeSettings) -> Result<String, KubeConfigError> {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
    let ctx_name = s
        .config_context
        .clone()
        .or_else(|| {
            kc.get("current-context")
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| DEFAULT_CONTEXT.to_string());
    let contexts = kc["contexts"].as_array().cloned().unwrap_or_default();
    let found = contexts
        .iter()
        .find(|c| c["name"] == ctx_name.as_str())
        .cloned();
    let (cluster_name, user_name) = match found {
        Some(c) => (
            c["context"]["cluster"]
                .as_str()
                .unwrap_or(DEFAULT_CONTEXT)
                .to_string(),
            c["context"]["user"]
                .as_str()
                .unwrap_or(DEFAULT_CONTEXT)
                .to_string(),
        ),
        None if s.host.is_some() && s.config_context.is_none() => {
            push(
                kc,
                "contexts",
                json!({"name": ctx_name, "context": {"cluster": DEFAULT_CONTEXT, "user": DEFAULT_CONTEXT}}),
            );
            (DEFAULT_CONTEXT.to_string(), DEFAULT_CONTEXT.to_string())
        }
        None if kc["contexts"].as_array().is_none_or(Vec::is_empty) && s.host.is_none() => {
            return Err(KubeConfigError::Nothing);
        }
        None => return Err(KubeConfigError::NoContext(ctx_name)),
    };
    let cluster = entry(kc, "clusters", &cluster_name, "cluster");
    if let Some(h) = &s.host {
        cluster["server"] = json!(h);
    }
    if let Some(ca) = &s.cluster_ca_certificate {
        cluster["certificate-authority-data"] = json!(b64(ca));
        remove(cluster, "certificate-authority");
    }
    if let Some(i) = s.insecure {
        cluster["insecure-skip-tls-verify"] = json!(i);
        if i {
            remove(cluster, "certificate-authority-data");
            remove(cluster, "certificate-authority");
        }
    }
    let user = entry(kc, "users", &user_name, "user");
    if let Some(t) = &s.token {
        *user = json!({"token": t});
    }
    if let Some(c) = &s.client_certificate {
        user["client-certificate-data"] = json!(b64(c));
        remove(user, "client-certificate");
    }
    if let Some(k) = &s.client_key {
        user["client-key-data"] = json!(b64(k));
        remove(user, "client-key");
    }
    Ok(ctx_name)
}

fn push(kc: &mut Json, list: &str, item: Json) {
    if !kc[list].is_array() {
        kc[list] = json!([]);
    }
    if let Some(a) = kc[list].as_array_mut() {
        a.push(item);
    }
}

fn remove(obj: &mut Json, key: &str) {
    if let Some(m) = obj.as_object_mut() {
        m.remove(key);
    }
}

/// The `inner` object of the named entry of `list`, created when absent.
fn entry<'a>(kc: &'a mut Json, list: &str, name: &str, inner: &str) -> &'a mut Json {
    let exists = kc[list]
        .as_array()
        .is_some_and(|a| a.iter().any(|e| e["name"] == name));
    if !exists {
        push(kc, list, json!({"name": name, inner: {}}));
    }
    let idx = kc[list]
        .as_array()
        .and_then(|a| a.iter().position(|e| e["name"] == name))
        .unwrap_or(0);
    if !kc[list][idx][inner].is_object() {
        kc[list][idx][inner] = json!({});
    }
    &mut kc[list][idx][inner]
}

/// Resolves the settings into a client. Building does not contact the server.
pub async fn build_client(s: &KubeSettings) -> Result<kube::Client, KubeConfigError> {
    let base = base_kubeconfig(s)?;
    if base.is_none() && s.host.is_none() {
        return Err(KubeConfigError::Nothing);
    }
    let mut kc = match base {
        Some(k) => serde_json::to_value(&k).map_err(|e| KubeConfigError::Invalid(e.to_string()))?,
        None => json!({"apiVersion": "v1", "kind": "Config"}),
    };
    let context = overlay(&mut kc, s)?;
    let kc: Kubeconfig =
        serde_json::from_value(kc).map_err(|e| KubeConfigError::Invalid(e.to_string()))?;
    let opts = KubeConfigOptions {
        context: Some(context),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| KubeConfigError::Invalid(e.to_string()))?;
    if s.insecure == Some(true) {
        config.accept_invalid_certs = true;
    }
    kube::Client::try_from(config).map_err(|e| KubeConfigError::Client(e.to_string()))
}

/// What resources get: a client, or the reason there is none (reported only when a resource that
/// needs Kubernetes is used, so AWS-only configurations work without any cluster).
pub struct KubeHandle {
    client: Result<kube::Client, String>,
}

impl KubeHandle {
    pub async fn from_settings(s: &KubeSettings) -> Self {
        KubeHandle {
            client: build_client(s).await.map_err(|e| e.to_string()),
        }
    }

    pub fn client(&self, diags: &mut Diagnostics) -> Option<kube::Client> {
        match &self.client {
            Ok(c) => Some(c.clone()),
            Err(e) => {
                diags.error(
                    "Kubernetes not configured",
                    format!("{e}\n\nConfigure the provider's `kubernetes` block (host and credentials, or config_path and config_context)."),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_kc() -> Json {
        json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "a",
            "contexts": [
                {"name": "a", "context": {"cluster": "ca", "user": "ua"}},
                {"name": "b", "context": {"cluster": "cb", "user": "ub"}}
            ],
            "clusters": [
                {"name": "ca", "cluster": {"server": "https://a:6443", "certificate-authority": "/a.pem"}},
                {"name": "cb", "cluster": {"server": "https://b:6443"}}
            ],
            "users": [
                {"name": "ua", "user": {"client-certificate": "/a.crt", "client-key": "/a.key"}},
                {"name": "ub", "user": {"token": "tb"}}
            ]
        })
    }

    #[test]
    fn the_current_context_is_used_unless_another_is_named() -> Result<(), KubeConfigError> {
        let mut kc = file_kc();
        assert_eq!(overlay(&mut kc, &KubeSettings::default())?, "a");
        let mut kc = file_kc();
        let s = KubeSettings {
            config_context: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(overlay(&mut kc, &s)?, "b");
        Ok(())
    }

    #[test]
    fn explicit_settings_override_only_the_selected_context() -> Result<(), KubeConfigError> {
        let mut kc = file_kc();
        let s = KubeSettings {
            config_context: Some("b".into()),
            host: Some("https://override:443".into()),
            cluster_ca_certificate: Some("PEM".into()),
            ..Default::default()
        };
        overlay(&mut kc, &s)?;
        assert_eq!(
            kc["clusters"][1]["cluster"]["server"],
            "https://override:443"
        );
        assert_eq!(
            kc["clusters"][1]["cluster"]["certificate-authority-data"],
            "UEVN"
        );
        assert_eq!(kc["clusters"][0]["cluster"]["server"], "https://a:6443");
        assert_eq!(kc["users"][1]["user"]["token"], "tb");
        Ok(())
    }

    #[test]
    fn a_named_context_that_does_not_exist_is_an_error() {
        let mut kc = file_kc();
        let s = KubeSettings {
            config_context: Some("nope".into()),
            ..Default::default()
        };
        assert!(matches!(overlay(&mut kc, &s), Err(KubeConfigError::NoContext(c)) if c == "nope"));
    }

    #[test]
    fn host_alone_builds_a_whole_configuration() -> Result<(), KubeConfigError> {
        let mut kc = json!({});
        let s = KubeSettings {
            host: Some("https://h:6443".into()),
            token: Some("t".into()),
            insecure: Some(true),
            ..Default::default()
        };
        assert_eq!(overlay(&mut kc, &s)?, DEFAULT_CONTEXT);
        assert_eq!(kc["clusters"][0]["cluster"]["server"], "https://h:6443");
        assert_eq!(
            kc["clusters"][0]["cluster"]["insecure-skip-tls-verify"],
            true
        );
        assert_eq!(kc["users"][0]["user"]["token"], "t");
        let parsed: Result<Kubeconfig, _> = serde_json::from_value(kc);
        assert!(parsed.is_ok());
        Ok(())
    }

    #[test]
    fn nothing_configured_says_so() {
        let mut kc = json!({});
        assert!(matches!(
            overlay(&mut kc, &KubeSettings::default()),
            Err(KubeConfigError::Nothing)
        ));
    }
}
