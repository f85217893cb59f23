//! The seam between orchestration (termination, interruption, disruption) and the API server:
//! what those controllers ask of nodes and pods, as two narrow traits. [`KubeNodes`] and
//! [`KubePods`] are the API server; unit tests of the orchestration use their own
//! implementations, and the end-to-end suites test it again against a real server.

use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};

use super::node::{self as ournode, NodeEvents};
use super::replacement::{self, Outcome as Replacement};
use crate::provisioning::node::TERMINATION_FINALIZER;

#[async_trait]
pub trait NodeOps: Send + Sync {
    async fn get(&self, name: &str) -> Result<Option<Node>, kube::Error>;
    /// Taints the node NoSchedule and marks it unschedulable; idempotent.
    async fn cordon(&self, node: &Node) -> Result<(), kube::Error>;
    /// Sets (`Some`) or removes (`None`) one annotation.
    async fn annotate(&self, name: &str, key: &str, value: Option<&str>)
    -> Result<(), kube::Error>;
    /// Undoes `cordon` (a disruption called off before the drain).
    async fn uncordon(&self, name: &str) -> Result<(), kube::Error>;
    /// Records why and deletes the Node; the finalizer then drains it. Gone is success.
    async fn request_termination(&self, name: &str, why: &str) -> Result<(), kube::Error>;
    /// Takes our finalizer off the node as it is now. False when there was nothing to take off
    /// (the node is gone, or an earlier step removed it), so the end is counted once.
    async fn remove_finalizer(&self, name: &str) -> Result<bool, kube::Error>;
    /// An event on the node; best effort.
    async fn publish(&self, node: &Node, warning: bool, reason: &str, note: String);
}

/// What one call of the Eviction API came to.
#[derive(Debug)]
pub enum Eviction {
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
    async fn evict(&self, namespace: &str, name: &str) -> Eviction;
    /// Deletes a pod outright (past a node's termination grace period); gone is success.
    async fn delete(&self, namespace: &str, name: &str) -> Result<(), kube::Error>;
    /// Reserves room elsewhere for the node's pods (placeholder pods) and waits up to `timeout`
    /// for it.
    async fn launch_replacement(
        &self,
        node: &Node,
        timeout: Duration,
    ) -> Result<Replacement, kube::Error>;
    /// Removes the node's placeholders once its pods are on their way.
    async fn release_replacement(&self, node: &str) -> Result<(), kube::Error>;
}

/// Nodes on the API server.
pub struct KubeNodes {
    api: Api<Node>,
    events: NodeEvents,
}

impl KubeNodes {
    pub fn new(client: kube::Client) -> Self {
        KubeNodes {
            api: Api::all(client.clone()),
            events: NodeEvents::new(client),
        }
    }
}

#[async_trait]
impl NodeOps for KubeNodes {
    async fn get(&self, name: &str) -> Result<Option<Node>, kube::Error> {
        self.api.get_opt(name).await
    }

    async fn cordon(&self, node: &Node) -> Result<(), kube::Error> {
        ournode::cordon(&self.api, node).await
    }

    async fn annotate(
        &self,
        name: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), kube::Error> {
        let patch = serde_json::json!({"metadata": {"annotations": {key: value}}});
        self.api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
    }

    async fn uncordon(&self, name: &str) -> Result<(), kube::Error> {
        ournode::uncordon(&self.api, name).await
    }

    async fn request_termination(&self, name: &str, why: &str) -> Result<(), kube::Error> {
        ournode::request_termination(&self.api, name, why).await
    }

    async fn remove_finalizer(&self, name: &str) -> Result<bool, kube::Error> {
        // Read again so the patch carries the current resourceVersion: the drain (and the
        // kubelet) changed the node since the reconcile read it.
        let Some(node) = self.api.get_opt(name).await? else {
            return Ok(false);
        };
        if !ournode::has_finalizer(&node) {
            return Ok(false);
        }
        let remaining: Vec<&String> = node
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != TERMINATION_FINALIZER)
            .collect();
        let patch = serde_json::json!({"metadata": {
            "finalizers": remaining,
            "resourceVersion": node.metadata.resource_version,
        }});
        match self
            .api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn publish(&self, node: &Node, warning: bool, reason: &str, note: String) {
        self.events.publish(node, warning, reason, note).await;
    }
}

/// Pods on the API server.
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

    async fn evict(&self, namespace: &str, name: &str) -> Eviction {
        let api: Api<Pod> = Api::namespaced(self.0.clone(), namespace);
        match api.evict(name, &EvictParams::default()).await {
            Ok(_) => Eviction::Evicted,
            Err(kube::Error::Api(s)) if s.code == 404 => Eviction::Gone,
            Err(kube::Error::Api(s)) if s.code == 429 => Eviction::Refused(s.message.clone()),
            Err(e) => Eviction::Failed(e),
        }
    }

    async fn delete(&self, namespace: &str, name: &str) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.0.clone(), namespace);
        match api.delete(name, &kube::api::DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn launch_replacement(
        &self,
        node: &Node,
        timeout: Duration,
    ) -> Result<Replacement, kube::Error> {
        replacement::launch(&self.0, node, timeout).await
    }

    async fn release_replacement(&self, node: &str) -> Result<(), kube::Error> {
        replacement::release(&self.0, node).await
    }
}
