//! The EKS-optimised AMI for a Kubernetes version and architecture, from AWS's public SSM
//! parameter, remembered for a while (it changes on AMI releases, a few times a month).

use super::AwsCloud;
use super::sdk_error::from_sdk;
use crate::cloud::clock::Clock;
use crate::cloud::error::CloudError;
use crate::cloud::types::Arch;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub fn parameter_name(kubernetes_version: &str, arch: Arch) -> String {
    format!(
        "/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/{}/standard/recommended/image_id",
        arch.aws_name()
    )
}

pub(super) struct AmiCache {
    ttl: Duration,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<(String, Arch), (String, Instant)>>,
}

impl AmiCache {
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        AmiCache {
            ttl,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, version: &str, arch: Arch) -> Option<String> {
        let now = self.clock.now();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&(version.to_string(), arch))
            .filter(|(_, until)| *until > now)
            .map(|(id, _)| id.clone())
    }

    fn put(&self, version: &str, arch: Arch, id: String) {
        let until = self.clock.now() + self.ttl;
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.insert((version.to_string(), arch), (id, until));
    }
}

impl AwsCloud {
    pub(super) async fn resolve_ami(
        &self,
        kubernetes_version: &str,
        arch: Arch,
    ) -> Result<String, CloudError> {
        if let Some(id) = self.amis.get(kubernetes_version, arch) {
            return Ok(id);
        }
        let name = parameter_name(kubernetes_version, arch);
        let out = self
            .ssm
            .get_parameter()
            .name(&name)
            .send()
            .await
            .map_err(|e| match from_sdk("GetParameter", e) {
                CloudError::NotFound { .. } => CloudError::not_found(
                    "SSM parameter",
                    format!("{name}: no EKS AMI is published for Kubernetes {kubernetes_version} ({arch})"),
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
        self.amis.put(kubernetes_version, arch, id.clone());
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::clock::ManualClock;

    #[test]
    fn the_parameter_is_the_al2023_standard_one_for_the_arch() {
        assert_eq!(
            parameter_name("1.35", Arch::Arm64),
            "/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/arm64/standard/recommended/image_id"
        );
        assert!(parameter_name("1.35", Arch::Amd64).contains("/x86_64/"));
    }

    #[test]
    fn a_resolved_ami_is_reused_until_its_ttl_passes() {
        let clock = ManualClock::new();
        let cache = AmiCache::new(Duration::from_secs(300), Arc::new(clock.clone()));
        cache.put("1.35", Arch::Amd64, "ami-1".into());
        assert_eq!(cache.get("1.35", Arch::Amd64).as_deref(), Some("ami-1"));
        assert_eq!(cache.get("1.35", Arch::Arm64), None);
        clock.advance(Duration::from_secs(300));
        assert_eq!(cache.get("1.35", Arch::Amd64), None);
    }
}
