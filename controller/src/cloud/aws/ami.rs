//! The AMI AWS recommends for an AMI family, Kubernetes version and architecture, from AWS's
//! public SSM parameter, remembered for a while (it changes on AMI releases, a few times a month).

use super::AwsCloud;
use super::sdk_error::from_sdk;
use crate::clock::Clock;
use crate::cloud::error::CloudError;
use crate::cloud::types::Arch;
use aws_sdk_ec2::types::{self as ec2, Filter};
use karpenter_core::bootstrap::AmiFamily;
use karpenter_core::bootstrap::ami_selector::{Image, ImageQuery};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The family's public parameter; None for Custom, whose image an amiSelector names.
pub fn parameter_name(family: AmiFamily, kubernetes_version: &str, arch: Arch) -> Option<String> {
    let arch = arch.aws_name();
    match family {
        AmiFamily::Al2023 => Some(format!(
            "/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/{arch}/standard/recommended/image_id"
        )),
        AmiFamily::Bottlerocket => Some(format!(
            "/aws/service/bottlerocket/aws-k8s-{kubernetes_version}/{arch}/latest/image_id"
        )),
        AmiFamily::Custom => None,
    }
}

type AmiKey = (AmiFamily, String, Arch);

pub(super) struct AmiCache {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<AmiKey, (String, Instant)>>,
}

impl AmiCache {
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        AmiCache {
            ttl,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &AmiKey) -> Option<String> {
        let now = self.clock.now();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(id, _)| id.clone())
    }

    fn put(&self, key: AmiKey, id: String) {
        let until = self.clock.now() + self.ttl;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert(key, (id, until));
    }
}

impl AwsCloud {
    pub(super) async fn resolve_ami(
        &self,
        family: AmiFamily,
        kubernetes_version: &str,
        arch: Arch,
    ) -> Result<String, CloudError> {
        let key = (family, kubernetes_version.to_string(), arch);
        if let Some(id) = self.amis.get(&key) {
            return Ok(id);
        }
        let Some(name) = parameter_name(family, kubernetes_version, arch) else {
            return Err(CloudError::invalid_request(
                "amiFamily Custom needs an amiSelector naming the image, which this release does not support yet; use AL2023 or Bottlerocket",
            ));
        };
        let out = self
            .ssm
            .get_parameter()
            .name(&name)
            .send()
            .await
            .map_err(|e| match from_sdk("GetParameter", e) {
                CloudError::NotFound { .. } => CloudError::not_found(
                    "SSM parameter",
                    format!("{name}: no {family} AMI is published for Kubernetes {kubernetes_version} ({arch})"),
                ),
                other => other,
            })?;
        let id = out
            .parameter()
            .and_then(|p| p.value())
            .filter(|v| v.starts_with("ami-"))
            .ok_or_else(|| {
                CloudError::aws("GetParameter", None, format!("{name} holds no AMI id"))
            })?
            .to_string();
        self.amis.put(key, id.clone());
        Ok(id)
    }
}

impl AwsCloud {
    /// Available images matching an amiSelector's query (DescribeImages, every page).
    pub(super) async fn describe_images(&self, q: &ImageQuery) -> Result<Vec<Image>, CloudError> {
        let mut filters = vec![Filter::builder().name("state").values("available").build()];
        if let Some(name) = &q.name {
            filters.push(Filter::builder().name("name").values(name).build());
        }
        for (key, value) in &q.tags {
            filters.push(if value == "*" {
                Filter::builder().name("tag-key").values(key).build()
            } else {
                Filter::builder()
                    .name(format!("tag:{key}"))
                    .values(value)
                    .build()
            });
        }
        let images: Vec<ec2::Image> = self
            .ec2
            .describe_images()
            .set_image_ids((!q.ids.is_empty()).then(|| q.ids.clone()))
            .set_owners((!q.owners.is_empty()).then(|| q.owners.clone()))
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk("DescribeImages", e))?;
        Ok(images
            .iter()
            .filter_map(|i| {
                Some(Image {
                    id: i.image_id()?.to_string(),
                    architecture: i.architecture()?.as_str().to_string(),
                    creation_date: i.creation_date().unwrap_or_default().to_string(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn the_parameter_is_the_familys_own_for_the_arch() {
        assert_eq!(
            parameter_name(AmiFamily::Al2023, "1.35", Arch::Arm64).as_deref(),
            Some(
                "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/arm64/standard/recommended/image_id"
            )
        );
        assert_eq!(
            parameter_name(AmiFamily::Bottlerocket, "1.35", Arch::Amd64).as_deref(),
            Some("/aws/service/bottlerocket/aws-k8s-1.35/x86_64/latest/image_id")
        );
        assert_eq!(parameter_name(AmiFamily::Custom, "1.35", Arch::Amd64), None);
    }

    #[test]
    fn a_resolved_ami_is_reused_until_its_ttl_passes() {
        let clock = ManualClock::new();
        let cache = AmiCache::new(Duration::from_secs(300), Arc::new(clock.clone()));
        let key = |arch| (AmiFamily::Al2023, "1.35".to_string(), arch);
        cache.put(key(Arch::Amd64), "ami-1".into());
        assert_eq!(cache.get(&key(Arch::Amd64)).as_deref(), Some("ami-1"));
        assert_eq!(cache.get(&key(Arch::Arm64)), None);
        assert_eq!(
            cache.get(&(AmiFamily::Bottlerocket, "1.35".into(), Arch::Amd64)),
            None
        );
        clock.advance(Duration::from_secs(300));
        assert_eq!(cache.get(&key(Arch::Amd64)), None);
    }
}
