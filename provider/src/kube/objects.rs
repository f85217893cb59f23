//! Untyped Kubernetes objects (JSON in, JSON out): server-side apply, get, list and delete.
//! Everything the provider writes goes through here with the provider's field manager.

use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value as Json;

use super::FIELD_MANAGER;

/// Identifies one object: apiVersion, kind, namespace (None when cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// The Provisioner `name` (cluster-scoped).
    pub fn provisioner(name: &str) -> Self {
        use karpenter_core::api::provisioner::{API_VERSION, KIND};
        Self::new(API_VERSION, KIND, None, name)
    }

    pub fn of(obj: &Json) -> Option<Self> {
        Some(ObjectRef {
            api_version: obj["apiVersion"].as_str()?.to_string(),
            kind: obj["kind"].as_str()?.to_string(),
            namespace: obj["metadata"]["namespace"].as_str().map(str::to_string),
            name: obj["metadata"]["name"].as_str()?.to_string(),
        })
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Every kind this provider writes is plural by appending "s" to its lowercase kind.
fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let gvk = GroupVersionKind::gvk(group, version, kind);
    ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()))
}

fn api(client: &kube::Client, r: &ObjectRef) -> Api<DynamicObject> {
    let ar = resource(&r.api_version, &r.kind);
    match &r.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

fn to_json(o: DynamicObject) -> Result<Json, kube::Error> {
    serde_json::to_value(o).map_err(kube::Error::SerdeError)
}

pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Server-side apply of `obj` (which names itself) with our field manager, taking over fields
/// another manager set: Terraform's configuration is the source of truth.
pub async fn apply(client: &kube::Client, obj: &Json) -> Result<Json, kube::Error> {
    let Some(r) = ObjectRef::of(obj) else {
        return Err(kube::Error::SerdeError(serde::de::Error::custom(
            "object lacks apiVersion, kind or metadata.name",
        )));
    };
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    to_json(
        api(client, &r)
            .patch(&r.name, &pp, &Patch::Apply(obj))
            .await?,
    )
}

/// Whether our server-side apply wrote any of `obj`'s fields (its managedFields name our
/// field manager): the object is one this provider made or took over.
pub fn applied_by_us(obj: &Json) -> bool {
    obj["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|fields| {
            fields
                .iter()
                .any(|f| f["manager"] == FIELD_MANAGER && f["operation"] == "Apply")
        })
}

/// The object, or None when it does not exist.
pub async fn get(client: &kube::Client, r: &ObjectRef) -> Result<Option<Json>, kube::Error> {
    match api(client, r).get_opt(&r.name).await? {
        Some(o) => to_json(o).map(Some),
        None => Ok(None),
    }
}

/// Names of the cluster-scoped (or all-namespace) objects of a kind matching `labels`.
pub async fn list(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    labels: Option<&str>,
) -> Result<Vec<Json>, kube::Error> {
    let ar = resource(api_version, kind);
    let a: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let mut lp = ListParams::default();
    if let Some(l) = labels {
        lp = lp.labels(l);
    }
    a.list(&lp).await?.items.into_iter().map(to_json).collect()
}

/// Asks for deletion (dependants are collected in the background); Ok(false) when it was already gone.
pub async fn delete(client: &kube::Client, r: &ObjectRef) -> Result<bool, kube::Error> {
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    delete_with(client, r, &dp).await
}

/// Deletes the object only if it is still at `resource_version` (409 otherwise), so an edit made
/// since it was read is never lost; Ok(false) when it was already gone.
pub async fn delete_unchanged(
    client: &kube::Client,
    r: &ObjectRef,
    resource_version: &str,
) -> Result<bool, kube::Error> {
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(resource_version.to_string()),
            uid: None,
        }),
        ..DeleteParams::default()
    };
    delete_with(client, r, &dp).await
}

async fn delete_with(
    client: &kube::Client,
    r: &ObjectRef,
    dp: &DeleteParams,
) -> Result<bool, kube::Error> {
    match api(client, r).delete(&r.name, dp).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates `obj`; fails with 409 when it exists already.
pub async fn create(client: &kube::Client, obj: &Json) -> Result<(), kube::Error> {
    let Some(r) = ObjectRef::of(obj) else {
        return Err(kube::Error::SerdeError(serde::de::Error::custom(
            "object lacks apiVersion, kind or metadata.name",
        )));
    };
    let o: DynamicObject = serde_json::from_value(obj.clone()).map_err(kube::Error::SerdeError)?;
    let pp = kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..Default::default()
    };
    api(client, &r).create(&pp, &o).await.map(|_| ())
}

/// JSON merge patch (RFC 7386), for small edits such as dropping finalizers.
pub async fn merge_patch(
    client: &kube::Client,
    r: &ObjectRef,
    patch: &Json,
) -> Result<(), kube::Error> {
    match api(client, r)
        .patch(&r.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Text of a kube error for a diagnostic: the API server's message when there is one.
pub fn error_text(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({}, HTTP {})", s.message, s.reason, s.code),
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_of_the_kinds_we_write() {
        for (av, kind, plural, group) in [
            (
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                "apiextensions.k8s.io",
            ),
            ("v1", "ServiceAccount", "serviceaccounts", ""),
            (
                "policy/v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                "policy",
            ),
            (
                "karpenter.sh/v1alpha5",
                "Provisioner",
                "provisioners",
                "karpenter.sh",
            ),
        ] {
            let r = resource(av, kind);
            assert_eq!((r.plural.as_str(), r.group.as_str()), (plural, group));
        }
    }

    #[test]
    fn refs_display_namespace_when_there_is_one() {
        assert_eq!(
            ObjectRef::new("v1", "ConfigMap", Some("k"), "s").to_string(),
            "ConfigMap k/s"
        );
        assert_eq!(
            ObjectRef::new("v1", "Namespace", None, "k").to_string(),
            "Namespace k"
        );
    }
}
