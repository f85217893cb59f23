//! The cluster coordinates nodes bootstrap with: the settings' values, and EKS DescribeCluster for
//! whichever the settings leave unset. Asked once and then remembered; asked again after a failure
//! (a cluster still creating has no endpoint yet).

use std::sync::Arc;

use karpenter_contract::settings::SettingKey;
use karpenter_core::bootstrap::ClusterFacts;
use tokio::sync::Mutex;

use crate::cloud::CloudProvider;

/// What the settings say; unset fields are discovered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterOverrides {
    pub endpoint: Option<String>,
    pub ca_bundle: Option<String>,
    pub service_cidr: Option<String>,
}

pub struct ClusterFactsSource {
    cloud: Arc<dyn CloudProvider>,
    name: String,
    overrides: ClusterOverrides,
    known: Mutex<Option<ClusterFacts>>,
}

impl ClusterFactsSource {
    pub fn new(cloud: Arc<dyn CloudProvider>, name: &str, overrides: ClusterOverrides) -> Self {
        ClusterFactsSource {
            cloud,
            name: name.to_string(),
            overrides,
            known: Mutex::new(None),
        }
    }

    /// The facts, or why they are not known, with the settings that would supply them.
    pub async fn facts(&self) -> Result<ClusterFacts, String> {
        let mut known = self.known.lock().await;
        if let Some(facts) = known.as_ref() {
            return Ok(facts.clone());
        }
        let o = &self.overrides;
        let described = if o.endpoint.is_none() || o.ca_bundle.is_none() || o.service_cidr.is_none()
        {
            Some(self.cloud.cluster().await.map_err(|e| {
                format!(
                    "EKS DescribeCluster {} failed ({e}); set {}, {} and {}, or allow eks:DescribeCluster",
                    self.name,
                    SettingKey::ClusterEndpoint,
                    SettingKey::ClusterCaBundle,
                    SettingKey::ServiceCidr
                )
            })?)
        } else {
            None
        };
        let pick = |ours: &Option<String>, theirs: Option<&Option<String>>, setting: SettingKey| {
            ours.clone()
                .or_else(|| theirs.cloned().flatten())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    format!(
                        "EKS DescribeCluster {} reports no {setting} (is the cluster still creating?); set {setting}",
                        self.name
                    )
                })
        };
        let facts = ClusterFacts {
            name: self.name.clone(),
            endpoint: pick(
                &o.endpoint,
                described.as_ref().map(|d| &d.endpoint),
                SettingKey::ClusterEndpoint,
            )?,
            ca_bundle: pick(
                &o.ca_bundle,
                described.as_ref().map(|d| &d.ca_bundle),
                SettingKey::ClusterCaBundle,
            )?,
            service_cidr: pick(
                &o.service_cidr,
                described.as_ref().map(|d| &d.service_cidr),
                SettingKey::ServiceCidr,
            )?,
        };
        *known = Some(facts.clone());
        Ok(facts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::double::{Call, RecordingCloud};

    #[tokio::test]
    async fn settings_win_and_describe_cluster_fills_the_rest_once() {
        let cloud = Arc::new(RecordingCloud::new(None, vec![], vec![]));
        let source = ClusterFactsSource::new(
            cloud.clone(),
            "demo",
            ClusterOverrides {
                endpoint: Some("https://10.0.0.1:6443".into()),
                ..ClusterOverrides::default()
            },
        );
        let facts = source.facts().await.unwrap();
        assert_eq!(facts.endpoint, "https://10.0.0.1:6443");
        assert_eq!(facts.service_cidr, "10.100.0.0/16");
        source.facts().await.unwrap();
        assert_eq!(cloud.calls(), vec![Call::Cluster]);
    }

    #[tokio::test]
    async fn complete_settings_need_no_call() {
        let cloud = Arc::new(RecordingCloud::new(None, vec![], vec![]));
        let overrides = ClusterOverrides {
            endpoint: Some("https://e".into()),
            ca_bundle: Some("Y2E=".into()),
            service_cidr: Some("172.20.0.0/16".into()),
        };
        let source = ClusterFactsSource::new(cloud.clone(), "demo", overrides);
        assert_eq!(source.facts().await.unwrap().service_cidr, "172.20.0.0/16");
        assert!(cloud.calls().is_empty());
    }
}
