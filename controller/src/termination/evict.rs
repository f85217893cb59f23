//! The drain's seam to the cluster: the pods on a node and one call of the Eviction API, with
//! its answers sorted into what the drain does next. [`KubePods`] is the API server; tests of
//! the drain use their own [`PodOps`].

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams, ListParams};

#[derive(Debug)]
pub enum Outcome {
    Evicted,
    /// The pod was already gone.
    Gone,
    /// HTTP 429: a PodDisruptionBudget does not allow it now; try again after a backoff.
    Refused(String),
    Failed(kube::Error),
}

#[async_trait]
pub trait PodOps: Send + Sync {
    /// Every pod bound to `node`.
    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>, kube::Error>;
    async fn evict(&self, namespace: &str, name: &str) -> Outcome;
}

pub struct KubePods(pub kube::Client);

#[async_trait]
impl PodOps for KubePods {
    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>, kube::Error> {
        let pods: Api<Pod> = Api::all(self.0.clone());
        let list = pods
            .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
            .await?;
        Ok(list.items)
    }

    async fn evict(&self, namespace: &str, name: &str) -> Outcome {
        let api: Api<Pod> = Api::namespaced(self.0.clone(), namespace);
        match api.evict(name, &EvictParams::default()).await {
            Ok(_) => Outcome::Evicted,
            Err(kube::Error::Api(s)) if s.code == 404 => Outcome::Gone,
            Err(kube::Error::Api(s)) if s.code == 429 => Outcome::Refused(s.message.clone()),
            Err(e) => Outcome::Failed(e),
        }
    }
}
