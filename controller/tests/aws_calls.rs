//! The AWS operations the controller's source calls are exactly the ones the contract lists
//! (`karpenter_contract::iam_policy::CONTROLLER_CALLS`), which the installed IAM policy grants.

use std::path::Path;

use karpenter_contract::aws_calls::{calls_below, listed};
use karpenter_contract::iam_policy::CONTROLLER_CALLS;

const SERVICES: [&str; 5] = ["ec2", "eks", "pricing", "sqs", "ssm"];

#[test]
fn the_controller_calls_exactly_the_listed_aws_operations() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (called, files) = calls_below(&src, &SERVICES);
    assert!(files > 20, "read {files} files");
    assert_eq!(called, listed(CONTROLLER_CALLS));
}
