//! From a planned new node to a CreateFleet launch: subnets and security groups by the
//! provisioner's selectors, the AMI family's image per architecture, the bootstrap user data that
//! joins the node to the cluster, one launch template per distinct node configuration, then the
//! cloud layer's [`Launcher`] (ICE cache, retry, spot -> on-demand).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use karpenter_core::api::{AwsNodeTemplate, labels};
use karpenter_core::bootstrap::ami_selector::{self, Image};
use karpenter_core::bootstrap::{self, AmiFamily, NodeSetup};
use karpenter_core::scheduling::NewNode;

use super::cluster_facts::ClusterFactsSource;
use crate::cloud::launch_template::NodeConfig;
use crate::cloud::{
    Arch, CapacityType, Catalog, CloudError, CloudProvider, LaunchReport, LaunchRequest, Launcher,
    tags,
};
use crate::crd::Provisioner;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("provisioner {provisioner} has no provider block: set spec.provider.subnetSelector")]
    NoProvider { provisioner: String },
    #[error(
        "provisioner {provisioner}: spec.provider.subnetSelector {selector:?} matches no subnet"
    )]
    NoSubnets {
        provisioner: String,
        selector: BTreeMap<String, String>,
    },
    #[error("provisioner {provisioner}: none of the planned instance types is in the catalog")]
    NoInstanceTypes { provisioner: String },
    /// Nothing is launched that could not join the cluster.
    #[error("provisioner {provisioner}: cannot write the node bootstrap: {message}")]
    Bootstrap {
        provisioner: String,
        message: String,
    },
    #[error("{step}: {source}")]
    Cloud {
        step: &'static str,
        #[source]
        source: CloudError,
    },
}

impl LaunchError {
    /// The AWS error code when there is one, else a code of ours; the metric label and the
    /// word after `Provisioning failed:` in the log.
    pub fn code(&self) -> String {
        match self {
            LaunchError::NoProvider { .. } => "NoProviderBlock".into(),
            LaunchError::NoSubnets { .. } => "NoMatchingSubnet".into(),
            LaunchError::NoInstanceTypes { .. } => "NoInstanceType".into(),
            LaunchError::Bootstrap { .. } => "NodeBootstrap".into(),
            LaunchError::Cloud { source, .. } => source
                .code()
                .map_or_else(|| source.metric_label().to_string(), str::to_string),
        }
    }
}

fn cloud(step: &'static str) -> impl FnOnce(CloudError) -> LaunchError {
    move |source| LaunchError::Cloud { step, source }
}

pub struct NodeLauncher {
    cloud: Arc<dyn CloudProvider>,
    launcher: Launcher,
    cluster_facts: ClusterFactsSource,
    cluster: String,
    kubernetes_version: String,
    spot_quota_fallback: bool,
}

impl NodeLauncher {
    pub fn new(
        cloud: Arc<dyn CloudProvider>,
        launcher: Launcher,
        cluster_facts: ClusterFactsSource,
        cluster: &str,
        kubernetes_version: &str,
        spot_quota_fallback: bool,
    ) -> Self {
        NodeLauncher {
            cloud,
            launcher,
            cluster_facts,
            cluster: cluster.to_string(),
            kubernetes_version: kubernetes_version.to_string(),
            spot_quota_fallback,
        }
    }

    /// The newest image per architecture the provisioner's amiSelector matches; None without
    /// an amiSelector (the AMI family's recommended image is used).
    async fn selected_images(
        &self,
        provider: &AwsNodeTemplate,
    ) -> Result<Option<BTreeMap<String, Image>>, LaunchError> {
        if provider.ami_selector.is_empty() {
            return Ok(None);
        }
        let images = self
            .cloud
            .images(&ami_selector::query(&provider.ami_selector))
            .await
            .map_err(cloud("finding images by amiSelector"))?;
        Ok(Some(ami_selector::newest_per_architecture(&images)))
    }

    /// The image a node of `arch` boots from: the selected one, or the family's recommended
    /// one. None when an amiSelector matches nothing for `arch`.
    async fn image(
        &self,
        family: AmiFamily,
        selected: Option<&BTreeMap<String, Image>>,
        arch: Arch,
    ) -> Result<Option<String>, LaunchError> {
        match selected {
            Some(s) => Ok(s.get(arch.aws_name()).map(|i| i.id.clone())),
            None => self
                .cloud
                .ami(family, &self.kubernetes_version, arch)
                .await
                .map(Some)
                .map_err(cloud("resolving the AMI")),
        }
    }

    /// The image a node of `arch` launched for `provisioner` now would boot from; a node
    /// running another has drifted. None when nothing would launch for `arch`.
    pub async fn current_image(
        &self,
        provisioner: &Provisioner,
        arch: Arch,
    ) -> Result<Option<String>, LaunchError> {
        let Some(provider) = provisioner.spec.provider.as_ref() else {
            return Ok(None);
        };
        let family = AmiFamily::parse(provider.ami_family.as_deref()).map_err(|e| {
            LaunchError::Bootstrap {
                provisioner: provisioner.name().to_string(),
                message: format!("spec.provider.amiFamily: {e}"),
            }
        })?;
        let selected = self.selected_images(provider).await?;
        self.image(family, selected.as_ref(), arch).await
    }

    pub async fn launch(
        &self,
        node: &NewNode,
        provisioner: &Provisioner,
        catalog: &Catalog,
    ) -> Result<LaunchReport, LaunchError> {
        let name = provisioner.name().to_string();
        let provider =
            provisioner
                .spec
                .provider
                .as_ref()
                .ok_or_else(|| LaunchError::NoProvider {
                    provisioner: name.clone(),
                })?;
        let bootstrap_error = |message: String| LaunchError::Bootstrap {
            provisioner: name.clone(),
            message,
        };
        let family = AmiFamily::parse(provider.ami_family.as_deref())
            .map_err(|e| bootstrap_error(format!("spec.provider.amiFamily: {e}")))?;
        let user_data = match family {
            AmiFamily::Custom => provider.user_data.clone(),
            _ => {
                let facts = self.cluster_facts.facts().await.map_err(bootstrap_error)?;
                let setup = NodeSetup {
                    labels: node.labels.clone(),
                    taints: node
                        .taints
                        .iter()
                        .chain(&node.startup_taints)
                        .cloned()
                        .collect(),
                    kubelet: provisioner.spec.kubelet_configuration.clone(),
                };
                bootstrap::user_data(family, &facts, &setup, provider.user_data.as_deref())
                    .map_err(|e| bootstrap_error(format!("spec.provider.{e}")))?
            }
        };
        let subnets = self
            .cloud
            .subnets(&provider.subnet_selector)
            .await
            .map_err(cloud("finding subnets"))?;
        if subnets.is_empty() {
            return Err(LaunchError::NoSubnets {
                provisioner: name,
                selector: provider.subnet_selector.clone(),
            });
        }
        // The seed's Provisioner selects subnets only; its security groups are then found by the
        // same discovery tag, as the anchor's getting-started tags both.
        let sg_selector = if provider.security_group_selector.is_empty() {
            &provider.subnet_selector
        } else {
            &provider.security_group_selector
        };
        let security_groups = self
            .cloud
            .security_groups(sg_selector)
            .await
            .map_err(cloud("finding security groups"))?;
        let selected = self.selected_images(provider).await?;
        let planned: Vec<_> = node
            .instance_types
            .iter()
            .filter_map(|o| catalog.get(&o.name).cloned())
            .collect();
        // Selected images decide which architectures can launch.
        let instance_types: Vec<_> = planned
            .iter()
            .filter(|t| {
                selected
                    .as_ref()
                    .is_none_or(|s| s.contains_key(t.arch.aws_name()))
            })
            .cloned()
            .collect();
        if instance_types.is_empty() {
            if selected.is_some() && !planned.is_empty() {
                let archs: BTreeSet<&str> = planned.iter().map(|t| t.arch.aws_name()).collect();
                return Err(bootstrap_error(format!(
                    "spec.provider.amiSelector {:?} matches no available image for {}",
                    provider.ami_selector,
                    archs.into_iter().collect::<Vec<_>>().join(", ")
                )));
            }
            return Err(LaunchError::NoInstanceTypes { provisioner: name });
        }
        let instance_tags = tags::instance_tags(&self.cluster, &name, &provider.tags);
        let archs: BTreeSet<Arch> = instance_types.iter().map(|t| t.arch).collect();
        let mut launch_templates = BTreeMap::new();
        for arch in archs {
            let image_id = match self.image(family, selected.as_ref(), arch).await? {
                Some(id) => id,
                None => continue,
            };
            let config = NodeConfig {
                image_id,
                security_group_ids: security_groups.iter().map(|g| g.id.clone()).collect(),
                instance_profile: provider.instance_profile.clone(),
                user_data: user_data.clone(),
                metadata_options: provider.metadata_options.clone(),
                block_device_mappings: provider.block_device_mappings.clone(),
                tags: instance_tags.clone(),
            };
            let template = self
                .cloud
                .ensure_launch_template(&config)
                .await
                .map_err(cloud("creating the launch template"))?;
            launch_templates.insert(arch, template.name);
        }
        let zones = node
            .requirements
            .get(labels::ZONE)
            .and_then(|r| r.finite_values())
            .cloned();
        let mut capacity_types = BTreeSet::new();
        capacity_types.extend(CapacityType::parse(&node.capacity_type));
        if node.on_demand_fallback {
            capacity_types.insert(CapacityType::OnDemand);
        }
        let request = LaunchRequest {
            instance_types,
            launch_templates,
            subnets,
            zones,
            capacity_types,
            spot_quota_fallback: self.spot_quota_fallback,
            tags: instance_tags,
        };
        Ok(self.launcher.launch(&request).await)
    }
}
