//! One call of the Eviction API, with its answers sorted into what the drain does next.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, EvictParams};

#[derive(Debug)]
pub enum Outcome {
    Evicted,
    /// The pod was already gone.
    Gone,
    /// HTTP 429: a PodDisruptionBudget does not allow it now; try again after a backoff.
    Refused(String),
    Failed(kube::Error),
}

pub async fn evict(api: &Api<Pod>, name: &str) -> Outcome {
    match api.evict(name, &EvictParams::default()).await {
        Ok(_) => Outcome::Evicted,
        Err(kube::Error::Api(s)) if s.code == 404 => Outcome::Gone,
        Err(kube::Error::Api(s)) if s.code == 429 => Outcome::Refused(s.message.clone()),
        Err(e) => Outcome::Failed(e),
    }
}
