//! The AWS adapter of the cloud seam: EC2, SSM and the Pricing API through the official SDK.
//!
//! Endpoints and credentials come from the SDK's own configuration chain, so `AWS_ENDPOINT_URL`
//! (and per-service `AWS_ENDPOINT_URL_EC2`, ...) point every client at an emulator with no code of
//! ours; the integration tests prove it against the local emulator.
//!
//! - [`catalog`]: DescribeInstanceTypes + offerings + prices -> [`Catalog`], cached and refreshed;
//! - [`prices`]: on-demand prices (Pricing GetProducts) and spot prices (DescribeSpotPriceHistory);
//! - [`network`]: subnets and security groups by selector;
//! - [`ami`]: the AMI family's SSM parameter;
//! - [`cluster`]: the cluster's endpoint, CA and Service CIDR (EKS DescribeCluster);
//! - [`launch_templates`], [`fleet`], [`instances`]: what we create, launch and terminate.

mod ami;
mod catalog;
mod cluster;
mod fleet;
mod instances;
mod launch_templates;
mod network;
mod prices;
mod sdk_error;

use super::catalog::Catalog;
use super::error::CloudError;
use super::fleet::{FleetRequest, FleetResult};
use super::launch_template::{LaunchTemplate, NodeConfig};
use super::provider::{CloudProvider, EksCluster, Selector};
use super::types::{Arch, Instance, SecurityGroup, Subnet};
use crate::clock::{Clock, SystemClock};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use karpenter_core::bootstrap::AmiFamily;
use karpenter_core::bootstrap::ami_selector::{Image, ImageQuery};
use std::sync::Arc;
use std::time::Duration;

pub use catalog::CatalogCache;

#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// Our resources are tagged with it and found by it.
    pub cluster_name: String,
    /// Overrides the region of the SDK configuration (AWS_REGION, profile, IMDS).
    pub region: Option<String>,
    /// How long a resolved AMI id is reused before SSM is asked again.
    pub ami_cache_ttl: Duration,
}

impl AwsSettings {
    pub fn new(cluster_name: impl Into<String>) -> Self {
        AwsSettings {
            cluster_name: cluster_name.into(),
            region: None,
            ami_cache_ttl: Duration::from_secs(300),
        }
    }
}

pub struct AwsCloud {
    settings: AwsSettings,
    region: String,
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    eks: aws_sdk_eks::Client,
    pricing: aws_sdk_pricing::Client,
    catalog: CatalogCache,
    amis: ami::AmiCache,
    templates: launch_templates::KnownTemplates,
}

impl AwsCloud {
    /// The SDK configuration from the environment (credentials, endpoint URLs; the region unless
    /// the settings name one).
    pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
        // The SDK waits forever for an answer by default: one call whose answer is lost would
        // stall the loop that made it for good. An attempt outlives SQS's 20 s long poll.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(100))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        loader.load().await
    }

    pub fn new(sdk: &SdkConfig, settings: AwsSettings) -> Result<Self, CloudError> {
        Self::with_clock(sdk, settings, Arc::new(SystemClock))
    }

    pub fn with_clock(
        sdk: &SdkConfig,
        settings: AwsSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CloudError> {
        let region = settings
            .region
            .clone()
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                CloudError::invalid_request(
                    "no AWS region: set AWS_REGION or the controller's region setting",
                )
            })?;
        if settings.cluster_name.is_empty() {
            return Err(CloudError::invalid_request(
                "the cluster name is empty; our resources are tagged with it",
            ));
        }
        let ec2_config = aws_sdk_ec2::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .build();
        let ssm_config = aws_sdk_ssm::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .build();
        let eks_config = aws_sdk_eks::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .build();
        let pricing_config = aws_sdk_pricing::config::Builder::from(sdk)
            .region(Region::new(karpenter_contract::pricing::pricing_region(
                &region,
            )))
            .build();
        Ok(AwsCloud {
            amis: ami::AmiCache::new(settings.ami_cache_ttl, clock),
            settings,
            region,
            ec2: aws_sdk_ec2::Client::from_conf(ec2_config),
            ssm: aws_sdk_ssm::Client::from_conf(ssm_config),
            eks: aws_sdk_eks::Client::from_conf(eks_config),
            pricing: aws_sdk_pricing::Client::from_conf(pricing_config),
            catalog: CatalogCache::default(),
            templates: launch_templates::KnownTemplates::default(),
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn cluster_name(&self) -> &str {
        &self.settings.cluster_name
    }

    /// Fetches the catalog now and replaces the cached one; on failure the old catalog stays.
    pub async fn refresh_catalog(&self) -> Result<Arc<Catalog>, CloudError> {
        let fresh = Arc::new(self.fetch_catalog().await?);
        self.catalog.store(fresh.clone());
        Ok(fresh)
    }

    /// Refreshes the catalog every `interval` until the returned task is aborted. Failures are
    /// logged and the previous catalog is kept.
    pub fn spawn_catalog_refresh(
        self: &Arc<Self>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                match this.refresh_catalog().await {
                    Ok(c) => tracing::debug!(types = c.len(), "instance catalog refreshed"),
                    Err(e) => {
                        tracing::warn!(error = %e, "instance catalog refresh failed; keeping the previous one")
                    }
                }
            }
        })
    }
}

#[async_trait]
impl CloudProvider for AwsCloud {
    async fn catalog(&self) -> Result<Arc<Catalog>, CloudError> {
        if let Some(c) = self.catalog.current() {
            return Ok(c);
        }
        // One fetch for all first callers: the others wait here and then find it cached.
        let _guard = self.catalog.first_fetch().await;
        if let Some(c) = self.catalog.current() {
            return Ok(c);
        }
        self.refresh_catalog().await
    }

    async fn subnets(&self, selector: &Selector) -> Result<Vec<Subnet>, CloudError> {
        self.describe_subnets(selector).await
    }

    async fn security_groups(&self, selector: &Selector) -> Result<Vec<SecurityGroup>, CloudError> {
        self.describe_security_groups(selector).await
    }

    async fn ami(
        &self,
        family: AmiFamily,
        kubernetes_version: &str,
        arch: Arch,
    ) -> Result<String, CloudError> {
        self.resolve_ami(family, kubernetes_version, arch).await
    }

    async fn images(&self, query: &ImageQuery) -> Result<Vec<Image>, CloudError> {
        self.describe_images(query).await
    }

    async fn cluster(&self) -> Result<EksCluster, CloudError> {
        self.describe_cluster().await
    }

    async fn ensure_launch_template(
        &self,
        config: &NodeConfig,
    ) -> Result<LaunchTemplate, CloudError> {
        self.ensure_template(config).await
    }

    async fn launch_templates(&self) -> Result<Vec<LaunchTemplate>, CloudError> {
        self.list_templates().await
    }

    async fn delete_launch_template(&self, name: &str) -> Result<(), CloudError> {
        self.delete_template(name).await
    }

    async fn create_fleet(&self, request: &FleetRequest) -> Result<FleetResult, CloudError> {
        self.create_instant_fleet(request).await
    }

    async fn instances(&self) -> Result<Vec<Instance>, CloudError> {
        self.describe_our_instances().await
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), CloudError> {
        self.terminate_instances(instance_ids).await
    }
}
