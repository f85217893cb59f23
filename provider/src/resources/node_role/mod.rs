//! `karpenter_node_role`: the IAM role of the nodes the controller launches (EC2 trust, the four
//! AWS-managed policies every EKS node needs, plus the user's own).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::model::Field;
use crate::plugin::{Attribute, Block, Diagnostics, PlannedChange, Value};
use crate::resources::aws::iam;
use crate::resources::aws::identifiers::{Arn, IamName};
use crate::resources::aws::tags::tags_for_state;
use crate::resources::framework::{AwsObject, Fetched, Op, Timeouts, default_name};
use crate::resources::policies::{doc_for_state, ec2_trust, node_base_policy_arns};
use crate::resources::roles::{self as iam_role, RoleSpec};

pub struct NodeRole;

model! {
    pub struct Role {
        name: Option<String>,
        additional_policy_arns: Option<BTreeSet<String>>,
        tags: Option<BTreeMap<String, String>>,
        arn: Option<String>,
        attached_policy_arns: Option<BTreeSet<String>>,
        assume_role_policy: Option<String>,
    }
}

fn spec(r: &Role) -> RoleSpec<'_> {
    RoleSpec {
        trust: r.assume_role_policy.as_deref(),
        attached: r.attached_policy_arns.as_ref(),
        tags: &r.tags,
    }
}

#[async_trait]
impl AwsObject for NodeRole {
    type State = Role;
    const TYPE_NAME: &'static str = "karpenter_node_role";
    const NOUN: &'static str = "IAM role";
    const IMPORT_ID: &'static str = "the role name";
    const TIMEOUTS: Timeouts = &[("create", Duration::from_secs(120))];

    fn schema(&self) -> Block {
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
                .description("Role name.")
            .plan_modifier(default_name("KarpenterNodeRole-<cluster_name>", |aws| {
                format!("KarpenterNodeRole-{}", aws.cluster_name)
            }))
                .validator(IamName(64))
                .requires_replace()
                .use_state_for_unknown(),
        )
        .attribute(
            Attribute::string_set("additional_policy_arns")
                .optional()
                .description("More managed policies to attach, beyond the four every node gets.")
                .validator(Arn::with_resource("iam", "policy/")),
        )
        .attribute(Attribute::string_map("tags").optional().description("Tags of the role, added to the provider's `default_tags`."))
        .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Role ARN."))
        .attribute(
            Attribute::string_set("attached_policy_arns")
                .computed()
                .description("Every managed policy attached: the four base policies and `additional_policy_arns`. A policy detached outside Terraform shows here as a change."),
        )
        .attribute(Attribute::string("assume_role_policy").computed().description("The trust policy (JSON)."))
    }

    fn plan(&self, aws: &AwsContext, _prior: &Value, plan: &mut PlannedChange) {
        let p = &mut plan.planned;
        p.set(
            "assume_role_policy",
            Value::string(ec2_trust(&aws.region).to_string()),
        );
        let extra = p.get("additional_policy_arns");
        let attached = if extra.is_wholly_known() {
            let mut all = <Option<BTreeSet<String>>>::from_value(extra)
                .flatten()
                .unwrap_or_default();
            all.extend(node_base_policy_arns(&aws.region));
            all.to_value()
        } else {
            Value::Unknown
        };
        p.set("attached_policy_arns", attached);
    }

    fn locator(state: &Role) -> Option<String> {
        state.name.clone()
    }

    fn imported(id: &str, _locator: &str) -> Role {
        Role {
            name: Some(id.to_string()),
            ..Role::default()
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Role,
        diags: &mut Diagnostics,
    ) -> Fetched<Role> {
        let base: BTreeSet<String> = node_base_policy_arns(&aws.region).into_iter().collect();
        let expected = ec2_trust(&aws.region).to_string();
        iam_role::fetch(&iam(aws), name, diags).await.map(|remote| {
            let extra: BTreeSet<String> = remote.attached.difference(&base).cloned().collect();
            Role {
                name: Some(name.to_string()),
                arn: Some(remote.arn),
                additional_policy_arns: (!extra.is_empty()
                    || prior.additional_policy_arns.is_some())
                .then_some(extra),
                attached_policy_arns: Some(remote.attached),
                assume_role_policy: Some(doc_for_state(&remote.trust, Some(&expected))),
                tags: tags_for_state(&remote.tags, aws, &prior.tags),
            }
        })
    }

    async fn left_by_an_interrupted_apply(
        &self,
        aws: &AwsContext,
        planned: &Role,
    ) -> Option<String> {
        iam_role::owned(aws, planned.name.as_deref()).await
    }

    async fn create(&self, op: &Op<'_>, planned: &Role, diags: &mut Diagnostics) -> Option<Role> {
        let name = planned.name.clone().unwrap_or_default();
        let trust = ec2_trust(&op.aws.region).to_string();
        let description = format!("karpenter-rs nodes of cluster {}", op.aws.cluster_name);
        let (arn, attached) =
            iam_role::create_with_policies(op, &name, &trust, &description, spec(planned), diags)
                .await?;
        Some(Role {
            arn: Some(arn),
            attached_policy_arns: planned.attached_policy_arns.clone().filter(|_| attached),
            ..planned.clone()
        })
    }

    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Role,
        planned: &Role,
        diags: &mut Diagnostics,
    ) -> Option<Role> {
        let name = prior.name.as_deref()?;
        iam_role::update(op, name, spec(prior), spec(planned), diags)
            .await
            .then(|| planned.clone())
    }

    async fn delete(&self, op: &Op<'_>, prior: &Role, diags: &mut Diagnostics) {
        if let Some(name) = prior.name.as_deref() {
            iam_role::delete(&iam(op.aws), name, diags).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_policies_follow_the_partition() {
        assert!(
            node_base_policy_arns("us-east-1")
                .iter()
                .all(|a| a.starts_with("arn:aws:iam::aws:policy/"))
        );
        assert!(node_base_policy_arns("cn-north-1")[0].starts_with("arn:aws-cn:"));
        let trust = ec2_trust("ap-southeast-1");
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "ec2.amazonaws.com"
        );
    }
}
