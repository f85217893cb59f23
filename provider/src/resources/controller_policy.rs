//! `karpenter_controller_policy`: the customer-managed IAM policy of the controller, scoped to one
//! cluster, one node role and one interruption queue (see `karpenter_contract::iam_policy`).

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata as _;

use super::common::{ArnOf, aws, aws_error, sdk_error_text, tags_for_state};
use super::iam_common::{
    ArnWithResource, IamName, arn_account, decode_policy, doc_for_state, iam, iam_tags,
    is_no_such_entity, partition, stale_keys, tag_map,
};
use crate::plugin::{
    Attribute, Block, CallContext, Diagnostics, Importer, PlannedChange, Resource, Schema, Value,
};
use crate::provider::AwsContext;
use karpenter_contract::iam_policy::{Scope, document, scope_of};

pub struct ControllerPolicy;

/// The policy text for known inputs, else None (the plan then says "known after apply").
fn policy_for(aws: &AwsContext, node_role_arn: &Value, queue_arn: &Value) -> Option<String> {
    let (node, queue) = (node_role_arn.as_str()?, queue_arn.as_str()?);
    let doc = document(&Scope {
        partition: partition(&aws.region),
        region: &aws.region,
        cluster: &aws.cluster_name,
        account: serde_json::json!(arn_account(node).unwrap_or("*")),
        node_role_arn: serde_json::json!(node),
        queue_arn: serde_json::json!(queue),
    });
    Some(doc.to_string())
}

impl ControllerPolicy {
    async fn fetch(
        &self,
        aws: &AwsContext,
        arn: &str,
        prior: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let client = iam(aws);
        let what = format!("policy {arn}");
        let policy = match client.get_policy().policy_arn(arn).send().await {
            Ok(o) => o.policy?,
            Err(e) => {
                if !e.as_service_error().is_some_and(is_no_such_entity) {
                    aws_error(diags, "iam:GetPolicy", &what, &sdk_error_text(&e));
                }
                return None;
            }
        };
        let version = policy.default_version_id().unwrap_or("v1");
        let doc = match client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
        {
            Ok(o) => o
                .policy_version
                .and_then(|v| v.document)
                .unwrap_or_default(),
            Err(e) => {
                aws_error(diags, "iam:GetPolicyVersion", &what, &sdk_error_text(&e));
                return None;
            }
        };
        let tags = match client.list_policy_tags().policy_arn(arn).send().await {
            Ok(o) => tag_map(o.tags()),
            Err(e) => {
                aws_error(diags, "iam:ListPolicyTags", &what, &sdk_error_text(&e));
                return None;
            }
        };
        let parsed: serde_json::Value =
            serde_json::from_str(&decode_policy(&doc)).unwrap_or_default();
        let (node, queue) = scope_of(&parsed);
        let keep_or = |k: &str, found: Option<String>| match prior.get(k) {
            Value::String(s) => Value::String(s.clone()),
            _ => found.map(Value::String).unwrap_or(Value::Null),
        };
        Some(Value::object([
            (
                "name",
                Value::string(policy.policy_name().unwrap_or_default()),
            ),
            ("node_role_arn", keep_or("node_role_arn", node)),
            ("queue_arn", keep_or("queue_arn", queue)),
            ("arn", Value::string(arn)),
            ("policy_json", doc_for_state(&doc, prior.get("policy_json"))),
            ("tags", tags_for_state(&tags, aws, prior)),
        ]))
    }

    /// Deletes every version except the default: IAM keeps at most five.
    async fn prune_versions(
        &self,
        client: &aws_sdk_iam::Client,
        arn: &str,
        diags: &mut Diagnostics,
    ) -> bool {
        let versions = match client.list_policy_versions().policy_arn(arn).send().await {
            Ok(o) => o.versions.unwrap_or_default(),
            Err(e) => {
                aws_error(
                    diags,
                    "iam:ListPolicyVersions",
                    &format!("policy {arn}"),
                    &sdk_error_text(&e),
                );
                return false;
            }
        };
        for v in versions.iter().filter(|v| !v.is_default_version()) {
            let Some(id) = v.version_id() else { continue };
            if let Err(e) = client
                .delete_policy_version()
                .policy_arn(arn)
                .version_id(id)
                .send()
                .await
                && !e.as_service_error().is_some_and(is_no_such_entity)
            {
                aws_error(
                    diags,
                    "iam:DeletePolicyVersion",
                    &format!("policy {arn} version {id}"),
                    &sdk_error_text(&e),
                );
                return false;
            }
        }
        true
    }
}

#[async_trait]
impl Resource for ControllerPolicy {
    fn type_name(&self) -> &'static str {
        "karpenter_controller_policy"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "The least-privilege IAM policy of the karpenter-rs controller: launches, tags and terminates only \
                     instances, fleets and launch templates tagged `karpenter.sh/cluster = <cluster_name>`; consumes only \
                     the given interruption queue; passes only the given node role to EC2; reads prices, the public AMI \
                     parameters, EC2 descriptions in the provider's region and the cluster's own EKS description. It grants \
                     the calls the controller makes and no others.",
                )
                .attribute(
                    Attribute::string("name")
                        .optional()
                        .computed()
                        .description("Policy name. Defaults to `KarpenterControllerPolicy-<cluster_name>`.")
                        .validator(IamName(128))
                        .requires_replace()
                        .use_state_for_unknown(),
                )
                .attribute(
                    Attribute::string("node_role_arn")
                        .required()
                        .description("ARN of the node role (`karpenter_node_role.<name>.arn`), the only role the controller may pass.")
                        .validator(ArnWithResource("iam", "role/")),
                )
                .attribute(
                    Attribute::string("queue_arn")
                        .required()
                        .description("ARN of the interruption queue (`karpenter_interruption_queue.<name>.arn`).")
                        .validator(ArnOf("sqs")),
                )
                .attribute(Attribute::string_map("tags").optional().description("Tags of the policy, added to the provider's `default_tags`."))
                .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Policy ARN, for `karpenter_controller_role.policy_arn`."))
                .attribute(
                    Attribute::string("policy_json")
                        .computed()
                        .description("The policy document (JSON); known at plan time when both ARNs are. Changes apply as a new default policy version."),
                ),
        )
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
                Value::string(format!("KarpenterControllerPolicy-{}", aws.cluster_name)),
            );
        }
        let doc = policy_for(
            &aws,
            plan.planned.get("node_role_arn"),
            plan.planned.get("queue_arn"),
        );
        plan.planned.set(
            "policy_json",
            doc.map(Value::String).unwrap_or(Value::Unknown),
        );
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
        let Some(doc) = policy_for(&aws, planned.get("node_role_arn"), planned.get("queue_arn"))
        else {
            diags.error(
                "Inputs unknown at apply",
                "node_role_arn and queue_arn must be known to create the policy.",
            );
            return None;
        };
        let tags = iam_tags(&aws.merged_tags(planned.get("tags")), diags)?;
        let arn = match client
            .create_policy()
            .policy_name(&name)
            .policy_document(&doc)
            .description(format!(
                "karpenter-rs controller of cluster {}",
                aws.cluster_name
            ))
            .set_tags(Some(tags).filter(|t| !t.is_empty()))
            .send()
            .await
        {
            Ok(o) => o.policy.and_then(|p| p.arn).unwrap_or_default(),
            Err(e) => {
                let why = match e.code() {
                    Some("EntityAlreadyExists") => format!(
                        "A policy named {name} already exists: import it or choose another name."
                    ),
                    Some("MalformedPolicyDocument") => format!(
                        "{}\n\nCheck node_role_arn and queue_arn.",
                        sdk_error_text(&e)
                    ),
                    _ => sdk_error_text(&e),
                };
                aws_error(diags, "iam:CreatePolicy", &format!("policy {name}"), &why);
                return None;
            }
        };
        let mut state = planned.clone();
        state.set("arn", Value::string(arn));
        state.set("policy_json", Value::string(doc));
        Some(state)
    }

    async fn read(
        &self,
        ctx: &CallContext,
        state: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let arn = state.get("arn").as_str()?.to_string();
        self.fetch(&aws, &arn, state, diags).await
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let client = iam(&aws);
        let arn = prior.get("arn").as_str()?.to_string();
        let what = format!("policy {arn}");
        let mut state = planned.clone();
        if planned.get("policy_json") != prior.get("policy_json") {
            let Some(doc) =
                policy_for(&aws, planned.get("node_role_arn"), planned.get("queue_arn"))
            else {
                diags.error(
                    "Inputs unknown at apply",
                    "node_role_arn and queue_arn must be known to update the policy.",
                );
                return None;
            };
            // Make room first: IAM keeps five versions and refuses a sixth.
            if !self.prune_versions(&client, &arn, diags).await {
                return None;
            }
            if let Err(e) = client
                .create_policy_version()
                .policy_arn(&arn)
                .policy_document(&doc)
                .set_as_default(true)
                .send()
                .await
            {
                aws_error(diags, "iam:CreatePolicyVersion", &what, &sdk_error_text(&e));
                return None;
            }
            self.prune_versions(&client, &arn, diags).await;
            state.set("policy_json", Value::string(doc));
        }
        let had = aws.merged_tags(prior.get("tags"));
        let want = aws.merged_tags(planned.get("tags"));
        let stale = stale_keys(&had, &want);
        if !stale.is_empty()
            && let Err(e) = client
                .untag_policy()
                .policy_arn(&arn)
                .set_tag_keys(Some(stale))
                .send()
                .await
        {
            aws_error(diags, "iam:UntagPolicy", &what, &sdk_error_text(&e));
            return None;
        }
        if want != had && !want.is_empty() {
            let tags = iam_tags(&want, diags)?;
            if let Err(e) = client
                .tag_policy()
                .policy_arn(&arn)
                .set_tags(Some(tags))
                .send()
                .await
            {
                aws_error(diags, "iam:TagPolicy", &what, &sdk_error_text(&e));
                return None;
            }
        }
        Some(state)
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(aws) = aws(ctx, diags) else { return };
        let Some(arn) = prior.get("arn").as_str() else {
            return;
        };
        let client = iam(&aws);
        if !self
            .prune_versions(&client, arn, &mut Diagnostics::new())
            .await
        {
            // Gone or unreadable: DeletePolicy below says which.
        }
        if let Err(e) = client.delete_policy().policy_arn(arn).send().await
            && !e.as_service_error().is_some_and(is_no_such_entity)
        {
            let mut why = sdk_error_text(&e);
            if e.code() == Some("DeleteConflict") {
                why.push_str("\n\nThe policy is still attached to a role: detach it (or destroy that role) first.");
            }
            aws_error(diags, "iam:DeletePolicy", &format!("policy {arn}"), &why);
        }
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

#[async_trait]
impl Importer for ControllerPolicy {
    fn id_description(&self) -> String {
        "the policy name (or its ARN)".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let arn = if id.starts_with("arn:") {
            id.to_string()
        } else {
            // The ARN needs the account id; find the policy among the account's own instead.
            let client = iam(&aws);
            let mut pages = client
                .list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .into_paginator()
                .send();
            let mut found = None;
            while let Some(page) = pages.next().await {
                match page {
                    Ok(p) => {
                        if let Some(hit) = p.policies().iter().find(|x| x.policy_name() == Some(id))
                        {
                            found = hit.arn().map(str::to_string);
                            break;
                        }
                    }
                    Err(e) => {
                        aws_error(
                            diags,
                            "iam:ListPolicies",
                            &format!("policy {id}"),
                            &sdk_error_text(&e),
                        );
                        return None;
                    }
                }
            }
            let Some(a) = found else {
                diags.error(
                    "Policy not found",
                    format!("No customer-managed IAM policy named {id:?} exists."),
                );
                return None;
            };
            a
        };
        let state = self.fetch(&aws, &arn, &Value::Null, diags).await;
        if state.is_none() && !diags.has_errors() {
            diags.error("Policy not found", format!("No IAM policy {arn:?} exists."));
        }
        state
    }
}
