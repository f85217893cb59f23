//! The node finalizer: a Node of ours being deleted is cordoned, drained through the Eviction API
//! (PodDisruptionBudgets honoured), its instance terminated, and only then the finalizer removed.
//!
//! Each reconcile does one step of the drain and requeues; nothing waits inside a reconcile, so one
//! slow node never holds up the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ReflectHandle, Store};

use super::drain_step::{self, Refusals};
use super::evict::KubePods;
use super::metrics::TerminationMetrics;
use super::node::{self as ournode, NodeEvents};
use crate::cloud::CloudProvider;
use crate::metrics::{Metrics, TerminationLabels};
use crate::provisioning::node::TERMINATION_FINALIZER;

/// How often a draining node is looked at again when nothing refused.
pub const DRAIN_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TerminationError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("terminating instance {instance}: {source}")]
    Cloud {
        instance: String,
        #[source]
        source: crate::cloud::CloudError,
    },
}

impl TerminationError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kubernetes",
            Self::Cloud { .. } => "cloud",
        }
    }
}

pub struct Termination {
    client: kube::Client,
    cloud: Arc<dyn CloudProvider>,
    metrics: Metrics,
    own: TerminationMetrics,
    events: NodeEvents,
    /// Node name -> when its drain started (for the drain-duration histogram).
    started: Mutex<HashMap<String, Instant>>,
    refusals: Refusals,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Termination {
    pub fn new(client: kube::Client, cloud: Arc<dyn CloudProvider>, metrics: Metrics) -> Self {
        Termination {
            events: NodeEvents::new(client.clone()),
            own: TerminationMetrics::register(&metrics),
            client,
            cloud,
            metrics,
            started: Mutex::new(HashMap::new()),
            refusals: Refusals::default(),
        }
    }

    /// Runs the finalizer controller on the shared Node cache and its changes, until they end.
    pub async fn run(self: Arc<Self>, nodes: Store<Node>, changes: ReflectHandle<Node>) {
        Controller::for_shared_stream(changes, nodes)
            .run(
                |node, ctx: Arc<Self>| async move { ctx.reconcile(&node).await },
                |node, error, ctx| {
                    ctx.own.errors.get_or_create(&super::metrics::ErrorLabels {
                        kind: error.metric_label().to_string(),
                    }).inc();
                    tracing::warn!(node = ournode::name(&node), %error, "termination step failed; retrying");
                    Action::requeue(Duration::from_secs(5))
                },
                self,
            )
            .for_each(|_| async {})
            .await;
    }

    async fn reconcile(&self, node: &Node) -> Result<Action, TerminationError> {
        if node.metadata.deletion_timestamp.is_none() || !ournode::has_finalizer(node) {
            return Ok(Action::await_change());
        }
        let name = ournode::name(node).to_string();
        let first_step = !lock(&self.started).contains_key(&name);
        lock(&self.started)
            .entry(name.clone())
            .or_insert_with(Instant::now);
        let nodes: Api<Node> = Api::all(self.client.clone());
        ournode::cordon(&nodes, node).await?;
        if first_step {
            tracing::info!(node = %name, reason = ournode::reason(node), "draining node");
            self.events
                .publish(
                    node,
                    false,
                    "Draining",
                    format!("draining before termination ({})", ournode::reason(node)),
                )
                .await;
            crate::interruption::replacement::release(&self.client, &name).await?;
        }

        let pods = KubePods(self.client.clone());
        let step = drain_step::step(&pods, &name, &self.refusals, Timestamp::now()).await?;
        for (outcome, n) in [("evicted", step.evicted), ("refused", step.refused)] {
            if n > 0 {
                self.own
                    .evictions
                    .get_or_create(&super::metrics::OutcomeLabels {
                        outcome: outcome.into(),
                    })
                    .inc_by(u64::from(n));
            }
        }
        if !step.done {
            if !step.do_not_evict.is_empty() {
                tracing::info!(node = %name, pods = ?step.do_not_evict, "waiting for do-not-evict pods to finish");
            }
            return Ok(Action::requeue(step.retry_after.unwrap_or(DRAIN_POLL)));
        }

        if let Some(id) = ournode::instance_id(node) {
            self.cloud
                .terminate(&[id.to_string()])
                .await
                .map_err(|source| TerminationError::Cloud {
                    instance: id.to_string(),
                    source,
                })?;
        }
        // Cordoning (and the kubelet, and KWOK) changed the node since this reconcile read it:
        // read it again so the finalizer patch carries the current resourceVersion instead of
        // failing with a conflict and terminating the instance a second time on the retry.
        let Some(node) = nodes.get_opt(&name).await? else {
            return Ok(Action::await_change());
        };
        let node = &node;
        let remaining: Vec<&String> = node
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter(|f| *f != TERMINATION_FINALIZER)
            .collect();
        let patch = serde_json::json!({"metadata": {"finalizers": remaining, "resourceVersion": node.metadata.resource_version}});
        match nodes
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
        let elapsed = lock(&self.started).remove(&name).map(|t| t.elapsed());
        if let Some(d) = elapsed {
            self.own.drain_duration.observe(d.as_secs_f64());
        }
        self.metrics
            .nodes_terminated
            .get_or_create(&TerminationLabels {
                provisioner: ournode::provisioner(node).unwrap_or_default().to_string(),
                reason: ournode::reason(node).to_string(),
            })
            .inc();
        tracing::info!(node = %name, instance = ournode::instance_id(node).unwrap_or_default(), reason = ournode::reason(node),
            drain_seconds = elapsed.map(|d| d.as_secs_f64()), "node terminated");
        Ok(Action::await_change())
    }
}
