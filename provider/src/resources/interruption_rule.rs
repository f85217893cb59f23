//! `karpenter_interruption_rule`: one EventBridge rule per interruption kind, targeting the
//! interruption queue.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::{RuleState, Tag, Target};

use super::common::{ArnOf, aws, aws_error, sdk_error_text, tags_for_state};
use crate::plugin::validate::{CharsIn, LengthBetween, OneOf};
use crate::plugin::{
    Attribute, Block, CallContext, Diagnostics, Importer, PlannedChange, Resource, Schema, Value,
};
use crate::provider::AwsContext;
use karpenter_contract::interruption::{KINDS, TARGET_ID, event_pattern, rule_name};

pub struct InterruptionRule;

fn is_gone<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundException")
}

fn aws_tags(m: BTreeMap<String, String>, diags: &mut Diagnostics) -> Option<Vec<Tag>> {
    m.into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| diags.error("Invalid tag", e.to_string()))
        .ok()
}

impl InterruptionRule {
    async fn put_target(
        &self,
        aws: &AwsContext,
        name: &str,
        queue_arn: &str,
        diags: &mut Diagnostics,
    ) -> bool {
        let target = match Target::builder().id(TARGET_ID).arn(queue_arn).build() {
            Ok(t) => t,
            Err(e) => {
                diags.error("Invalid target", e.to_string());
                return false;
            }
        };
        match aws
            .events
            .put_targets()
            .rule(name)
            .targets(target)
            .send()
            .await
        {
            Ok(o) if o.failed_entry_count == 0 => true,
            Ok(o) => {
                let why: Vec<String> = o
                    .failed_entries()
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f.error_code().unwrap_or("?"),
                            f.error_message().unwrap_or("?")
                        )
                    })
                    .collect();
                aws_error(diags, "events:PutTargets", name, &why.join("; "));
                false
            }
            Err(e) => {
                aws_error(diags, "events:PutTargets", name, &sdk_error_text(&e));
                false
            }
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let rule = match aws.events.describe_rule().name(name).send().await {
            Ok(r) => r,
            Err(e) => {
                if !e.as_service_error().is_some_and(is_gone) {
                    aws_error(diags, "events:DescribeRule", name, &sdk_error_text(&e));
                }
                return None;
            }
        };
        let arn = rule.arn().unwrap_or_default().to_string();
        let remote_pattern: Option<serde_json::Value> = rule
            .event_pattern()
            .and_then(|p| serde_json::from_str(p).ok());
        // The kind is ours, not AWS's: recover it from the pattern on import.
        let kind = prior.get("kind").as_str().map(str::to_string).or_else(|| {
            KINDS
                .iter()
                .find(|k| event_pattern(k) == remote_pattern)
                .map(|k| k.to_string())
        });
        let pattern_text = remote_pattern
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let targets = match aws.events.list_targets_by_rule().rule(name).send().await {
            Ok(o) => o.targets.unwrap_or_default(),
            Err(e) => {
                aws_error(diags, "events:ListTargetsByRule", name, &sdk_error_text(&e));
                return None;
            }
        };
        let queue_arn = targets
            .iter()
            .find(|t| t.id() == TARGET_ID)
            .map(|t| t.arn().to_string());
        let tags: BTreeMap<String, String> = match aws
            .events
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
        {
            Ok(o) => o
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e) => {
                aws_error(
                    diags,
                    "events:ListTagsForResource",
                    name,
                    &sdk_error_text(&e),
                );
                return None;
            }
        };
        Some(Value::object([
            ("name", Value::string(name)),
            ("arn", Value::string(arn)),
            ("kind", kind.map(Value::String).unwrap_or(Value::Null)),
            (
                "queue_arn",
                queue_arn.map(Value::String).unwrap_or(Value::Null),
            ),
            ("event_pattern", Value::string(pattern_text)),
            ("tags", tags_for_state(&tags, aws, prior)),
        ]))
    }
}

#[async_trait]
impl Resource for InterruptionRule {
    fn type_name(&self) -> &'static str {
        "karpenter_interruption_rule"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "An EventBridge rule that forwards one kind of EC2 interruption event to the interruption queue. \
                     Create one per kind the controller should handle.",
                )
                .attribute(
                    Attribute::string("kind")
                        .required()
                        .description("Which events the rule forwards.")
                        .validator(OneOf(KINDS.to_vec()))
                        .requires_replace(),
                )
                .attribute(
                    Attribute::string("queue_arn")
                        .required()
                        .description("ARN of the interruption queue (`karpenter_interruption_queue.<name>.arn`).")
                        .validator(ArnOf("sqs")),
                )
                .attribute(
                    Attribute::string("name")
                        .optional()
                        .computed()
                        .description("Rule name. Defaults to `Karpenter-<cluster_name>-<kind>` with `_` written as `-`.")
                        .validator(LengthBetween(1, 64))
                        .validator(CharsIn {
                            allowed: "letters, digits, `.`, `-` and `_`",
                            test: |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'),
                        })
                        .requires_replace()
                        .use_state_for_unknown(),
                )
                .attribute(Attribute::string_map("tags").optional().description("Tags of the rule, added to the provider's `default_tags`."))
                .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Rule ARN."))
                .attribute(
                    Attribute::string("event_pattern")
                        .computed()
                        .description("The EventBridge event pattern (JSON) of `kind`."),
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
        let Some(kind) = plan.planned.get("kind").as_str().map(str::to_string) else {
            return;
        };
        if let Some(p) = event_pattern(&kind) {
            plan.planned
                .set("event_pattern", Value::string(p.to_string()));
        }
        if plan.planned.get("name").is_unknown()
            && let Some(aws) = ctx.provider_data::<AwsContext>()
        {
            let name = rule_name(&aws.cluster_name, &kind);
            plan.planned.set("name", Value::string(name));
        }
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let name = planned.get("name").as_str().unwrap_or_default().to_string();
        let kind = planned.get("kind").as_str().unwrap_or_default();
        let Some(pattern) = event_pattern(kind) else {
            diags.error(
                "Unknown kind",
                format!("{kind:?} is not an interruption kind."),
            );
            return None;
        };
        let tags = aws_tags(aws.merged_tags(planned.get("tags")), diags)?;
        let arn = match aws
            .events
            .put_rule()
            .name(&name)
            .event_pattern(pattern.to_string())
            .state(RuleState::Enabled)
            .description(format!(
                "karpenter-rs {kind} events for cluster {}",
                aws.cluster_name
            ))
            .set_tags(Some(tags).filter(|t| !t.is_empty()))
            .send()
            .await
        {
            Ok(o) => o.rule_arn.unwrap_or_default(),
            Err(e) => {
                aws_error(diags, "events:PutRule", &name, &sdk_error_text(&e));
                return None;
            }
        };
        let mut state = planned.clone();
        state.set("arn", Value::string(arn));
        state.set("event_pattern", Value::string(pattern.to_string()));
        let queue_arn = planned.get("queue_arn").as_str().unwrap_or_default();
        // The rule exists even if the target fails: return its state with the error.
        self.put_target(&aws, &name, queue_arn, diags).await;
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
        let mut fresh = self.fetch(&aws, &name, state, diags).await?;
        // Same pattern, different key order or spacing: keep the text we planned.
        let same = |a: &Value, b: &Value| {
            let p = |v: &Value| {
                v.as_str()
                    .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
            };
            p(a).is_some() && p(a) == p(b)
        };
        if same(fresh.get("event_pattern"), state.get("event_pattern")) {
            fresh.set("event_pattern", state.get("event_pattern").clone());
        }
        Some(fresh)
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let name = prior.get("name").as_str()?.to_string();
        let arn = prior.get("arn").as_str().unwrap_or_default().to_string();
        if planned.get("queue_arn") != prior.get("queue_arn") {
            let q = planned.get("queue_arn").as_str().unwrap_or_default();
            if !self.put_target(&aws, &name, q, diags).await {
                return None;
            }
        }
        let want = aws.merged_tags(planned.get("tags"));
        let had = aws.merged_tags(prior.get("tags"));
        let stale: Vec<String> = had
            .keys()
            .filter(|k| !want.contains_key(*k))
            .cloned()
            .collect();
        if !stale.is_empty()
            && let Err(e) = aws
                .events
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(stale))
                .send()
                .await
        {
            aws_error(diags, "events:UntagResource", &name, &sdk_error_text(&e));
            return None;
        }
        if want != had && !want.is_empty() {
            let tags = aws_tags(want, diags)?;
            if let Err(e) = aws
                .events
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tags))
                .send()
                .await
            {
                aws_error(diags, "events:TagResource", &name, &sdk_error_text(&e));
                return None;
            }
        }
        Some(planned.clone())
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(aws) = aws(ctx, diags) else { return };
        let Some(name) = prior.get("name").as_str() else {
            return;
        };
        // EventBridge refuses to delete a rule that still has targets.
        if let Err(e) = aws
            .events
            .remove_targets()
            .rule(name)
            .ids(TARGET_ID)
            .send()
            .await
            && !e.as_service_error().is_some_and(is_gone)
        {
            aws_error(diags, "events:RemoveTargets", name, &sdk_error_text(&e));
            return;
        }
        if let Err(e) = aws.events.delete_rule().name(name).send().await
            && !e.as_service_error().is_some_and(is_gone)
        {
            aws_error(diags, "events:DeleteRule", name, &sdk_error_text(&e));
        }
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

#[async_trait]
impl Importer for InterruptionRule {
    fn id_description(&self) -> String {
        "the rule name".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let state = self.fetch(&aws, id, &Value::Null, diags).await;
        if state.is_none() && !diags.has_errors() {
            diags.error(
                "Rule not found",
                format!("No EventBridge rule named {id:?} exists in {}.", aws.region),
            );
        }
        state
    }
}
