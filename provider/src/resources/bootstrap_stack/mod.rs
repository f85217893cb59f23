//! `karpenter_bootstrap_stack`: the whole AWS bootstrap as one CloudFormation stack (what the
//! seed's getting-started deploys, and what its clean-up deletes by name).

mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;
use aws_sdk_cloudformation::types::{Capability, StackStatus, Tag};

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::Model;
use crate::plugin::model::Field;
use crate::plugin::validate::{CharsIn, IntBetween, LengthBetween};
use crate::plugin::{
    Attribute, AttributePath, Block, CallContext, Diagnostics, PlannedChange, Value,
};
use crate::resources::aws::errors::{aws_error, sdk_error_text};
use crate::resources::aws::retry::{Backoff, Stopped};
use crate::resources::aws::tags::tags_for_state;
use crate::resources::framework::{AwsObject, Fetched, Op, Timeouts, default_name};
use crate::resources::policies::doc_for_state;
use karpenter_contract::interruption::{KINDS, queue_name};
use template::{Inputs, inputs_of, template};

pub struct BootstrapStack;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

model! {
    pub struct Stack {
        name: Option<String>,
        message_retention_seconds: Option<i64>,
        interruption_kinds: Option<BTreeSet<String>>,
        tags: Option<BTreeMap<String, String>>,
        stack_id: Option<String>,
        status: Option<String>,
        outputs: Option<BTreeMap<String, String>>,
        template_body: Option<String>,
    }
}

/// Statuses after which CloudFormation does nothing more by itself.
fn settled(s: &StackStatus) -> bool {
    !s.as_str().ends_with("_IN_PROGRESS")
}

fn failed(s: &StackStatus) -> bool {
    let t = s.as_str();
    t.ends_with("_FAILED") || t.contains("ROLLBACK")
}

/// A stack whose creation failed cannot be updated, only deleted and created again.
fn needs_recreate(status: &str) -> bool {
    matches!(
        status,
        "CREATE_FAILED" | "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" | "ROLLBACK_IN_PROGRESS"
    )
}

fn is_missing<E: aws_sdk_cloudformation::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ValidationError") && e.message().is_some_and(|m| m.contains("does not exist"))
}

/// The template of known inputs; None while one is unknown.
fn template_text(aws: &AwsContext, stack: &Stack) -> Option<String> {
    Some(
        template(&Inputs {
            cluster: &aws.cluster_name,
            region: &aws.region,
            retention_seconds: stack.message_retention_seconds?,
            kinds: stack.interruption_kinds.clone()?.into_iter().collect(),
        })
        .to_string(),
    )
}

fn stack_tags(m: BTreeMap<String, String>) -> Vec<Tag> {
    m.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

struct Remote {
    id: String,
    status: StackStatus,
    reason: Option<String>,
    outputs: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

/// The stack by name or id: None (without errors) when it does not exist or was deleted.
async fn describe(
    cloudformation: &aws_sdk_cloudformation::Client,
    id: &str,
    diags: &mut Diagnostics,
) -> Option<Remote> {
    let out = match cloudformation.describe_stacks().stack_name(id).send().await {
        Ok(o) => o,
        Err(e) => {
            if !e.as_service_error().is_some_and(is_missing) {
                aws_error(
                    diags,
                    "cloudformation:DescribeStacks",
                    &format!("stack {id}"),
                    &sdk_error_text(&e),
                );
            }
            return None;
        }
    };
    let s = out.stacks().first()?;
    let status = s
        .stack_status()
        .cloned()
        .unwrap_or(StackStatus::DeleteComplete);
    if status == StackStatus::DeleteComplete {
        return None;
    }
    Some(Remote {
        id: s.stack_id().unwrap_or(id).to_string(),
        status,
        reason: s.stack_status_reason().map(str::to_string),
        outputs: s
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    })
}

/// The failed events that explain a failure, newest first, one per line.
async fn failure_events(cloudformation: &aws_sdk_cloudformation::Client, id: &str) -> String {
    let Ok(o) = cloudformation
        .describe_stack_events()
        .stack_name(id)
        .send()
        .await
    else {
        return "(the stack events could not be read)".into();
    };
    let lines: Vec<String> = o
        .stack_events()
        .iter()
        .filter(|e| {
            e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("FAILED"))
                || e.resource_status_reason()
                    .is_some_and(|r| !r.is_empty() && r != "User Initiated")
        })
        .take(10)
        .map(|e| {
            format!(
                "- {} ({}): {} {}",
                e.logical_resource_id().unwrap_or("?"),
                e.resource_type().unwrap_or("?"),
                e.resource_status().map(|s| s.as_str()).unwrap_or("?"),
                e.resource_status_reason().unwrap_or("")
            )
        })
        .collect();
    if lines.is_empty() {
        "(no failed events recorded)".into()
    } else {
        lines.join("\n")
    }
}

/// Waits until the stack settles. Returns its description, or None with a diagnostic.
async fn wait(
    ctx: &CallContext,
    cloudformation: &aws_sdk_cloudformation::Client,
    id: &str,
    op: &str,
    timeout: Duration,
    diags: &mut Diagnostics,
) -> Option<Remote> {
    let mut backoff = Backoff::with(
        ctx,
        timeout,
        Duration::from_millis(250),
        Duration::from_secs(10),
    );
    loop {
        let mut d = Diagnostics::new();
        match describe(cloudformation, id, &mut d).await {
            Some(r) if settled(&r.status) => {
                if failed(&r.status) {
                    let events = failure_events(cloudformation, id).await;
                    diags.error(
                        format!("CloudFormation {op} of stack {id} failed: {}", r.status.as_str()),
                        format!(
                            "{}\n\nStack events that explain it:\n{events}\n\nFix the cause above; a stack that failed to create is \
                             replaced on the next apply, a failed update was rolled back and can be applied again.",
                            r.reason.clone().unwrap_or_default()
                        ),
                    );
                }
                return Some(r);
            }
            Some(_) => {}
            None if op == "delete" && !d.has_errors() => return None,
            None => {
                diags.extend(d);
                if !diags.has_errors() {
                    diags.error(
                        format!("Stack {id} disappeared"),
                        format!("The stack vanished during {op}; run apply again."),
                    );
                }
                return None;
            }
        }
        match backoff.pause().await {
            Ok(()) => {}
            Err(Stopped::TimedOut) => {
                diags.error(
                    format!("Timed out waiting for stack {id}"),
                    format!("The {op} did not finish within {timeout:?}. It continues in CloudFormation; raise `timeouts.{op}` and run apply again."),
                );
                return None;
            }
            Err(Stopped::Cancelled) => {
                diags.error("Interrupted while waiting for the stack", format!("The {op} of stack {id} continues in CloudFormation and the stack is recorded in state; run apply again."));
                return None;
            }
        }
    }
}

/// After a create or update: the planned values plus what only AWS knows.
fn settle_state(planned: &Stack, r: &Remote, body: &str) -> Stack {
    Stack {
        stack_id: Some(r.id.clone()),
        status: Some(r.status.as_str().to_string()),
        outputs: Some(r.outputs.clone()),
        template_body: Some(body.to_string()),
        ..planned.clone()
    }
}

#[async_trait]
impl AwsObject for BootstrapStack {
    type State = Stack;
    const TYPE_NAME: &'static str = "karpenter_bootstrap_stack";
    const NOUN: &'static str = "CloudFormation stack";
    const IMPORT_ID: &'static str = "the stack name";
    const TIMEOUTS: Timeouts = &[
        ("create", DEFAULT_TIMEOUT),
        ("update", DEFAULT_TIMEOUT),
        ("delete", DEFAULT_TIMEOUT),
    ];

    fn schema(&self) -> Block {
        // In cty's order for a set of strings (sorted): Terraform sends the prior state's set
        // sorted, and the planner compares values element by element, so a default in another
        // order would look like a change on every plan.
        let mut kinds: Vec<String> = KINDS.iter().map(|k| k.to_string()).collect();
        kinds.sort();
        let all_kinds = Value::Set(kinds.into_iter().map(Value::String).collect());
        Block::new()
            .description(
                "The AWS bootstrap of karpenter-rs as one CloudFormation stack: node role and instance profile, \
                 interruption queue with its policy, one EventBridge rule per interruption kind, and the controller role \
                 (EKS Pod Identity trust) holding the controller policy inline (named `KarpenterControllerPolicy-<cluster_name>`). An alternative to the individual resources, not a complement: \
                 the objects have the same default names. Deleting the stack (also by the seed's clean-up, which deletes \
                 `Karpenter-<cluster_name>`) removes them all.",
                )
            .attribute(
                Attribute::string("name")
                    .optional()
                    .computed()
                    .description("Stack name.")
                .plan_modifier(default_name("Karpenter-<cluster_name>", |aws| queue_name(&aws.cluster_name)))
                    .validator(LengthBetween(1, 128))
                    .validator(CharsIn { allowed: "letters, digits and `-`", test: |c| c.is_ascii_alphanumeric() || c == '-' })
                    .requires_replace()
                    .use_state_for_unknown(),
                )
            .attribute(
                Attribute::number("message_retention_seconds")
                    .default_value(Value::int(300))
                    .description("Retention of the interruption queue.")
                    .validator(IntBetween(60, 1_209_600)),
                )
            .attribute(
                Attribute::string_set("interruption_kinds")
                    .default_value(all_kinds)
                    .description(format!("Which interruption kinds get an EventBridge rule: any of `{}` (all by default).", KINDS.join("`, `"))),
                )
            .attribute(Attribute::string_map("tags").optional().description("Stack tags (CloudFormation copies them to the resources), added to the provider's `default_tags`."))
            .attribute(Attribute::string("stack_id").computed().use_state_for_unknown().description("Stack ID (ARN)."))
            .attribute(Attribute::string("status").computed().description("Stack status, e.g. `CREATE_COMPLETE`. A stack whose creation failed is replaced on the next apply."))
            .attribute(
                Attribute::string_map("outputs")
                    .computed()
                    .description("Stack outputs: `NodeRoleName`, `NodeRoleArn`, `InstanceProfileName`, `InstanceProfileArn`, `InterruptionQueueName`, `InterruptionQueueUrl`, `InterruptionQueueArn`, `ControllerRoleArn`."),
                )
            .attribute(Attribute::string("template_body").computed().description("The template (JSON); a change made outside Terraform shows here as a diff."))
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let kinds = <Option<BTreeSet<String>>>::from_value(config.get("interruption_kinds"));
        for k in kinds.flatten().into_iter().flatten() {
            if !KINDS.contains(&k.as_str()) {
                diags.error_at(
                    AttributePath::attr("interruption_kinds"),
                    "Unknown interruption kind",
                    format!(
                        "{k:?} is not an interruption kind. Must be one of `{}`.",
                        KINDS.join("`, `")
                    ),
                );
            }
        }
        if let Some(n) = config.get("name").as_str()
            && !n.starts_with(|c: char| c.is_ascii_alphabetic())
        {
            diags.error_at(
                AttributePath::attr("name"),
                "Invalid stack name",
                format!("{n:?} must start with a letter."),
            );
        }
    }

    fn plan(&self, aws: &AwsContext, prior: &Value, plan: &mut PlannedChange) {
        let body = Stack::decode(&plan.planned)
            .ok()
            .and_then(|s| template_text(aws, &s));
        plan.planned.set(
            "template_body",
            body.map(Value::String).unwrap_or(Value::Unknown),
        );
        if prior.get("status").as_str().is_some_and(needs_recreate) {
            plan.planned.set("status", Value::Unknown);
            plan.requires_replace.push(AttributePath::attr("status"));
        }
    }

    fn locator(state: &Stack) -> Option<String> {
        state.stack_id.clone().or(state.name.clone())
    }

    fn imported(id: &str, _locator: &str) -> Stack {
        Stack {
            name: Some(id.to_string()),
            ..Stack::default()
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        id: &str,
        prior: &Stack,
        diags: &mut Diagnostics,
    ) -> Fetched<Stack> {
        let cloudformation = crate::resources::aws::cloudformation(aws);
        let r = match describe(&cloudformation, id, diags).await {
            Some(r) => r,
            None if diags.has_errors() => return Fetched::Failed,
            None => return Fetched::Gone,
        };
        let body = match cloudformation.get_template().stack_name(&r.id).send().await {
            Ok(o) => o.template_body().unwrap_or_default().to_string(),
            Err(e) => {
                aws_error(
                    diags,
                    "cloudformation:GetTemplate",
                    &format!("stack {id}"),
                    &sdk_error_text(&e),
                );
                return Fetched::Failed;
            }
        };
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let (retention, kinds) = inputs_of(&parsed);
        let name = id
            .rsplit_once(":stack/")
            .map(|(_, n)| n.split('/').next().unwrap_or(n))
            .unwrap_or(id);
        Fetched::Found(Stack {
            name: prior.name.clone().or(Some(name.to_string())),
            message_retention_seconds: retention,
            interruption_kinds: Some(kinds.into_iter().collect()),
            tags: tags_for_state(&r.tags, aws, &prior.tags),
            stack_id: Some(r.id),
            status: Some(r.status.as_str().to_string()),
            outputs: Some(r.outputs),
            template_body: Some(doc_for_state(&body, prior.template_body.as_deref())),
        })
    }

    /// A stack of the planned name that carries our ownership tag. One still being created is
    /// waited for first (it cannot be updated before); one whose creation failed is not taken
    /// over: the create's error says how to remove it.
    async fn left_by_an_interrupted_apply(
        &self,
        aws: &AwsContext,
        planned: &Stack,
    ) -> Option<String> {
        let cloudformation = crate::resources::aws::cloudformation(aws);
        let r = describe(
            &cloudformation,
            planned.name.as_deref()?,
            &mut Diagnostics::new(),
        )
        .await?;
        (aws.owns(&r.tags) && !needs_recreate(r.status.as_str())).then_some(r.id)
    }

    async fn create(&self, op: &Op<'_>, planned: &Stack, diags: &mut Diagnostics) -> Option<Stack> {
        let aws = op.aws;
        let cloudformation = crate::resources::aws::cloudformation(aws);
        let name = planned.name.clone().unwrap_or_default();
        let body = template_text(aws, planned)?;
        let id = match cloudformation
            .create_stack()
            .stack_name(&name)
            .template_body(&body)
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(Some(stack_tags(aws.owned_tags(&planned.tags))))
            .send()
            .await
        {
            Ok(o) => o.stack_id().unwrap_or(&name).to_string(),
            Err(e) => {
                let why = if e.code() == Some("AlreadyExistsException") {
                    format!(
                        "A stack named {name} already exists that this provider did not create for cluster {} (or whose creation failed): import it (`terraform import <address> {name}`), delete it, or choose another name.",
                        aws.cluster_name
                    )
                } else {
                    let events = failure_events(&cloudformation, &name).await;
                    format!("{}\n\nStack events:\n{events}", sdk_error_text(&e))
                };
                aws_error(
                    diags,
                    "cloudformation:CreateStack",
                    &format!("stack {name}"),
                    &why,
                );
                // CloudFormation may have recorded the stack even though the call failed.
                return describe(&cloudformation, &name, &mut Diagnostics::new())
                    .await
                    .map(|r| settle_state(planned, &r, &body));
            }
        };
        match wait(op.ctx, &cloudformation, &id, "create", op.timeout, diags).await {
            Some(r) => Some(settle_state(planned, &r, &body)),
            // Still in progress (cancelled, timed out): keep the stack in state.
            None => Some(Stack {
                stack_id: Some(id),
                status: Some("CREATE_IN_PROGRESS".into()),
                outputs: None,
                template_body: Some(body),
                ..planned.clone()
            }),
        }
    }

    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Stack,
        planned: &Stack,
        diags: &mut Diagnostics,
    ) -> Option<Stack> {
        let aws = op.aws;
        let cloudformation = crate::resources::aws::cloudformation(aws);
        let id = prior.stack_id.clone()?;
        let body = template_text(aws, planned)?;
        // A stack taken over mid-creation (an interrupted apply) cannot be updated until created.
        if prior
            .status
            .as_deref()
            .is_some_and(|s| s.ends_with("_IN_PROGRESS"))
        {
            wait(op.ctx, &cloudformation, &id, "create", op.timeout, diags).await?;
        }
        let r = cloudformation
            .update_stack()
            .stack_name(&id)
            .template_body(&body)
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(Some(stack_tags(aws.owned_tags(&planned.tags))))
            .send()
            .await;
        if let Err(e) = r {
            let nothing = e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("No updates"));
            if !nothing {
                aws_error(
                    diags,
                    "cloudformation:UpdateStack",
                    &format!("stack {id}"),
                    &sdk_error_text(&e),
                );
                return None;
            }
        }
        let r = wait(op.ctx, &cloudformation, &id, "update", op.timeout, diags).await?;
        Some(settle_state(planned, &r, &body))
    }

    async fn delete(&self, op: &Op<'_>, prior: &Stack, diags: &mut Diagnostics) {
        let cloudformation = crate::resources::aws::cloudformation(op.aws);
        let Some(id) = BootstrapStack::locator(prior) else {
            return;
        };
        if let Err(e) = cloudformation.delete_stack().stack_name(&id).send().await
            && !e.as_service_error().is_some_and(is_missing)
        {
            aws_error(
                diags,
                "cloudformation:DeleteStack",
                &format!("stack {id}"),
                &sdk_error_text(&e),
            );
            return;
        }
        // Deleted stacks are found by id with DELETE_COMPLETE, which `describe` reports as gone.
        if let Some(r) = wait(op.ctx, &cloudformation, &id, "delete", op.timeout, diags).await
            && !diags.has_errors()
        {
            diags.error(
                format!("Stack {id} was not deleted"),
                format!(
                    "CloudFormation left it in {}; see the AWS console and run destroy again.",
                    r.status.as_str()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert!(settled(&StackStatus::CreateComplete) && !failed(&StackStatus::CreateComplete));
        assert!(!settled(&StackStatus::CreateInProgress));
        assert!(
            failed(&StackStatus::RollbackComplete) && failed(&StackStatus::UpdateRollbackComplete)
        );
        assert!(needs_recreate("ROLLBACK_COMPLETE") && !needs_recreate("UPDATE_ROLLBACK_COMPLETE"));
    }

    #[test]
    fn default_kinds_are_in_the_order_terraform_sends_a_string_set() {
        let block = BootstrapStack.schema();
        let Some(Value::Set(kinds)) = block
            .attributes
            .iter()
            .find(|a| a.name == "interruption_kinds")
            .and_then(|a| a.default.clone())
        else {
            panic!("interruption_kinds has a set default");
        };
        let mut sorted = kinds.clone();
        sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        assert_eq!(kinds, sorted);
        assert_eq!(kinds.len(), KINDS.len());
    }
}
