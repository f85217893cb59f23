//! The CloudFormation template of `karpenter_bootstrap_stack`: the same objects the individual
//! resources create (node role, instance profile, interruption queue and its policy, EventBridge
//! rules, controller role), named the same way. The controller policy is the same document, held
//! inline by the controller role.

use serde_json::{Value as Json, json};

use crate::resources::aws::partition;
use crate::resources::policies::{
    controller_trust, ec2_trust, node_base_policy_arns, queue_policy,
};
use karpenter_contract::iam_policy::{Scope, document};
use karpenter_contract::interruption::{KINDS, TARGET_ID, event_pattern, queue_name, rule_name};

/// What the user chose; everything else derives from the cluster name and region.
pub struct Inputs<'a> {
    pub cluster: &'a str,
    pub region: &'a str,
    pub retention_seconds: i64,
    pub kinds: Vec<String>,
}

fn logical_rule_id(kind: &str) -> String {
    format!("{}Rule", karpenter_contract::case::pascal_case(kind))
}

pub fn template(i: &Inputs<'_>) -> Json {
    let c = i.cluster;
    let queue_arn = json!({"Fn::GetAtt": ["InterruptionQueue", "Arn"]});
    let mut resources = serde_json::Map::new();
    resources.insert(
        "NodeRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": format!("KarpenterNodeRole-{c}"),
                "Description": format!("karpenter-rs nodes of cluster {c}"),
                "AssumeRolePolicyDocument": ec2_trust(i.region),
                "ManagedPolicyArns": node_base_policy_arns(i.region)
            }
        }),
    );
    resources.insert(
        "InstanceProfile".into(),
        json!({
            "Type": "AWS::IAM::InstanceProfile",
            "Properties": {
                "InstanceProfileName": format!("KarpenterNodeInstanceProfile-{c}"),
                "Roles": [{"Ref": "NodeRole"}]
            }
        }),
    );
    resources.insert(
        "InterruptionQueue".into(),
        json!({
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue_name(c),
                "MessageRetentionPeriod": i.retention_seconds,
                "SqsManagedSseEnabled": true
            }
        }),
    );
    resources.insert(
        "InterruptionQueuePolicy".into(),
        json!({
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": "InterruptionQueue"}],
                "PolicyDocument": queue_policy(queue_arn.clone())
            }
        }),
    );
    for kind in KINDS.iter().filter(|k| i.kinds.iter().any(|x| x == *k)) {
        resources.insert(
            logical_rule_id(kind),
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Name": rule_name(c, kind),
                    "Description": format!("karpenter-rs {kind} events for cluster {c}"),
                    "EventPattern": event_pattern(kind),
                    "State": "ENABLED",
                    "Targets": [{"Id": TARGET_ID, "Arn": queue_arn}]
                }
            }),
        );
    }
    let policy = document(&Scope {
        partition: partition(i.region),
        region: i.region,
        cluster: c,
        account: json!({"Ref": "AWS::AccountId"}),
        node_role_arn: json!({"Fn::GetAtt": ["NodeRole", "Arn"]}),
        queue_arn: queue_arn.clone(),
    });
    // Inline, so the policy lives and dies with the role: no detach ordering on stack deletion.
    resources.insert(
        "ControllerRole".into(),
        json!({
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": format!("KarpenterControllerRole-{c}"),
                "Description": format!("karpenter-rs controller of cluster {c}"),
                "AssumeRolePolicyDocument": controller_trust(None),
                "Policies": [{"PolicyName": format!("KarpenterControllerPolicy-{c}"), "PolicyDocument": policy}]
            }
        }),
    );
    let out = |v: Json, d: &str| json!({"Value": v, "Description": d});
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("karpenter-rs AWS bootstrap for cluster {c} (managed by Terraform)"),
        "Resources": resources,
        "Outputs": {
            "NodeRoleName": out(json!({"Ref": "NodeRole"}), "Node role name"),
            "NodeRoleArn": out(json!({"Fn::GetAtt": ["NodeRole", "Arn"]}), "Node role ARN"),
            "InstanceProfileName": out(json!({"Ref": "InstanceProfile"}), "Instance profile of the nodes"),
            "InstanceProfileArn": out(json!({"Fn::GetAtt": ["InstanceProfile", "Arn"]}), "Instance profile ARN"),
            "InterruptionQueueName": out(json!({"Fn::GetAtt": ["InterruptionQueue", "QueueName"]}), "Interruption queue name"),
            "InterruptionQueueUrl": out(json!({"Ref": "InterruptionQueue"}), "Interruption queue URL (controller setting)"),
            "InterruptionQueueArn": out(queue_arn, "Interruption queue ARN"),
            "ControllerRoleArn": out(json!({"Fn::GetAtt": ["ControllerRole", "Arn"]}), "Controller role ARN (service account / Pod Identity)")
        }
    })
}

/// The user's choices recovered from a template this module wrote (for import).
pub fn inputs_of(t: &Json) -> (Option<i64>, Vec<String>) {
    let retention =
        t["Resources"]["InterruptionQueue"]["Properties"]["MessageRetentionPeriod"].as_i64();
    let kinds = KINDS
        .iter()
        .filter(|k| t["Resources"].get(logical_rule_id(k)).is_some())
        .map(|k| k.to_string())
        .collect();
    (retention, kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(kinds: &[&str]) -> Inputs<'static> {
        Inputs {
            cluster: "demo",
            region: "ap-southeast-1",
            retention_seconds: 600,
            kinds: kinds.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn one_rule_per_kind_and_choices_round_trip() {
        let t = template(&inputs(&KINDS));
        let rules = t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::Events::Rule")
            .count();
        assert_eq!(rules, 5);
        assert_eq!(
            inputs_of(&t),
            (Some(600), KINDS.iter().map(|s| s.to_string()).collect())
        );
        let t = template(&inputs(&["spot_interruption"]));
        assert_eq!(inputs_of(&t).1, vec!["spot_interruption".to_string()]);
        assert!(
            t["Resources"]["SpotInterruptionRule"]["Properties"]["Name"]
                == "Karpenter-demo-spot-interruption"
        );
    }

    #[test]
    fn every_reference_names_a_resource_of_the_template() {
        let t = template(&inputs(&KINDS));
        let text = t.to_string();
        let res = t["Resources"].as_object().unwrap();
        for (i, _) in text.match_indices("\"Ref\":\"") {
            let name: String = text[i + 7..].chars().take_while(|c| *c != '"').collect();
            assert!(
                name.starts_with("AWS::") || res.contains_key(&name),
                "dangling Ref {name}"
            );
        }
        for (i, _) in text.match_indices("\"Fn::GetAtt\":[\"") {
            let name: String = text[i + 15..].chars().take_while(|c| *c != '"').collect();
            assert!(res.contains_key(&name), "dangling GetAtt {name}");
        }
    }
}
