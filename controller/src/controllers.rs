//! The controllers the leader runs, side by side, on one shared cluster state; built before
//! leadership so that a standby fails fast on bad configuration, started only once this replica
//! leads. All the wiring is here.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use k8s_openapi::api::core::v1::Node;
use tokio::task::JoinSet;

use crate::clock::{Clock, SystemClock};
use crate::cloud::{Arch, AwsCloud, AwsSettings, CloudProvider, UnavailableOfferings};
use crate::crd::Provisioner;
use crate::disruption::Disruption;
use crate::disruption::consolidate::ClusterView;
use crate::disruption::image_drift::CurrentImages;
use crate::interruption::act::{Handler, REPLACEMENT_TIMEOUT};
use crate::interruption::metrics::InterruptionMetrics;
use crate::interruption::processor::Processor;
use crate::interruption::queue::{Queue, SqsQueue};
use crate::metrics::Metrics;
use crate::provisioning::{Provisioning, ProvisioningError};
use crate::settings::Settings;
use crate::state::{ChangeStream, ClusterState, WatchEnded};
use crate::termination::Termination;
use crate::termination::ops::{KubeNodes, KubePods, NodeOps, PodOps};

/// Consolidation's view of the cluster: the provisioner's own scheduling input, without pending
/// pods, over the shared state; and, for AMI drift, the image its launch path would pick.
struct ProvisioningView {
    provisioning: Arc<Provisioning>,
    state: ClusterState,
}

#[async_trait::async_trait]
impl ClusterView for ProvisioningView {
    async fn view(&self) -> Option<karpenter_core::scheduling::SchedulingInput> {
        self.provisioning.cluster_view(&self.state).await
    }
}

#[async_trait::async_trait]
impl CurrentImages for ProvisioningView {
    async fn current_image(
        &self,
        provisioner: &Provisioner,
        arch: Arch,
    ) -> Result<Option<String>, String> {
        self.provisioning
            .launcher
            .current_image(provisioner, arch)
            .await
            .map_err(|e| e.to_string())
    }
}

/// How often the instance catalog (types, offerings, prices) is fetched again.
pub const CATALOG_REFRESH: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ControllersError {
    #[error("AWS: {0}")]
    Cloud(#[from] crate::cloud::CloudError),
    #[error(transparent)]
    Provisioning(#[from] ProvisioningError),
    #[error(transparent)]
    Watch(#[from] WatchEnded),
}

pub struct Controllers {
    client: kube::Client,
    /// The one clock every controller reads.
    clock: Arc<dyn Clock>,
    settings: Settings,
    metrics: Metrics,
    /// The one AWS SDK configuration (region, credentials, endpoints) every client is built from.
    sdk: SdkConfig,
    aws: Arc<AwsCloud>,
    ice: Arc<UnavailableOfferings>,
    provisioning: Arc<Provisioning>,
}

impl Controllers {
    pub async fn new(
        client: kube::Client,
        settings: Settings,
        metrics: Metrics,
        identity: Option<String>,
    ) -> Result<Self, ControllersError> {
        let aws_settings = AwsSettings::new(settings.cluster_name.clone());
        let sdk = AwsCloud::sdk_config(&aws_settings).await;
        let aws = Arc::new(AwsCloud::new(&sdk, aws_settings)?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ice = Arc::new(UnavailableOfferings::new(
            settings.ice_cache_ttl,
            clock.clone(),
        ));
        let cloud: Arc<dyn CloudProvider> = aws.clone();
        let provisioning = Provisioning::new(
            client.clone(),
            settings.clone(),
            metrics.clone(),
            cloud,
            ice.clone(),
            identity,
        )
        .await?;
        Ok(Controllers {
            client,
            clock,
            settings,
            metrics,
            sdk,
            aws,
            ice,
            provisioning: Arc::new(provisioning),
        })
    }

    /// Runs until a controller stops for good.
    pub async fn run(self) -> Result<(), ControllersError> {
        let refresh = self.aws.spawn_catalog_refresh(CATALOG_REFRESH);
        // Fetching early keeps the first batch from waiting on DescribeInstanceTypes.
        let warm = {
            let aws = self.aws.clone();
            tokio::spawn(async move {
                match aws.catalog().await {
                    Ok(c) => {
                        tracing::info!(types = c.len(), region = %c.region, "instance catalog loaded")
                    }
                    Err(error) => {
                        tracing::warn!(%error, "instance catalog not loaded yet; will retry on the first batch")
                    }
                }
            })
        };
        let (state, changes) = ClusterState::watch(&self.client);
        state.ready().await?;
        tracing::info!("caches synced");
        // Before the first batch, or the pods a previous leader launched for are launched for again.
        self.provisioning.adopt_unrecorded(&state).await;
        let mut ending = self.node_ending_controllers(&state, changes.nodes).await;
        let result = tokio::select! {
            result = self.provisioning.clone().run(state, changes.pods) => result,
            _ = async { while ending.join_next().await.is_some() {} } => {
                tracing::error!("the node-ending controllers stopped");
                Err(ProvisioningError::WatchEnded("Node"))
            }
        };
        ending.abort_all();
        refresh.abort();
        warm.abort();
        Ok(result?)
    }

    /// Everything that ends nodes: the termination finalizer, the deleted-provisioner sweep,
    /// emptiness and expiry, the interruption queue processor and the cloud garbage collector.
    /// They share the provisioner's unavailable-offerings cache, so a spot interruption's pool is
    /// avoided by the replacement launch. One ending does not stop the others.
    async fn node_ending_controllers(
        &self,
        state: &ClusterState,
        node_changes: ChangeStream<Node>,
    ) -> JoinSet<()> {
        let (client, settings, metrics) = (&self.client, &self.settings, &self.metrics);
        let cloud: Arc<dyn CloudProvider> = self.aws.clone();
        let mut tasks = JoinSet::new();
        // The seam the orchestration acts through; unit tests put their own cluster here.
        let nodes: Arc<dyn NodeOps> = Arc::new(KubeNodes::new(client.clone()));
        let pods: Arc<dyn PodOps> = Arc::new(KubePods(client.clone()));
        let termination = Arc::new(
            Termination::new(
                nodes.clone(),
                pods.clone(),
                cloud.clone(),
                self.clock.clone(),
                state.budgets.clone(),
                metrics.clone(),
            )
            .with_provisioners(state.provisioners.clone()),
        );
        tasks.spawn(termination.run(state.nodes.clone(), node_changes));
        tasks.spawn(crate::termination::provisioner_gone::run(
            client.clone(),
            state.nodes.clone(),
            state.provisioners.clone(),
        ));
        // Karpenter's window: twice the longest batch, at least 10 s.
        let window = (settings.batch_max_duration * 2).max(Duration::from_secs(10));
        let view = Arc::new(ProvisioningView {
            provisioning: self.provisioning.clone(),
            state: state.clone(),
        });
        let disruption = Disruption::new(nodes.clone(), pods.clone(), metrics, self.clock.clone())
            .with_nominations(self.provisioning.nominated_nodes(), window)
            .with_consolidation(view.clone())
            .with_image_drift(view);
        tasks.spawn(disruption.run(
            state.nodes.clone(),
            state.pods.clone(),
            state.provisioners.clone(),
        ));
        tasks.spawn(crate::gc::run(
            cloud,
            state.nodes.clone(),
            settings.registration_timeout,
        ));
        let Some(queue) = &settings.interruption_queue else {
            tracing::info!("no interruption queue configured; interruption handling is off");
            return tasks;
        };
        match SqsQueue::connect(&self.sdk, queue).await {
            Err(error) => {
                tracing::error!(%error, "interruption queue unreachable; interruption handling is off")
            }
            Ok(q) => {
                let workers = settings.interruption_workers;
                tracing::info!(queue = %q.url(), workers, "interruption: polling the queue");
                let im = InterruptionMetrics::register(metrics);
                let handler = Arc::new(Handler::new(
                    nodes,
                    pods,
                    state.nodes.clone(),
                    self.ice.clone(),
                    im.clone(),
                    REPLACEMENT_TIMEOUT,
                ));
                let queue: Arc<dyn Queue> = Arc::new(q);
                let processor = Arc::new(Processor::new(
                    queue,
                    handler,
                    settings.interruption_actions,
                    im,
                ));
                tasks.spawn(processor.run(workers));
            }
        }
        tasks
    }
}
