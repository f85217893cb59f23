//! `karpenter_node_role`: the IAM role of the nodes the controller launches (EC2 trust, the four
//! AWS-managed policies every EKS node needs, plus the user's own).

use std::time::Duration;

use async_trait::async_trait;

use super::common::{aws, tags_for_state};
use super::iam_common::{
    EachPolicyArn, IamName, iam, partition, set_value, string_set, timeouts_block,
    validate_timeouts,
};
use super::iam_role;
use crate::plugin::{
    Attribute, Block, CallContext, Diagnostics, Importer, PlannedChange, Resource, Schema, Value,
};
use crate::provider::AwsContext;

pub struct NodeRole;

const BASE_POLICIES: [&str; 4] = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

pub fn base_policy_arns(region: &str) -> Vec<String> {
    BASE_POLICIES
        .iter()
        .map(|p| format!("arn:{}:iam::aws:policy/{p}", partition(region)))
        .collect()
}

/// Lets EC2 instances assume the role (through their instance profile).
pub fn ec2_trust(region: &str) -> String {
    let service = if region.starts_with("cn-") {
        "ec2.amazonaws.com.cn"
    } else {
        "ec2.amazonaws.com"
    };
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}

impl NodeRole {
    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let remote = iam_role::fetch(&iam(aws), name, diags).await?;
        let base: std::collections::BTreeSet<String> =
            base_policy_arns(&aws.region).into_iter().collect();
        let extra: Vec<String> = remote.attached.difference(&base).cloned().collect();
        let additional = if extra.is_empty() && prior.get("additional_policy_arns").is_null() {
            Value::Null
        } else {
            set_value(extra)
        };
        let expected = Value::string(ec2_trust(&aws.region));
        Some(Value::object([
            ("name", Value::string(name)),
            ("arn", Value::string(remote.arn)),
            ("additional_policy_arns", additional),
            ("attached_policy_arns", set_value(remote.attached)),
            (
                "assume_role_policy",
                super::iam_common::doc_for_state(&remote.trust, &expected),
            ),
            ("tags", tags_for_state(&remote.tags, aws, prior)),
            ("timeouts", prior.get("timeouts").clone()),
        ]))
    }
}

#[async_trait]
impl Resource for NodeRole {
    fn type_name(&self) -> &'static str {
        "karpenter_node_role"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "The IAM role of the nodes karpenter-rs launches: trusted by EC2, with AmazonEKSWorkerNodePolicy, \
                     AmazonEKS_CNI_Policy, AmazonEC2ContainerRegistryReadOnly and AmazonSSMManagedInstanceCore attached. \
                     Give it to `karpenter_instance_profile` and to the controller policy's `node_role_arn`.",
                )
                .attribute(
                    Attribute::string("name")
                        .optional()
                        .computed()
                        .description("Role name. Defaults to `KarpenterNodeRole-<cluster_name>`.")
                        .validator(IamName(64))
                        .requires_replace()
                        .use_state_for_unknown(),
                )
                .attribute(
                    Attribute::string_set("additional_policy_arns")
                        .optional()
                        .description("More managed policies to attach, beyond the four every node gets.")
                        .validator(EachPolicyArn),
                )
                .attribute(Attribute::string_map("tags").optional().description("Tags of the role, added to the provider's `default_tags`."))
                .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Role ARN."))
                .attribute(
                    Attribute::string_set("attached_policy_arns")
                        .computed()
                        .description("Every managed policy attached: the four base policies and `additional_policy_arns`. A policy detached outside Terraform shows here as a change."),
                )
                .attribute(Attribute::string("assume_role_policy").computed().description("The trust policy (JSON)."))
                .block(timeouts_block(&["create"], "2m")),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_timeouts(config, &["create"], diags);
    }

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        _prior: &Value,
        _config: &Value,
        plan: &mut PlannedChange,
        _diags: &mut Diagnostics,
    ) {
        if plan.planned.is_null() {
            return;
        }
        let Some(aws) = ctx.provider_data::<AwsContext>() else {
            return;
        };
        if plan.planned.get("name").is_unknown() {
            plan.planned.set(
                "name",
                Value::string(format!("KarpenterNodeRole-{}", aws.cluster_name)),
            );
        }
        plan.planned
            .set("assume_role_policy", Value::string(ec2_trust(&aws.region)));
        let extra = plan.planned.get("additional_policy_arns");
        let attached = if extra.is_wholly_known() {
            let mut all = string_set(extra);
            all.extend(base_policy_arns(&aws.region));
            set_value(all)
        } else {
            Value::Unknown
        };
        plan.planned.set("attached_policy_arns", attached);
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let client = iam(&aws);
        let name = planned.get("name").as_str().unwrap_or_default().to_string();
        let trust = ec2_trust(&aws.region);
        let description = format!("karpenter-rs nodes of cluster {}", aws.cluster_name);
        let arn = iam_role::create(
            &client,
            &name,
            &trust,
            &description,
            &aws.merged_tags(planned.get("tags")),
            diags,
        )
        .await?;
        let mut state = planned.clone();
        state.set("arn", Value::string(&arn));
        // From here on the role exists: every failure returns its state so Terraform tracks it.
        if !iam_role::sync_planned_policies(
            ctx,
            &client,
            &name,
            &Value::Null,
            planned,
            DEFAULT_TIMEOUT,
            diags,
        )
        .await
        {
            state.set("attached_policy_arns", Value::Null);
        }
        Some(state)
    }

    async fn read(
        &self,
        ctx: &CallContext,
        state: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let name = state.get("name").as_str()?.to_string();
        self.fetch(&aws, &name, state, diags).await
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        iam_role::update(ctx, prior, planned, DEFAULT_TIMEOUT, diags).await
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(aws) = aws(ctx, diags) else { return };
        let Some(name) = prior.get("name").as_str() else {
            return;
        };
        iam_role::delete(&iam(&aws), name, diags).await;
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

#[async_trait]
impl Importer for NodeRole {
    fn id_description(&self) -> String {
        "the role name".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let state = self.fetch(&aws, id, &Value::Null, diags).await;
        if state.is_none() && !diags.has_errors() {
            diags.error(
                "Role not found",
                format!("No IAM role named {id:?} exists."),
            );
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_policies_follow_the_partition() {
        assert!(
            base_policy_arns("us-east-1")
                .iter()
                .all(|a| a.starts_with("arn:aws:iam::aws:policy/"))
        );
        assert!(base_policy_arns("cn-north-1")[0].starts_with("arn:aws-cn:"));
        let trust: serde_json::Value = serde_json::from_str(&ec2_trust("ap-southeast-1")).unwrap();
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
    }
}
