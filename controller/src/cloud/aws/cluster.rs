//! The cluster's coordinates for node bootstrap, from EKS DescribeCluster.

use super::AwsCloud;
use super::sdk_error::from_sdk;
use crate::cloud::error::CloudError;
use crate::cloud::provider::EksCluster;

impl AwsCloud {
    pub(super) async fn describe_cluster(&self) -> Result<EksCluster, CloudError> {
        let name = &self.settings.cluster_name;
        let out = self
            .eks
            .describe_cluster()
            .name(name)
            .send()
            .await
            .map_err(|e| from_sdk("DescribeCluster", e))?;
        let cluster = out.cluster().ok_or_else(|| {
            CloudError::aws(
                "DescribeCluster",
                None,
                format!("no cluster {name} in the answer"),
            )
        })?;
        let network = cluster.kubernetes_network_config();
        Ok(EksCluster {
            endpoint: cluster.endpoint().map(str::to_string),
            ca_bundle: cluster
                .certificate_authority()
                .and_then(|c| c.data())
                .map(str::to_string),
            service_cidr: network
                .and_then(|n| n.service_ipv4_cidr().or(n.service_ipv6_cidr()))
                .map(str::to_string),
        })
    }
}
