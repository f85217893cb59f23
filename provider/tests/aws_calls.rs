//! The AWS operations the provider's source calls are exactly the ones the contract lists
//! (`karpenter_contract::iam_policy::PROVIDER_CALLS`): the permissions `terraform apply` and
//! `destroy` need, which docs/guides/provider-permissions.md publishes.

use std::path::Path;

use karpenter_contract::aws_calls::{calls_below, listed};
use karpenter_contract::iam_policy::PROVIDER_CALLS;

const SERVICES: [&str; 7] = [
    "cloudformation",
    "ec2",
    "eks",
    "events",
    "iam",
    "pricing",
    "sqs",
];

#[test]
fn the_provider_calls_exactly_the_listed_aws_operations() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (called, files) = calls_below(&src, &SERVICES);
    assert!(files > 20, "read {files} files");
    let list = listed(PROVIDER_CALLS);
    let missing: Vec<_> = called.difference(&list).collect();
    let unused: Vec<_> = list.difference(&called).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "called but not listed: {missing:?}; listed but not called: {unused:?}"
    );
}
