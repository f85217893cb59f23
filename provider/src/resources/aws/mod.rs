//! AWS plumbing the resources share: the provider's AWS context, clients of services it does
//! not hold, partitions, errors, identifiers, tags and retries.

pub mod errors;
pub mod identifiers;
pub mod retry;
pub mod tags;

use std::sync::Arc;

use crate::aws_context::AwsContext;
use crate::plugin::{CallContext, Diagnostics};

/// The configured AWS context, or an error diagnostic saying why there is none.
pub fn context(ctx: &CallContext, diags: &mut Diagnostics) -> Option<Arc<AwsContext>> {
    let a = ctx.provider_data::<AwsContext>();
    if a.is_none() {
        diags.error(
            "Provider not configured",
            "The karpenter provider has no configuration yet (region and cluster_name must be known).",
        );
    }
    a
}

pub fn iam(aws: &AwsContext) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&aws.sdk)
}

pub fn cloudformation(aws: &AwsContext) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&aws.sdk)
}

pub fn ec2(aws: &AwsContext) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&aws.sdk)
}

/// A Pricing client for the endpoint nearest to the region.
pub fn pricing(aws: &AwsContext) -> aws_sdk_pricing::Client {
    let region = karpenter_contract::pricing::pricing_region(&aws.region);
    let conf = aws_sdk_pricing::config::Builder::from(&aws.sdk)
        .region(aws_sdk_pricing::config::Region::new(region))
        .build();
    aws_sdk_pricing::Client::from_conf(conf)
}

/// The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(super::partition("cn-north-1"), "aws-cn");
        assert_eq!(super::partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(super::partition("eu-west-1"), "aws");
    }
}
