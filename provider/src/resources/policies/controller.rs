//! The controller's permissions, scoped to one cluster, node role and queue (the statements
//! themselves are data in `karpenter_contract::iam_policy`).

use karpenter_contract::iam_policy::{Scope, document};

use crate::aws_context::AwsContext;
use crate::resources::aws::identifiers::arn_account;
use crate::resources::aws::partition;

pub fn controller_policy(aws: &AwsContext, node_role_arn: &str, queue_arn: &str) -> String {
    document(&Scope {
        partition: partition(&aws.region),
        region: &aws.region,
        cluster: &aws.cluster_name,
        account: serde_json::json!(arn_account(node_role_arn).unwrap_or("*")),
        node_role_arn: serde_json::json!(node_role_arn),
        queue_arn: serde_json::json!(queue_arn),
    })
    .to_string()
}
