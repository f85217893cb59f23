//! What every resource and data source gets from the provider's `configure`: AWS clients and
//! provider-wide settings. Its own module, so the provider (which lists the resources) and the
//! resources (which read this) do not import each other.

use std::collections::BTreeMap;

/// What every resource gets from `configure`: AWS clients and provider-wide settings.
pub struct AwsContext {
    pub region: String,
    pub cluster_name: String,
    pub default_tags: BTreeMap<String, String>,
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    /// The loaded SDK configuration, for resources that build clients of other services.
    pub sdk: aws_config::SdkConfig,
    /// The Kubernetes client of the `kubernetes {}` block (or why there is none).
    pub kube: crate::kube::KubeHandle,
}

impl AwsContext {
    /// Tags sent to AWS: provider default tags overlaid by the resource's own.
    pub fn merged_tags(&self, own: &Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
        let mut t = self.default_tags.clone();
        t.extend(own.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
        t
    }

    /// `merged_tags` and the ownership tag (`karpenter.sh/terraform-owner` = the cluster), for
    /// objects a create may take over after an interrupted apply.
    pub fn owned_tags(&self, own: &Option<BTreeMap<String, String>>) -> BTreeMap<String, String> {
        let mut t = self.merged_tags(own);
        t.insert(
            karpenter_contract::tags::TERRAFORM_OWNER.to_string(),
            self.cluster_name.clone(),
        );
        t
    }

    /// Whether `tags` (as read from AWS) say this provider created the object for this cluster.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(karpenter_contract::tags::TERRAFORM_OWNER) == Some(&self.cluster_name)
    }
}
