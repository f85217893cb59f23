//! Provisioning: unschedulable pods -> batch -> `solve` -> launch -> Node objects.
//!
//! # Layout
//! - [`pending`]: which pods count; [`batcher`]: idle/max batching with time passed in.
//! - [`convert`]: Kubernetes objects as the core scheduler's types.
//! - [`launch`]: a planned node to CreateFleet through the cloud layer.
//! - [`node`]: the Node object per launched instance; [`cost`]: the cost gauge;
//!   [`usage`]: provisioner usage for limits, status and gauges.
//! - [`registration`]: launches that never registered are terminated.
//! - [`events`]: events on pods; [`batch`]: one batch from decision to Node objects.
//!
//! The controller never binds pods: it creates capacity and the kube-scheduler binds.

pub mod batch;
pub mod batcher;
pub mod cluster_facts;
pub mod convert;
pub mod cost;
pub mod events;
pub mod launch;
pub mod node;
pub mod pending;
pub mod registration;
pub mod usage;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector;
use tokio::sync::mpsc;

use crate::cloud::{CloudProvider, Launcher, UnavailableOfferings};
use crate::crd::Provisioner;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::state::{ChangeStream, ClusterState};
use batcher::Batcher;
use cluster_facts::{ClusterFactsSource, ClusterOverrides};
use events::PodEvents;
use launch::NodeLauncher;
use pending::PodKey;

/// How often pods still pending are batched again (a quota raised, a provisioner added, an ICE
/// entry expired: none of these changes the pod, so no watch event would bring it back).
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    #[error("the {0} watch ended")]
    WatchEnded(&'static str),
    #[error("reading the API server version: {0}")]
    Version(#[source] kube::Error),
}

/// A pod that a launched (not yet registered) node was made for; such pods are not batched
/// again until the node registers or the registration timeout passes.
#[derive(Clone, Debug)]
pub struct Nomination {
    pub node: String,
    pub at: Instant,
}

/// When pods were last nominated to each node (by node name), shared with the disruption loop:
/// a node just launched or just chosen for pending pods is not empty, even while the
/// kube-scheduler has not bound those pods yet (its backoff can take seconds).
#[derive(Clone, Default)]
pub struct NominatedNodes(Arc<Mutex<HashMap<String, Instant>>>);

impl NominatedNodes {
    pub fn note(&self, node: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, at| at.elapsed() < NOMINATION_MEMORY);
        map.insert(node.to_string(), Instant::now());
    }

    /// Whether pods were nominated to `node` less than `window` ago.
    pub fn within(&self, node: &str, window: Duration) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(node)
            .is_some_and(|at| at.elapsed() < window)
    }
}

/// How long a node's last nomination is remembered at most (any window asked of it is shorter).
const NOMINATION_MEMORY: Duration = Duration::from_secs(600);

pub struct Provisioning {
    pub(crate) client: kube::Client,
    pub(crate) settings: Settings,
    pub(crate) metrics: Metrics,
    pub(crate) cloud: Arc<dyn CloudProvider>,
    pub(crate) ice: Arc<UnavailableOfferings>,
    pub(crate) launcher: NodeLauncher,
    pub(crate) events: PodEvents,
    /// Pod uid -> the in-flight node it waits for.
    pub(crate) nominations: Mutex<HashMap<String, Nomination>>,
    /// Pod uid -> when it was first seen unschedulable (for the decision-duration histogram).
    pub(crate) first_seen: Mutex<HashMap<String, Instant>>,
    /// Node name -> when pods were last nominated to it.
    pub(crate) nominated_nodes: NominatedNodes,
}

impl Provisioning {
    pub async fn new(
        client: kube::Client,
        settings: Settings,
        metrics: Metrics,
        cloud: Arc<dyn CloudProvider>,
        ice: Arc<UnavailableOfferings>,
        identity: Option<String>,
    ) -> Result<Self, ProvisioningError> {
        let info = client
            .apiserver_version()
            .await
            .map_err(ProvisioningError::Version)?;
        let minor: String = info
            .minor
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let kubernetes_version = format!("{}.{minor}", info.major);
        let cluster_facts = ClusterFactsSource::new(
            cloud.clone(),
            &settings.cluster_name,
            ClusterOverrides {
                endpoint: settings.cluster_endpoint.clone(),
                ca_bundle: settings.cluster_ca_bundle.clone(),
                service_cidr: settings.service_cidr.clone(),
            },
        );
        let launcher = NodeLauncher::new(
            cloud.clone(),
            Launcher::new(cloud.clone(), ice.clone()),
            cluster_facts,
            &settings.cluster_name,
            &kubernetes_version,
            settings.spot_quota_fallback,
        );
        Ok(Provisioning {
            events: PodEvents::new(client.clone(), identity),
            client,
            settings,
            metrics,
            cloud,
            ice,
            launcher,
            nominations: Mutex::new(HashMap::new()),
            first_seen: Mutex::new(HashMap::new()),
            nominated_nodes: NominatedNodes::default(),
        })
    }

    /// Sends the key of every pod that changes into a provisionable state.
    fn provisionable(changes: ChangeStream<Pod>) -> mpsc::UnboundedReceiver<PodKey> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut changes = std::pin::pin!(changes);
            while let Some(pod) = changes.next().await {
                if pending::is_provisionable(&pod) && tx.send(pending::key(&pod)).is_err() {
                    return;
                }
            }
        });
        rx
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs until a watch ends for good. Batches close after `batchIdleDuration` without a new
    /// pod or `batchMaxDuration` after the first.
    pub async fn run(
        self: Arc<Self>,
        stores: ClusterState,
        pod_changes: ChangeStream<Pod>,
    ) -> Result<(), ProvisioningError> {
        let mut keys = Self::provisionable(pod_changes);
        tracing::info!("provisioning: watching unschedulable pods");
        let mut batcher: Batcher<PodKey> = Batcher::new(
            self.settings.batch_idle_duration,
            self.settings.batch_max_duration,
        );
        let mut resync = tokio::time::interval(RESYNC_PERIOD);
        resync.tick().await;
        loop {
            let deadline = batcher.deadline();
            tokio::select! {
                key = keys.recv() => {
                    let key = key.ok_or(ProvisioningError::WatchEnded("Pod"))?;
                    let now = Instant::now();
                    if let Some(pod) = stores.pods.get(&reflector::ObjectRef::new(&key.1).within(&key.0))
                        && let Some(uid) = &pod.metadata.uid
                    {
                        Self::lock(&self.first_seen).entry(uid.clone()).or_insert(now);
                    }
                    batcher.add(key, now);
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let batch = batcher.take();
                    self.provision(&stores, batch).await;
                    self.record(&stores).await;
                }
                _ = resync.tick() => {
                    let now = Instant::now();
                    for pod in stores.pods.state() {
                        if pending::is_provisionable(&pod) {
                            batcher.add(pending::key(&pod), now);
                        }
                    }
                    self.record(&stores).await;
                    self.terminate_unregistered(&stores).await;
                }
            }
        }
    }

    async fn terminate_unregistered(&self, stores: &ClusterState) {
        let nodes = stores.nodes.state();
        let late = registration::unregistered(
            nodes.iter().map(|n| n.as_ref()),
            k8s_openapi::jiff::Timestamp::now(),
            self.settings.registration_timeout,
        );
        let api: Api<Node> = Api::all(self.client.clone());
        for u in late {
            tracing::warn!(node = %u.node, instance = ?u.instance_id, timeout = ?self.settings.registration_timeout,
                "node never became Ready; terminating its instance");
            if let Some(id) = &u.instance_id
                && let Err(error) = self.cloud.terminate(std::slice::from_ref(id)).await
            {
                tracing::warn!(%error, instance = %id, "could not terminate an unregistered instance");
                continue;
            }
            if let Err(error) = api.delete(&u.node, &Default::default()).await {
                tracing::warn!(%error, node = %u.node, "could not delete an unregistered node");
            }
        }
    }

    /// Cost and usage gauges, and each provisioner's status where it changed.
    async fn record(&self, stores: &ClusterState) {
        let nodes = stores.nodes.state();
        cost::record(&self.metrics, nodes.iter().map(|n| n.as_ref()));
        let usage = usage::usage_by_provisioner(nodes.iter().map(|n| n.as_ref()));
        let provisioners = self.provisioners(stores);
        usage::record(&self.metrics, &provisioners, &usage);
        let api: Api<Provisioner> = Api::all(self.client.clone());
        for p in &provisioners {
            let wanted = usage::with_usage(p, usage.get(p.name()))
                .status
                .unwrap_or_default();
            let current = p.status.clone().unwrap_or_default();
            if current.node_count == wanted.node_count && current.resources == wanted.resources {
                continue;
            }
            let patch = serde_json::json!({"status": {"nodeCount": wanted.node_count, "resources": wanted.resources}});
            if let Err(error) = api
                .patch_status(p.name(), &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                tracing::warn!(%error, provisioner = p.name(), "could not update the provisioner status");
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
