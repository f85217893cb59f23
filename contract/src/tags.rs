//! The tags the controller puts on everything it creates, and how it and the provider (policy
//! conditions, `terraform destroy`'s teardown) find those things again.
//!
//! - `kubernetes.io/cluster/<cluster>` = `owned`: the Kubernetes convention (the AWS cloud provider
//!   and load balancer controller read it);
//! - `karpenter.sh/cluster` = `<cluster>`: our discovery key; DescribeInstances and
//!   DescribeLaunchTemplates filter on it, and `terraform destroy` waits until nothing carries it;
//! - `karpenter.sh/provisioner-name` = `<provisioner>` on instances and fleets (not on launch
//!   templates, which provisioners share when their node configuration is equal);
//! - `Name` = `<cluster>/<provisioner>` so the console shows whose node it is.
//!
//! User tags from the provisioner's `provider.tags` are applied first; ours win on a clash, because
//! losing them would orphan the resource.

use std::collections::BTreeMap;

pub const CLUSTER: &str = "karpenter.sh/cluster";
/// The same key as the node label.
pub const PROVISIONER_NAME: &str = karpenter_core::api::labels::PROVISIONER_NAME;
pub const NAME: &str = "Name";
pub const KUBERNETES_CLUSTER_PREFIX: &str = "kubernetes.io/cluster/";
pub const OWNED: &str = "owned";
/// On the IAM roles, instance profile and policy the Terraform provider creates: the cluster it
/// made them for. A create that finds its name taken by an object with this tag for the same
/// cluster takes the object over, since only an apply stopped between creating it and recording
/// it in state leaves one (a SIGKILLed `terraform apply`); any other object of that name is
/// refused as before.
pub const TERRAFORM_OWNER: &str = "karpenter.sh/terraform-owner";

pub fn kubernetes_cluster_key(cluster: &str) -> String {
    format!("{KUBERNETES_CLUSTER_PREFIX}{cluster}")
}

/// Tags for resources that belong to the cluster but to no single provisioner (launch templates).
pub fn cluster_tags(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (kubernetes_cluster_key(cluster), OWNED.to_string()),
        (CLUSTER.to_string(), cluster.to_string()),
    ])
}

/// Tags for an instance, its volumes and its fleet.
pub fn instance_tags(
    cluster: &str,
    provisioner: &str,
    user: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = user.clone();
    tags.extend(cluster_tags(cluster));
    tags.insert(PROVISIONER_NAME.to_string(), provisioner.to_string());
    tags.insert(NAME.to_string(), format!("{cluster}/{provisioner}"));
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_tags_win_over_user_tags() {
        let user = BTreeMap::from([
            ("team".to_string(), "data".to_string()),
            (CLUSTER.to_string(), "someone-else".to_string()),
        ]);
        let tags = instance_tags("demo", "spot-fleet", &user);
        assert_eq!(tags["team"], "data");
        assert_eq!(tags[CLUSTER], "demo");
        assert_eq!(tags["kubernetes.io/cluster/demo"], "owned");
        assert_eq!(tags[PROVISIONER_NAME], "spot-fleet");
        assert_eq!(tags[NAME], "demo/spot-fleet");
    }
}
