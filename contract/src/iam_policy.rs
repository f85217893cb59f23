//! The controller's least-privilege IAM policy document. Shared by `karpenter_controller_policy`
//! (concrete ARNs) and the bootstrap stack (CloudFormation intrinsics in place of ARNs).
//!
//! It grants the calls the controller makes and no others (tests/awsemu/test_iam_enforce.py and
//! the in-cluster e2e run the controller under it with the emulator enforcing IAM): CreateFleet
//! (with RunInstances, which EC2 also checks, tag-on-create and PassRole of the node role),
//! CreateLaunchTemplate/DeleteLaunchTemplate, TerminateInstances, the Describe calls of the catalog,
//! subnets, security groups, images and instances, the AMI parameters, prices, the interruption
//! queue and the cluster's coordinates (DescribeCluster).

use serde_json::{Value as Json, json};

/// What the document is scoped to. `node_role_arn`, `queue_arn` and `account` are JSON so the
/// stack can pass `{"Fn::GetAtt": ...}` / `{"Ref": "AWS::AccountId"}` instead of strings.
pub struct Scope<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub cluster: &'a str,
    pub account: Json,
    pub node_role_arn: Json,
    pub queue_arn: Json,
}

use crate::tags::CLUSTER as CLUSTER_TAG;

pub fn document(s: &Scope<'_>) -> Json {
    let (p, r, c) = (s.partition, s.region, s.cluster);
    let ec2 = |res: &str| format!("arn:{p}:ec2:{r}:*:{res}");
    let created = [
        ec2("fleet/*"),
        ec2("instance/*"),
        ec2("volume/*"),
        ec2("network-interface/*"),
        ec2("launch-template/*"),
        ec2("spot-instances-request/*"),
    ];
    let request_tag = json!({"StringEquals": {format!("aws:RequestTag/{CLUSTER_TAG}"): c}});
    let resource_tag = json!({"StringEquals": {format!("aws:ResourceTag/{CLUSTER_TAG}"): c}});
    let eks_cluster = match &s.account {
        Json::String(a) => json!(format!("arn:{p}:eks:{r}:{a}:cluster/{c}")),
        other => {
            json!({"Fn::Join": ["", [format!("arn:{p}:eks:{r}:"), other, format!(":cluster/{c}")]]})
        }
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LaunchFromSharedResources",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                "Resource": [
                    format!("arn:{p}:ec2:{r}::image/*"),
                    format!("arn:{p}:ec2:{r}::snapshot/*"),
                    ec2("security-group/*"),
                    ec2("subnet/*"),
                    ec2("capacity-reservation/*")
                ]
            },
            {
                "Sid": "LaunchWithOwnLaunchTemplates",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                "Resource": ec2("launch-template/*"),
                "Condition": resource_tag
            },
            {
                "Sid": "CreateOnlyTaggedForTheCluster",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
                "Resource": created,
                "Condition": request_tag
            },
            {
                "Sid": "TagOnlyWhileCreating",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": created,
                "Condition": {
                    "StringEquals": {
                        format!("aws:RequestTag/{CLUSTER_TAG}"): c,
                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]
                    }
                }
            },
            {
                "Sid": "TerminateOnlyOwnInstancesAndTemplates",
                "Effect": "Allow",
                "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                "Resource": [ec2("instance/*"), ec2("launch-template/*")],
                "Condition": resource_tag
            },
            {
                "Sid": "ReadOnlyDescribeInTheRegion",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory",
                    "ec2:DescribeSubnets"
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": r}}
            },
            {
                "Sid": "ReadEksAmiParameters",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": format!("arn:{p}:ssm:{r}::parameter/aws/service/*")
            },
            {
                "Sid": "ReadPrices",
                "Effect": "Allow",
                "Action": "pricing:GetProducts",
                "Resource": "*"
            },
            {
                "Sid": "ConsumeTheInterruptionQueue",
                "Effect": "Allow",
                "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                "Resource": s.queue_arn
            },
            {
                "Sid": "PassOnlyTheNodeRole",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": s.node_role_arn,
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
            },
            {
                "Sid": "DiscoverTheClusterEndpoint",
                "Effect": "Allow",
                "Action": "eks:DescribeCluster",
                "Resource": eks_cluster
            }
        ]
    })
}

/// Every AWS operation the controller calls, as (service, operation). A controller test reads
/// its source for the calls it makes and compares them with this list; a test here compares the
/// list with the policy's actions.
pub const CONTROLLER_CALLS: &[(&str, &str)] = &[
    ("ec2", "CreateFleet"),
    ("ec2", "CreateLaunchTemplate"),
    ("ec2", "DeleteLaunchTemplate"),
    ("ec2", "DescribeImages"),
    ("ec2", "DescribeInstanceTypeOfferings"),
    ("ec2", "DescribeInstanceTypes"),
    ("ec2", "DescribeInstances"),
    ("ec2", "DescribeLaunchTemplates"),
    ("ec2", "DescribeSecurityGroups"),
    ("ec2", "DescribeSpotPriceHistory"),
    ("ec2", "DescribeSubnets"),
    ("ec2", "TerminateInstances"),
    ("eks", "DescribeCluster"),
    ("pricing", "GetProducts"),
    ("sqs", "DeleteMessageBatch"),
    ("sqs", "GetQueueUrl"),
    ("sqs", "ReceiveMessage"),
    ("ssm", "GetParameter"),
];

/// What EC2 authorises inside a CreateFleet call besides CreateFleet: the instances it runs, the
/// tags it puts on them, and passing the instance profile's role.
/// Every AWS operation the Terraform provider calls, with the credentials Terraform runs with
/// (not the controller's). `provider/tests/aws_calls.rs` holds the provider's source to it.
pub const PROVIDER_CALLS: &[(&str, &str)] = &[
    ("cloudformation", "CreateStack"),
    ("cloudformation", "DeleteStack"),
    ("cloudformation", "DescribeStackEvents"),
    ("cloudformation", "DescribeStacks"),
    ("cloudformation", "GetTemplate"),
    ("cloudformation", "UpdateStack"),
    ("ec2", "DeleteLaunchTemplate"),
    ("ec2", "DescribeAvailabilityZones"),
    ("ec2", "DescribeInstanceTypeOfferings"),
    ("ec2", "DescribeInstanceTypes"),
    ("ec2", "DescribeInstances"),
    ("ec2", "DescribeLaunchTemplates"),
    ("ec2", "DescribeSpotPriceHistory"),
    ("ec2", "TerminateInstances"),
    ("eks", "CreateAccessEntry"),
    ("eks", "DeleteAccessEntry"),
    ("eks", "DescribeAccessEntry"),
    ("eks", "DescribeCluster"),
    ("events", "DeleteRule"),
    ("events", "DescribeRule"),
    ("events", "ListTagsForResource"),
    ("events", "ListTargetsByRule"),
    ("events", "PutRule"),
    ("events", "PutTargets"),
    ("events", "RemoveTargets"),
    ("events", "TagResource"),
    ("events", "UntagResource"),
    ("iam", "AddRoleToInstanceProfile"),
    ("iam", "AttachRolePolicy"),
    ("iam", "CreateInstanceProfile"),
    ("iam", "CreatePolicy"),
    ("iam", "CreatePolicyVersion"),
    ("iam", "CreateRole"),
    ("iam", "DeleteInstanceProfile"),
    ("iam", "DeletePolicy"),
    ("iam", "DeletePolicyVersion"),
    ("iam", "DeleteRole"),
    ("iam", "DeleteRolePolicy"),
    ("iam", "DetachRolePolicy"),
    ("iam", "GetInstanceProfile"),
    ("iam", "GetPolicy"),
    ("iam", "GetPolicyVersion"),
    ("iam", "GetRole"),
    ("iam", "ListAttachedRolePolicies"),
    ("iam", "ListInstanceProfileTags"),
    ("iam", "ListPolicies"),
    ("iam", "ListPolicyTags"),
    ("iam", "ListPolicyVersions"),
    ("iam", "ListRolePolicies"),
    ("iam", "ListRoleTags"),
    ("iam", "RemoveRoleFromInstanceProfile"),
    ("iam", "TagInstanceProfile"),
    ("iam", "TagPolicy"),
    ("iam", "TagRole"),
    ("iam", "UntagInstanceProfile"),
    ("iam", "UntagPolicy"),
    ("iam", "UntagRole"),
    ("iam", "UpdateAssumeRolePolicy"),
    ("pricing", "GetProducts"),
    ("sqs", "CreateQueue"),
    ("sqs", "DeleteQueue"),
    ("sqs", "GetQueueAttributes"),
    ("sqs", "GetQueueUrl"),
    ("sqs", "ListQueueTags"),
    ("sqs", "SetQueueAttributes"),
    ("sqs", "TagQueue"),
    ("sqs", "UntagQueue"),
];

pub const AUTHORISED_WITHIN_CREATE_FLEET: [&str; 3] =
    ["ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"];

/// The IAM action that authorises an operation (batch operations are authorised per entry).
pub fn action_of(service: &str, operation: &str) -> String {
    let operation = match (service, operation) {
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        (_, op) => op,
    };
    format!("{service}:{operation}")
}

/// Every action the document grants, once each.
pub fn actions(doc: &Json) -> std::collections::BTreeSet<String> {
    doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|st| match &st["Action"] {
            Json::String(a) => vec![a.clone()],
            Json::Array(list) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        })
        .collect()
}

/// Recovers (node role ARN, queue ARN) from a document this module wrote, for import.
pub fn scope_of(doc: &Json) -> (Option<String>, Option<String>) {
    let mut node = None;
    let mut queue = None;
    for st in doc["Statement"].as_array().into_iter().flatten() {
        match st["Sid"].as_str() {
            Some("PassOnlyTheNodeRole") => node = st["Resource"].as_str().map(str::to_string),
            Some("ConsumeTheInterruptionQueue") => {
                queue = st["Resource"].as_str().map(str::to_string)
            }
            _ => {}
        }
    }
    (node, queue)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Json {
        document(&Scope {
            partition: "aws",
            region: "ap-southeast-1",
            cluster: "demo",
            account: json!("123456789012"),
            node_role_arn: json!("arn:aws:iam::123456789012:role/KarpenterNodeRole-demo"),
            queue_arn: json!("arn:aws:sqs:ap-southeast-1:123456789012:Karpenter-demo"),
        })
    }

    fn statements_with(doc: &Json, action: &str) -> Vec<Json> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| match &s["Action"] {
                Json::String(a) => a == action,
                Json::Array(a) => a.iter().any(|x| x == action),
                _ => false,
            })
            .cloned()
            .collect()
    }

    #[test]
    fn pass_role_and_sqs_are_scoped_to_the_given_arns() {
        let d = scope();
        let pass = statements_with(&d, "iam:PassRole");
        assert_eq!(pass.len(), 1);
        assert_eq!(
            pass[0]["Resource"],
            "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo"
        );
        for a in ["sqs:ReceiveMessage", "sqs:DeleteMessage"] {
            let s = statements_with(&d, a);
            assert_eq!(s.len(), 1);
            assert_eq!(
                s[0]["Resource"],
                "arn:aws:sqs:ap-southeast-1:123456789012:Karpenter-demo"
            );
        }
        assert_eq!(
            scope_of(&d),
            (
                Some("arn:aws:iam::123456789012:role/KarpenterNodeRole-demo".into()),
                Some("arn:aws:sqs:ap-southeast-1:123456789012:Karpenter-demo".into())
            )
        );
    }

    #[test]
    fn every_mutating_ec2_action_on_created_resources_is_conditioned_on_the_cluster_tag() {
        let d = scope();
        for a in [
            "ec2:TerminateInstances",
            "ec2:DeleteLaunchTemplate",
            "ec2:CreateTags",
            "ec2:CreateLaunchTemplate",
        ] {
            for s in statements_with(&d, a) {
                let cond = s["Condition"].to_string();
                assert!(
                    cond.contains("karpenter.sh/cluster") && cond.contains("\"demo\""),
                    "{a}: {s}"
                );
            }
        }
        // No statement grants a write action on every resource.
        for s in d["Statement"].as_array().unwrap() {
            if s["Resource"] == "*" {
                let acts = s["Action"].to_string();
                assert!(
                    !acts.contains("Terminate")
                        && !acts.contains("Create")
                        && !acts.contains("PassRole"),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn intrinsics_pass_through_for_cloudformation() {
        let d = document(&Scope {
            partition: "aws",
            region: "us-east-1",
            cluster: "c",
            account: json!({"Ref": "AWS::AccountId"}),
            node_role_arn: json!({"Fn::GetAtt": ["NodeRole", "Arn"]}),
            queue_arn: json!({"Fn::GetAtt": ["Queue", "Arn"]}),
        });
        assert_eq!(
            statements_with(&d, "iam:PassRole")[0]["Resource"]["Fn::GetAtt"][0],
            "NodeRole"
        );
        assert!(statements_with(&d, "eks:DescribeCluster")[0]["Resource"]["Fn::Join"].is_array());
    }

    #[test]
    fn the_policy_grants_exactly_what_the_controller_calls() {
        let mut needed: std::collections::BTreeSet<String> = CONTROLLER_CALLS
            .iter()
            .map(|(service, op)| action_of(service, op))
            .collect();
        needed.extend(AUTHORISED_WITHIN_CREATE_FLEET.map(str::to_string));
        assert_eq!(actions(&scope()), needed);
    }
}
