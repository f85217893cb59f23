//! The cloud seam: everything the controller asks of the cloud, and nothing more.
//!
//! One adapter talks to AWS ([`super::aws::AwsCloud`]); [`super::double::RecordingCloud`] records
//! calls and injects errors for unit tests of the logic above the seam. Every method's contract
//! below holds for both.

use super::catalog::Catalog;
use super::error::CloudError;
use super::fleet::{FleetRequest, FleetResult};
use super::launch_template::{LaunchTemplate, NodeConfig};
use super::types::{Arch, Instance, SecurityGroup, Subnet};
use async_trait::async_trait;
use karpenter_core::bootstrap::AmiFamily;
use karpenter_core::bootstrap::ami_selector::{Image, ImageQuery};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Tag selectors as the Provisioner's `subnetSelector` / `securityGroupSelector` write them:
/// every entry must match; a value of `*` matches any value of that key; a comma-separated value
/// matches any of its parts; the special key `aws-ids` selects by id (comma-separated).
pub type Selector = BTreeMap<String, String>;

/// What EKS DescribeCluster says of the cluster; each field may be absent (a cluster still
/// creating has no endpoint yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EksCluster {
    pub endpoint: Option<String>,
    /// Base64 of the CA's PEM bundle.
    pub ca_bundle: Option<String>,
    pub service_cidr: Option<String>,
}

pub const SELECTOR_IDS_KEY: &str = "aws-ids";
pub const SELECTOR_ANY_VALUE: &str = "*";

#[async_trait]
pub trait CloudProvider: Send + Sync {
    /// The region's instance catalog: types with their offerings and prices. Served from memory
    /// after the first successful fetch; refreshing is the adapter's business (see
    /// `AwsCloud::refresh_catalog`). Errors only when there has never been a catalog. Offerings
    /// are not filtered by the unavailable-offerings cache: callers combine the two.
    async fn catalog(&self) -> Result<Arc<Catalog>, CloudError>;

    /// Subnets matching every selector entry, sorted by id. An empty selector is an
    /// `InvalidRequest` (it would select every subnet in the account); no match is `Ok(vec![])`.
    async fn subnets(&self, selector: &Selector) -> Result<Vec<Subnet>, CloudError>;

    /// Security groups matching every selector entry, sorted by id. Same rules as `subnets`.
    async fn security_groups(&self, selector: &Selector) -> Result<Vec<SecurityGroup>, CloudError>;

    /// The AMI id AWS recommends for `family` nodes of `kubernetes_version` ("1.35") and `arch`:
    /// the SSM parameter
    /// `/aws/service/eks/optimized-ami/<ver>/amazon-linux-2023/<arch>/standard/recommended/image_id`
    /// (AL2023) or `/aws/service/bottlerocket/aws-k8s-<ver>/<arch>/latest/image_id`. A missing
    /// parameter (unknown version) is `NotFound`; Custom (no public parameter) `InvalidRequest`.
    async fn ami(
        &self,
        family: AmiFamily,
        kubernetes_version: &str,
        arch: Arch,
    ) -> Result<String, CloudError>;

    /// Available images matching an amiSelector's query, in no particular order.
    async fn images(&self, query: &ImageQuery) -> Result<Vec<Image>, CloudError>;

    /// The cluster's coordinates as EKS reports them (DescribeCluster of the cluster name).
    async fn cluster(&self) -> Result<EksCluster, CloudError>;

    /// The launch template for `config`, created (tagged for the cluster) when it does not exist.
    /// Idempotent and safe to race: the name is derived from the configuration, so a concurrent
    /// creator's template is found and returned.
    async fn ensure_launch_template(
        &self,
        config: &NodeConfig,
    ) -> Result<LaunchTemplate, CloudError>;

    /// Launch templates tagged for this cluster, sorted by name.
    async fn launch_templates(&self) -> Result<Vec<LaunchTemplate>, CloudError>;

    /// Deletes one of our launch templates by name. A template that is already gone is success.
    async fn delete_launch_template(&self, name: &str) -> Result<(), CloudError>;

    /// One CreateFleet call of type `instant` for one instance. EC2's per-pool failures come back
    /// in `FleetResult::errors` (even when an instance was launched elsewhere); only a failure of
    /// the call itself is an `Err`. Does not retry and does not touch the unavailable-offerings
    /// cache: [`super::launch::Launcher`] does both.
    async fn create_fleet(&self, request: &FleetRequest) -> Result<FleetResult, CloudError>;

    /// Instances tagged for this cluster that are not terminated (pending, running, stopping,
    /// stopped, shutting-down), sorted by id.
    async fn instances(&self) -> Result<Vec<Instance>, CloudError>;

    /// Terminates instances. Idempotent: ids that are already terminated or unknown to EC2 count
    /// as done. An empty list makes no call.
    async fn terminate(&self, instance_ids: &[String]) -> Result<(), CloudError>;
}
