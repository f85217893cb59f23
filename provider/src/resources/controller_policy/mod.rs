//! `karpenter_controller_policy`: the customer-managed IAM policy of the controller, scoped to one
//! cluster, one node role and one interruption queue (see `karpenter_contract::iam_policy`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata as _;

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::{Attribute, Block, Diagnostics, PlannedChange, Value};
use crate::resources::aws::errors::{aws_error, is_no_such_entity, sdk_error_text};
use crate::resources::aws::iam;
use crate::resources::aws::identifiers::{Arn, IamName};
use crate::resources::aws::tags::{iam_tag_map, iam_tags, stale_keys, tags_for_state};
use crate::resources::framework::{AwsObject, Fetched, Op, default_name};
use crate::resources::policies::{controller_policy, decode_policy, doc_for_state};
use karpenter_contract::iam_policy::scope_of;

pub struct ControllerPolicy;

model! {
    pub struct Policy {
        name: Option<String>,
        node_role_arn: Option<String>,
        queue_arn: Option<String>,
        tags: Option<BTreeMap<String, String>>,
        arn: Option<String>,
        policy_json: Option<String>,
    }
}

/// Deletes every version except the default: IAM keeps at most five.
async fn prune_versions(iam: &aws_sdk_iam::Client, arn: &str, diags: &mut Diagnostics) -> bool {
    let versions = match iam.list_policy_versions().policy_arn(arn).send().await {
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
        if let Err(e) = iam
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

/// The ARN of the account's own policy named `name`, if there is one.
async fn arn_by_name(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<String>, String> {
    let mut pages = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error_text(&e))?;
        if let Some(hit) = page
            .policies()
            .iter()
            .find(|x| x.policy_name() == Some(name))
        {
            return Ok(hit.arn().map(str::to_string));
        }
    }
    Ok(None)
}

#[async_trait]
impl AwsObject for ControllerPolicy {
    type State = Policy;
    const TYPE_NAME: &'static str = "karpenter_controller_policy";
    const NOUN: &'static str = "IAM policy";
    const IMPORT_ID: &'static str = "the policy name (or its ARN)";

    fn schema(&self) -> Block {
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
                .description("Policy name.")
            .plan_modifier(default_name("KarpenterControllerPolicy-<cluster_name>", |aws| {
                format!("KarpenterControllerPolicy-{}", aws.cluster_name)
            }))
                .validator(IamName(128))
                .requires_replace()
                .use_state_for_unknown(),
        )
        .attribute(
            Attribute::string("node_role_arn")
                .required()
                .description("ARN of the node role (`karpenter_node_role.<name>.arn`), the only role the controller may pass.")
                .validator(Arn::with_resource("iam", "role/")),
        )
        .attribute(
            Attribute::string("queue_arn")
                .required()
                .description("ARN of the interruption queue (`karpenter_interruption_queue.<name>.arn`).")
                .validator(Arn::of("sqs")),
        )
        .attribute(Attribute::string_map("tags").optional().description("Tags of the policy, added to the provider's `default_tags`."))
        .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Policy ARN, for `karpenter_controller_role.policy_arn`."))
        .attribute(
            Attribute::string("policy_json")
                .computed()
                .description("The policy document (JSON); known at plan time when both ARNs are. Changes apply as a new default policy version."),
        )
    }

    /// The document is known at plan time once both ARNs are; else "known after apply".
    fn plan(&self, aws: &AwsContext, _prior: &Value, plan: &mut PlannedChange) {
        let p = &mut plan.planned;
        let doc = match (p.get("node_role_arn").as_str(), p.get("queue_arn").as_str()) {
            (Some(node), Some(queue)) => Value::String(controller_policy(aws, node, queue)),
            _ => Value::Unknown,
        };
        p.set("policy_json", doc);
    }

    fn locator(state: &Policy) -> Option<String> {
        state.arn.clone()
    }

    /// The ARN needs the account id; a bare name is found among the account's own policies.
    async fn resolve_import(
        &self,
        aws: &AwsContext,
        id: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        if id.starts_with("arn:") {
            return Some(id.to_string());
        }
        match arn_by_name(&iam(aws), id).await {
            Ok(Some(arn)) => Some(arn),
            Ok(None) => {
                diags.error(
                    "Policy not found",
                    format!("No customer-managed IAM policy named {id:?} exists."),
                );
                None
            }
            Err(why) => {
                aws_error(diags, "iam:ListPolicies", &format!("policy {id}"), &why);
                None
            }
        }
    }

    async fn left_by_an_interrupted_apply(
        &self,
        aws: &AwsContext,
        planned: &Policy,
    ) -> Option<String> {
        let iam = iam(aws);
        let arn = arn_by_name(&iam, planned.name.as_deref()?).await.ok()??;
        let tags = iam.list_policy_tags().policy_arn(&arn).send().await.ok()?;
        aws.owns(&iam_tag_map(tags.tags())).then_some(arn)
    }

    fn imported(_id: &str, _locator: &str) -> Policy {
        Policy::default()
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        arn: &str,
        prior: &Policy,
        diags: &mut Diagnostics,
    ) -> Fetched<Policy> {
        let iam = iam(aws);
        let what = format!("policy {arn}");
        let policy = match iam.get_policy().policy_arn(arn).send().await {
            Ok(o) => match o.policy {
                Some(p) => p,
                None => return Fetched::Gone,
            },
            Err(e) if e.as_service_error().is_some_and(is_no_such_entity) => return Fetched::Gone,
            Err(e) => {
                aws_error(diags, "iam:GetPolicy", &what, &sdk_error_text(&e));
                return Fetched::Failed;
            }
        };
        let version = policy.default_version_id().unwrap_or("v1");
        let doc = match iam
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
                return Fetched::Failed;
            }
        };
        let tags = match iam.list_policy_tags().policy_arn(arn).send().await {
            Ok(o) => iam_tag_map(o.tags()),
            Err(e) => {
                aws_error(diags, "iam:ListPolicyTags", &what, &sdk_error_text(&e));
                return Fetched::Failed;
            }
        };
        let parsed: serde_json::Value =
            serde_json::from_str(&decode_policy(&doc)).unwrap_or_default();
        let (node, queue) = scope_of(&parsed);
        Fetched::Found(Policy {
            name: policy.policy_name().map(str::to_string),
            node_role_arn: prior.node_role_arn.clone().or(node),
            queue_arn: prior.queue_arn.clone().or(queue),
            arn: Some(arn.to_string()),
            policy_json: Some(doc_for_state(&doc, prior.policy_json.as_deref())),
            tags: tags_for_state(&tags, aws, &prior.tags),
        })
    }

    async fn create(
        &self,
        op: &Op<'_>,
        planned: &Policy,
        diags: &mut Diagnostics,
    ) -> Option<Policy> {
        let aws = op.aws;
        let iam = iam(aws);
        let name = planned.name.clone().unwrap_or_default();
        let (Some(node), Some(queue)) = (&planned.node_role_arn, &planned.queue_arn) else {
            diags.error(
                "Inputs unknown at apply",
                "node_role_arn and queue_arn must be known to create the policy.",
            );
            return None;
        };
        let doc = controller_policy(aws, node, queue);
        let tags = iam_tags(&aws.owned_tags(&planned.tags), diags)?;
        let arn = match iam
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
        Some(Policy {
            arn: Some(arn),
            policy_json: Some(doc),
            ..planned.clone()
        })
    }

    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Policy,
        planned: &Policy,
        diags: &mut Diagnostics,
    ) -> Option<Policy> {
        let aws = op.aws;
        let iam = iam(aws);
        let arn = prior.arn.clone()?;
        let what = format!("policy {arn}");
        let mut state = planned.clone();
        if planned.policy_json != prior.policy_json {
            let (Some(node), Some(queue)) = (&planned.node_role_arn, &planned.queue_arn) else {
                diags.error(
                    "Inputs unknown at apply",
                    "node_role_arn and queue_arn must be known to update the policy.",
                );
                return None;
            };
            let doc = controller_policy(aws, node, queue);
            // Make room first: IAM keeps five versions and refuses a sixth.
            if !prune_versions(&iam, &arn, diags).await {
                return None;
            }
            if let Err(e) = iam
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
            prune_versions(&iam, &arn, diags).await;
            state.policy_json = Some(doc);
        }
        let had = aws.merged_tags(&prior.tags);
        let want = aws.merged_tags(&planned.tags);
        let stale = stale_keys(&had, &want);
        if !stale.is_empty()
            && let Err(e) = iam
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
            if let Err(e) = iam
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

    async fn delete(&self, op: &Op<'_>, prior: &Policy, diags: &mut Diagnostics) {
        let Some(arn) = prior.arn.as_deref() else {
            return;
        };
        let iam = iam(op.aws);
        // Gone or unreadable: DeletePolicy below says which.
        prune_versions(&iam, arn, &mut Diagnostics::new()).await;
        if let Err(e) = iam.delete_policy().policy_arn(arn).send().await
            && !e.as_service_error().is_some_and(is_no_such_entity)
        {
            let mut why = sdk_error_text(&e);
            if e.code() == Some("DeleteConflict") {
                why.push_str("\n\nThe policy is still attached to a role: detach it (or destroy that role) first.");
            }
            aws_error(diags, "iam:DeletePolicy", &format!("policy {arn}"), &why);
        }
    }
}
