//! The controllers the leader runs, side by side, on one shared cluster state; built before
//! leadership so that a standby fails fast on bad configuration, started only once this replica
//! leads. All the wiring is here.

use std::sync::Arc;
use std::time::Duration;

use crate::cloud::{AwsCloud, AwsSettings, CloudProvider, SystemClock, UnavailableOfferings};
use crate::metrics::Metrics;
use crate::provisioning::{Provisioning, ProvisioningError};
use crate::settings::Settings;
use crate::state::{ClusterState, WatchEnded};

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
    settings: Settings,
    metrics: Metrics,
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
        let aws =
            Arc::new(AwsCloud::from_env(AwsSettings::new(settings.cluster_name.clone())).await?);
        let ice = Arc::new(UnavailableOfferings::new(
            settings.ice_cache_ttl,
            Arc::new(SystemClock),
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
            settings,
            metrics,
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
        // Termination, emptiness/expiry, interruption and garbage collection: everything that
        // ends nodes. They share the provisioner's unavailable-offerings cache, so a spot
        // interruption's pool is avoided by the replacement launch.
        let (state, changes) = ClusterState::watch(&self.client);
        state.ready().await?;
        tracing::info!("caches synced");
        let cloud: Arc<dyn CloudProvider> = self.aws.clone();
        let mut lifecycle = tokio::spawn(crate::termination::lifecycle::run(
            self.client.clone(),
            self.settings.clone(),
            self.metrics.clone(),
            cloud,
            self.ice.clone(),
            self.provisioning.nominated_nodes(),
            state.clone(),
            changes.nodes,
        ));
        let result = tokio::select! {
            result = self.provisioning.clone().run(state, changes.pods) => result,
            ended = &mut lifecycle => {
                if let Err(error) = ended {
                    tracing::error!(%error, "the node lifecycle controllers stopped");
                }
                Err(ProvisioningError::WatchEnded("Node"))
            }
        };
        lifecycle.abort();
        refresh.abort();
        warm.abort();
        Ok(result?)
    }
}
