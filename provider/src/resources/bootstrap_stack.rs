//! `karpenter_bootstrap_stack`: the whole AWS bootstrap as one CloudFormation stack (what the
//! seed's getting-started deploys, and what its clean-up deletes by name).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudformation::error::ProvideErrorMetadata as _;
use aws_sdk_cloudformation::types::{Capability, StackStatus, Tag};

use super::bootstrap_template::{Inputs, inputs_of, template};
use super::common::{aws, aws_error, sdk_error_text};
use super::iam_common::{
    cloudformation, set_value, string_set, timeout_of, timeouts_block, validate_timeouts,
};
use crate::plugin::validate::{CharsIn, IntBetween, LengthBetween};
use crate::plugin::{
    Attribute, AttributePath, Block, CallContext, Diagnostics, Importer, PlannedChange, Resource,
    Schema, Value,
};
use crate::provider::AwsContext;
use karpenter_contract::interruption::{KINDS, queue_name};

pub struct BootstrapStack;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

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

fn template_text(aws: &AwsContext, v: &Value) -> Option<String> {
    let retention = v.get("message_retention_seconds").as_i64()?;
    if !v.get("interruption_kinds").is_wholly_known() {
        return None;
    }
    let kinds = string_set(v.get("interruption_kinds"))
        .into_iter()
        .collect();
    Some(
        template(&Inputs {
            cluster: &aws.cluster_name,
            region: &aws.region,
            retention_seconds: retention,
            kinds,
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

impl BootstrapStack {
    /// The stack by name or id: None (without errors) when it does not exist or was deleted.
    async fn describe(
        &self,
        cfn: &aws_sdk_cloudformation::Client,
        id: &str,
        diags: &mut Diagnostics,
    ) -> Option<Remote> {
        let out = match cfn.describe_stacks().stack_name(id).send().await {
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
    async fn failure_events(&self, cfn: &aws_sdk_cloudformation::Client, id: &str) -> String {
        let Ok(o) = cfn.describe_stack_events().stack_name(id).send().await else {
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
        &self,
        ctx: &CallContext,
        cfn: &aws_sdk_cloudformation::Client,
        id: &str,
        op: &str,
        timeout: Duration,
        diags: &mut Diagnostics,
    ) -> Option<Remote> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(250);
        loop {
            let mut d = Diagnostics::new();
            match self.describe(cfn, id, &mut d).await {
                Some(r) if settled(&r.status) => {
                    if failed(&r.status) {
                        let events = self.failure_events(cfn, id).await;
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
            if tokio::time::Instant::now() + delay > deadline {
                diags.error(
                    format!("Timed out waiting for stack {id}"),
                    format!("The {op} did not finish within {timeout:?}. It continues in CloudFormation; raise `timeouts.{op}` and run apply again."),
                );
                return None;
            }
            tokio::select! {
                _ = ctx.cancel.cancelled() => {
                    diags.error("Interrupted while waiting for the stack", format!("The {op} of stack {id} continues in CloudFormation and the stack is recorded in state; run apply again."));
                    return None;
                }
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        id: &str,
        prior: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let cfn = cloudformation(aws);
        let r = self.describe(&cfn, id, diags).await?;
        let body = match cfn.get_template().stack_name(&r.id).send().await {
            Ok(o) => o.template_body().unwrap_or_default().to_string(),
            Err(e) => {
                aws_error(
                    diags,
                    "cloudformation:GetTemplate",
                    &format!("stack {id}"),
                    &sdk_error_text(&e),
                );
                return None;
            }
        };
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let (retention, kinds) = inputs_of(&parsed);
        let body_value = super::iam_common::doc_for_state(&body, prior.get("template_body"));
        let own_tags: BTreeMap<String, String> = r
            .tags
            .into_iter()
            .filter(|(k, v)| {
                prior.get("tags").as_string_map().contains_key(k)
                    || aws.default_tags.get(k) != Some(v)
            })
            .collect();
        let tags = if own_tags.is_empty() && prior.get("tags").is_null() {
            Value::Null
        } else {
            Value::string_map(own_tags)
        };
        let name = id
            .rsplit_once(":stack/")
            .map(|(_, n)| n.split('/').next().unwrap_or(n))
            .unwrap_or(id);
        Some(Value::object([
            (
                "name",
                prior
                    .get("name")
                    .as_str()
                    .map(Value::string)
                    .unwrap_or_else(|| Value::string(name)),
            ),
            (
                "message_retention_seconds",
                retention.map(Value::int).unwrap_or(Value::Null),
            ),
            ("interruption_kinds", set_value(kinds)),
            ("tags", tags),
            ("stack_id", Value::string(r.id)),
            ("status", Value::string(r.status.as_str())),
            ("outputs", Value::string_map(r.outputs)),
            ("template_body", body_value),
            ("timeouts", prior.get("timeouts").clone()),
        ]))
    }

    /// After a create or update: the planned values plus what only AWS knows.
    fn settle_state(&self, planned: &Value, r: &Remote, body: &str) -> Value {
        let mut s = planned.clone();
        s.set("stack_id", Value::string(&r.id));
        s.set("status", Value::string(r.status.as_str()));
        s.set("outputs", Value::string_map(r.outputs.clone()));
        s.set("template_body", Value::string(body));
        s
    }
}

#[async_trait]
impl Resource for BootstrapStack {
    fn type_name(&self) -> &'static str {
        "karpenter_bootstrap_stack"
    }

    fn schema(&self) -> Schema {
        // In cty's order for a set of strings (sorted): Terraform sends the prior state's set
        // sorted, and the planner compares values element by element, so a default in another
        // order would look like a change on every plan.
        let mut kinds: Vec<String> = KINDS.iter().map(|k| k.to_string()).collect();
        kinds.sort();
        let all_kinds = set_value(kinds);
        Schema::new(
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
                        .description("Stack name. Defaults to `Karpenter-<cluster_name>`.")
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
                .block(timeouts_block(&["create", "update", "delete"], "30m")),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        validate_timeouts(config, &["create", "update", "delete"], diags);
        for k in string_set(config.get("interruption_kinds")) {
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

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        prior: &Value,
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
            plan.planned
                .set("name", Value::string(queue_name(&aws.cluster_name)));
        }
        let body = template_text(&aws, &plan.planned);
        plan.planned.set(
            "template_body",
            body.map(Value::String).unwrap_or(Value::Unknown),
        );
        if prior.get("status").as_str().is_some_and(needs_recreate) {
            plan.planned.set("status", Value::Unknown);
            plan.requires_replace.push(AttributePath::attr("status"));
        }
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let cfn = cloudformation(&aws);
        let name = planned.get("name").as_str().unwrap_or_default().to_string();
        let body = template_text(&aws, planned)?;
        let id = match cfn
            .create_stack()
            .stack_name(&name)
            .template_body(&body)
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(
                Some(stack_tags(aws.merged_tags(planned.get("tags")))).filter(|t| !t.is_empty()),
            )
            .send()
            .await
        {
            Ok(o) => o.stack_id().unwrap_or(&name).to_string(),
            Err(e) => {
                let why = if e.code() == Some("AlreadyExistsException") {
                    format!(
                        "A stack named {name} already exists: import it (`terraform import <address> {name}`) or choose another name."
                    )
                } else {
                    let events = self.failure_events(&cfn, &name).await;
                    format!("{}\n\nStack events:\n{events}", sdk_error_text(&e))
                };
                aws_error(
                    diags,
                    "cloudformation:CreateStack",
                    &format!("stack {name}"),
                    &why,
                );
                // CloudFormation may have recorded the stack even though the call failed.
                return self
                    .describe(&cfn, &name, &mut Diagnostics::new())
                    .await
                    .map(|r| self.settle_state(planned, &r, &body));
            }
        };
        let timeout = timeout_of(planned, "create", DEFAULT_TIMEOUT);
        match self.wait(ctx, &cfn, &id, "create", timeout, diags).await {
            Some(r) => Some(self.settle_state(planned, &r, &body)),
            None => {
                // Still in progress (cancelled, timed out): keep the stack in state.
                let mut s = planned.clone();
                s.set("stack_id", Value::string(id));
                s.set("status", Value::string("CREATE_IN_PROGRESS"));
                s.set("outputs", Value::Null);
                s.set("template_body", Value::string(body));
                Some(s)
            }
        }
    }

    async fn read(
        &self,
        ctx: &CallContext,
        state: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let id = state
            .get("stack_id")
            .as_str()
            .or(state.get("name").as_str())?
            .to_string();
        self.fetch(&aws, &id, state, diags).await
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let cfn = cloudformation(&aws);
        let id = prior.get("stack_id").as_str()?.to_string();
        let body = template_text(&aws, planned)?;
        let r = cfn
            .update_stack()
            .stack_name(&id)
            .template_body(&body)
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(Some(stack_tags(aws.merged_tags(planned.get("tags")))))
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
        let timeout = timeout_of(planned, "update", DEFAULT_TIMEOUT);
        let r = self.wait(ctx, &cfn, &id, "update", timeout, diags).await?;
        Some(self.settle_state(planned, &r, &body))
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(aws) = aws(ctx, diags) else { return };
        let cfn = cloudformation(&aws);
        let Some(id) = prior
            .get("stack_id")
            .as_str()
            .or(prior.get("name").as_str())
            .map(str::to_string)
        else {
            return;
        };
        if let Err(e) = cfn.delete_stack().stack_name(&id).send().await
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
        let timeout = timeout_of(prior, "delete", DEFAULT_TIMEOUT);
        // Deleted stacks are found by id with DELETE_COMPLETE, which `describe` reports as gone.
        if let Some(r) = self.wait(ctx, &cfn, &id, "delete", timeout, diags).await
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

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

#[async_trait]
impl Importer for BootstrapStack {
    fn id_description(&self) -> String {
        "the stack name".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let state = self
            .fetch(
                &aws,
                id,
                &Value::object([("name", Value::string(id))]),
                diags,
            )
            .await;
        if state.is_none() && !diags.has_errors() {
            diags.error(
                "Stack not found",
                format!(
                    "No CloudFormation stack named {id:?} exists in {}.",
                    aws.region
                ),
            );
        }
        state
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
        let schema = BootstrapStack.schema();
        let Some(Value::Set(kinds)) = schema
            .block
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
