//! Our launch templates: created once per node configuration, listed and deleted by cluster tag.

use super::AwsCloud;
use super::network::tag_map;
use super::sdk_error::from_sdk;
use crate::cloud::error::CloudError;
use crate::cloud::launch_template::{LaunchTemplate, NodeConfig};
use crate::cloud::tags;
use aws_sdk_ec2::types::{
    self as ec2, Filter, LaunchTemplateBlockDeviceMappingRequest,
    LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataProtocolIpv6, LaunchTemplateTagSpecificationRequest,
    RequestLaunchTemplateData, ResourceType, Tag, TagSpecification, VolumeType,
};
use karpenter_core::api::{BlockDeviceMapping, MetadataOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

const GIB: i128 = 1 << 30;

/// Templates this process has seen exist, so a launch costs no DescribeLaunchTemplates call.
/// `creating` serialises the look-up-or-create path so that concurrent launches of one node
/// configuration (a batch launches its nodes at once) create its template once.
#[derive(Default)]
pub(super) struct KnownTemplates(
    Mutex<HashMap<String, LaunchTemplate>>,
    tokio::sync::Mutex<()>,
);

impl KnownTemplates {
    fn get(&self, name: &str) -> Option<LaunchTemplate> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }
    fn put(&self, t: LaunchTemplate) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(t.name.clone(), t);
    }
    fn forget(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}

pub(super) fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// IMDSv2 only, reachable from pods one hop away (hop limit 2), as the anchor defaults.
fn metadata_options(m: Option<&MetadataOptions>) -> LaunchTemplateInstanceMetadataOptionsRequest {
    let m = m.cloned().unwrap_or_default();
    LaunchTemplateInstanceMetadataOptionsRequest::builder()
        .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::from(
            m.http_endpoint.as_deref().unwrap_or("enabled"),
        ))
        .http_tokens(LaunchTemplateHttpTokensState::from(
            m.http_tokens.as_deref().unwrap_or("required"),
        ))
        .http_put_response_hop_limit(
            m.http_put_response_hop_limit
                .and_then(|h| i32::try_from(h).ok())
                .unwrap_or(2),
        )
        .http_protocol_ipv6(LaunchTemplateInstanceMetadataProtocolIpv6::from(
            m.http_protocol_ipv6.as_deref().unwrap_or("disabled"),
        ))
        .build()
}

/// The user's mappings, or a 20 GiB encrypted gp3 root volume (the AL2023 AMI's device).
fn block_devices(
    mappings: &[BlockDeviceMapping],
) -> Result<Vec<LaunchTemplateBlockDeviceMappingRequest>, CloudError> {
    if mappings.is_empty() {
        let ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
            .volume_size(20)
            .volume_type(VolumeType::Gp3)
            .encrypted(true)
            .delete_on_termination(true)
            .build();
        return Ok(vec![
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name("/dev/xvda")
                .ebs(ebs)
                .build(),
        ]);
    }
    mappings
        .iter()
        .map(|m| {
            let ebs = match &m.ebs {
                None => None,
                Some(e) => {
                    let size_gib = match &e.volume_size {
                        None => None,
                        Some(q) => {
                            let bytes = q.units_ceil().map_err(|err| {
                                CloudError::invalid_request(format!(
                                    "blockDeviceMappings volumeSize: {err}"
                                ))
                            })?;
                            Some(i32::try_from((bytes + GIB - 1) / GIB).map_err(|_| {
                                CloudError::invalid_request(format!(
                                    "blockDeviceMappings volumeSize {} is too large",
                                    q.as_str()
                                ))
                            })?)
                        }
                    };
                    Some(
                        LaunchTemplateEbsBlockDeviceRequest::builder()
                            .set_delete_on_termination(e.delete_on_termination)
                            .set_encrypted(e.encrypted)
                            .set_iops(e.iops.and_then(|v| i32::try_from(v).ok()))
                            .set_kms_key_id(e.kms_key_id.clone())
                            .set_snapshot_id(e.snapshot_id.clone())
                            .set_throughput(e.throughput.and_then(|v| i32::try_from(v).ok()))
                            .set_volume_size(size_gib)
                            .set_volume_type(e.volume_type.as_deref().map(VolumeType::from))
                            .build(),
                    )
                }
            };
            Ok(LaunchTemplateBlockDeviceMappingRequest::builder()
                .set_device_name(m.device_name.clone())
                .set_ebs(ebs)
                .build())
        })
        .collect()
}

/// `tags` also go on the network interfaces the instances get: CreateFleet cannot tag those itself,
/// and the controller's policy allows creating only resources tagged for the cluster.
pub(super) fn template_data(
    config: &NodeConfig,
    tags: &BTreeMap<String, String>,
) -> Result<RequestLaunchTemplateData, CloudError> {
    Ok(RequestLaunchTemplateData::builder()
        .image_id(&config.image_id)
        .set_security_group_ids(Some(config.security_group_ids.clone()))
        .set_iam_instance_profile(config.instance_profile.as_ref().map(|p| {
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(p)
                .build()
        }))
        .set_user_data(
            config
                .user_data
                .as_ref()
                .map(aws_smithy_types::base64::encode),
        )
        .metadata_options(metadata_options(config.metadata_options.as_ref()))
        .set_block_device_mappings(Some(block_devices(&config.block_device_mappings)?))
        .tag_specifications(
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::NetworkInterface)
                .set_tags(Some(ec2_tags(tags)))
                .build(),
        )
        .build())
}

fn from_ec2(t: &ec2::LaunchTemplate) -> Option<LaunchTemplate> {
    Some(LaunchTemplate {
        id: t.launch_template_id()?.to_string(),
        name: t.launch_template_name()?.to_string(),
        created_at: t.create_time().and_then(|d| SystemTime::try_from(*d).ok()),
        tags: tag_map(t.tags()),
    })
}

impl AwsCloud {
    async fn describe_template(&self, name: &str) -> Result<Option<LaunchTemplate>, CloudError> {
        match self
            .ec2
            .describe_launch_templates()
            .launch_template_names(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.launch_templates().iter().find_map(from_ec2)),
            Err(e) => match from_sdk("DescribeLaunchTemplates", e) {
                CloudError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    pub(super) async fn ensure_template(
        &self,
        config: &NodeConfig,
    ) -> Result<LaunchTemplate, CloudError> {
        let name = config.template_name(&self.settings.cluster_name);
        if let Some(t) = self.templates.get(&name) {
            return Ok(t);
        }
        let _creating = self.templates.1.lock().await;
        // Another launch may have found or created it while this one waited.
        if let Some(t) = self.templates.get(&name) {
            return Ok(t);
        }
        if let Some(t) = self.describe_template(&name).await? {
            self.templates.put(t.clone());
            return Ok(t);
        }
        let mut template_tags = config.tags.clone();
        template_tags.extend(tags::cluster_tags(&self.settings.cluster_name));
        let created = self
            .ec2
            .create_launch_template()
            .launch_template_name(&name)
            .launch_template_data(template_data(config, &template_tags)?)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::LaunchTemplate)
                    .set_tags(Some(ec2_tags(&template_tags)))
                    .build(),
            )
            .send()
            .await;
        let template = match created {
            Ok(out) => {
                let t = out.launch_template().and_then(from_ec2);
                if let Some(t) = &t {
                    tracing::info!(name = %t.name, id = %t.id, "created launch template");
                }
                t
            }
            Err(e) => {
                let err = from_sdk("CreateLaunchTemplate", e);
                // Another replica (or an earlier attempt whose answer was lost) created it first.
                if err.code().is_some_and(|c| c.contains("AlreadyExists")) {
                    self.describe_template(&name).await?
                } else {
                    return Err(err);
                }
            }
        };
        let template = template.ok_or_else(|| {
            CloudError::aws(
                "CreateLaunchTemplate",
                None,
                format!("{name}: no template in the answer"),
            )
        })?;
        self.templates.put(template.clone());
        Ok(template)
    }

    pub(super) async fn list_templates(&self) -> Result<Vec<LaunchTemplate>, CloudError> {
        let found = self
            .ec2
            .describe_launch_templates()
            .filters(
                Filter::builder()
                    .name(format!("tag:{}", tags::CLUSTER))
                    .values(&self.settings.cluster_name)
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk("DescribeLaunchTemplates", e))?;
        let mut out: Vec<LaunchTemplate> = found.iter().filter_map(from_ec2).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub(super) async fn delete_template(&self, name: &str) -> Result<(), CloudError> {
        self.templates.forget(name);
        match self
            .ec2
            .delete_launch_template()
            .launch_template_name(name)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(name, "deleted launch template");
                Ok(())
            }
            Err(e) => match from_sdk("DeleteLaunchTemplate", e) {
                CloudError::NotFound { .. } => Ok(()),
                // Some EC2 implementations (moto) answer a missing name with another code; what
                // matters is whether the template is gone.
                other => match self.describe_template(name).await? {
                    None => Ok(()),
                    Some(_) => Err(other),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_core::api::{BlockDevice, Quantity};

    #[test]
    fn defaults_are_imdsv2_and_an_encrypted_gp3_root_volume() -> Result<(), CloudError> {
        let tags = BTreeMap::from([("karpenter.sh/cluster".to_string(), "demo".to_string())]);
        let data = template_data(
            &NodeConfig {
                image_id: "ami-1".into(),
                user_data: Some("hi".into()),
                ..NodeConfig::default()
            },
            &tags,
        )?;
        let md = data.metadata_options();
        assert_eq!(
            md.and_then(|m| m.http_tokens()).map(|t| t.as_str()),
            Some("required")
        );
        assert_eq!(md.and_then(|m| m.http_put_response_hop_limit()), Some(2));
        let root = &data.block_device_mappings()[0];
        assert_eq!(root.device_name(), Some("/dev/xvda"));
        assert_eq!(root.ebs().and_then(|e| e.volume_size()), Some(20));
        assert_eq!(data.user_data(), Some("aGk="));
        let nic = &data.tag_specifications()[0];
        assert_eq!(nic.resource_type(), Some(&ResourceType::NetworkInterface));
        assert_eq!(nic.tags()[0].key(), Some("karpenter.sh/cluster"));
        Ok(())
    }

    #[test]
    fn volume_sizes_are_rounded_up_to_whole_gib() -> Result<(), CloudError> {
        let mapping = BlockDeviceMapping {
            device_name: Some("/dev/xvdb".into()),
            ebs: Some(BlockDevice {
                volume_size: Some(Quantity::new("100G")),
                ..BlockDevice::default()
            }),
        };
        let data = template_data(
            &NodeConfig {
                block_device_mappings: vec![mapping],
                ..NodeConfig::default()
            },
            &BTreeMap::new(),
        )?;
        // 100 GB = 93.13 GiB -> 94.
        assert_eq!(
            data.block_device_mappings()[0]
                .ebs()
                .and_then(|e| e.volume_size()),
            Some(94)
        );
        Ok(())
    }
}
