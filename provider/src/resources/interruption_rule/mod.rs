//! `karpenter_interruption_rule`: one EventBridge rule per interruption kind, targeting the
//! interruption queue.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::{RuleState, Tag, Target};

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::validate::{CharsIn, LengthBetween, OneOf};
use crate::plugin::{Attribute, Block, Diagnostics, PlannedChange, Value};
use crate::resources::aws::errors::{aws_error, sdk_error_text};
use crate::resources::aws::identifiers::Arn;
use crate::resources::aws::tags::{stale_keys, tags_for_state};
use crate::resources::framework::{AwsObject, Fetched, Op};
use crate::resources::policies::doc_for_state;
use karpenter_contract::interruption::{KINDS, TARGET_ID, event_pattern, rule_name};

pub struct InterruptionRule;

model! {
    pub struct Rule {
        kind: Option<String>,
        queue_arn: Option<String>,
        name: Option<String>,
        tags: Option<BTreeMap<String, String>>,
        arn: Option<String>,
        event_pattern: Option<String>,
    }
}

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

async fn put_target(
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

#[async_trait]
impl AwsObject for InterruptionRule {
    type State = Rule;
    const TYPE_NAME: &'static str = "karpenter_interruption_rule";
    const NOUN: &'static str = "EventBridge rule";
    const IMPORT_ID: &'static str = "the rule name";

    fn schema(&self) -> Block {
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
                        .validator(Arn::of("sqs")),
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
                )
    }

    fn plan(&self, aws: &AwsContext, _prior: &Value, plan: &mut PlannedChange) {
        let Some(kind) = plan.planned.get("kind").as_str().map(str::to_string) else {
            return;
        };
        if let Some(p) = event_pattern(&kind) {
            plan.planned
                .set("event_pattern", Value::string(p.to_string()));
        }
        // The default name depends on the kind, so it is planned here rather than by a modifier.
        if plan.planned.get("name").is_unknown() {
            plan.planned
                .set("name", Value::string(rule_name(&aws.cluster_name, &kind)));
        }
    }

    fn locator(state: &Rule) -> Option<String> {
        state.name.clone()
    }

    fn imported(id: &str, _locator: &str) -> Rule {
        Rule {
            name: Some(id.to_string()),
            ..Rule::default()
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        name: &str,
        prior: &Rule,
        diags: &mut Diagnostics,
    ) -> Fetched<Rule> {
        let rule = match aws.events.describe_rule().name(name).send().await {
            Ok(r) => r,
            Err(e) if e.as_service_error().is_some_and(is_gone) => return Fetched::Gone,
            Err(e) => {
                aws_error(diags, "events:DescribeRule", name, &sdk_error_text(&e));
                return Fetched::Failed;
            }
        };
        let arn = rule.arn().unwrap_or_default().to_string();
        let remote_pattern: Option<serde_json::Value> = rule
            .event_pattern()
            .and_then(|p| serde_json::from_str(p).ok());
        // The kind is ours, not AWS's: recover it from the pattern on import.
        let kind = prior.kind.clone().or_else(|| {
            KINDS
                .iter()
                .find(|k| event_pattern(k) == remote_pattern)
                .map(|k| k.to_string())
        });
        let targets = match aws.events.list_targets_by_rule().rule(name).send().await {
            Ok(o) => o.targets.unwrap_or_default(),
            Err(e) => {
                aws_error(diags, "events:ListTargetsByRule", name, &sdk_error_text(&e));
                return Fetched::Failed;
            }
        };
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
                return Fetched::Failed;
            }
        };
        Fetched::Found(Rule {
            name: Some(name.to_string()),
            arn: Some(arn),
            kind,
            queue_arn: targets
                .iter()
                .find(|t| t.id() == TARGET_ID)
                .map(|t| t.arn().to_string()),
            // Same pattern, different key order or spacing: keep the text we planned.
            event_pattern: Some(doc_for_state(
                rule.event_pattern().unwrap_or_default(),
                prior.event_pattern.as_deref(),
            )),
            tags: tags_for_state(&tags, aws, &prior.tags),
        })
    }

    async fn create(&self, op: &Op<'_>, planned: &Rule, diags: &mut Diagnostics) -> Option<Rule> {
        let aws = op.aws;
        let name = planned.name.clone().unwrap_or_default();
        let kind = planned.kind.as_deref().unwrap_or_default();
        let Some(pattern) = event_pattern(kind) else {
            diags.error(
                "Unknown kind",
                format!("{kind:?} is not an interruption kind."),
            );
            return None;
        };
        let tags = aws_tags(aws.merged_tags(&planned.tags), diags)?;
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
        let state = Rule {
            arn: Some(arn),
            event_pattern: Some(pattern.to_string()),
            ..planned.clone()
        };
        // The rule exists even if the target fails: return its state with the error.
        let queue_arn = planned.queue_arn.as_deref().unwrap_or_default();
        put_target(aws, &name, queue_arn, diags).await;
        Some(state)
    }

    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Rule,
        planned: &Rule,
        diags: &mut Diagnostics,
    ) -> Option<Rule> {
        let aws = op.aws;
        let name = prior.name.as_deref()?;
        let arn = prior.arn.as_deref().unwrap_or_default();
        if planned.queue_arn != prior.queue_arn {
            let q = planned.queue_arn.as_deref().unwrap_or_default();
            if !put_target(aws, name, q, diags).await {
                return None;
            }
        }
        let want = aws.merged_tags(&planned.tags);
        let had = aws.merged_tags(&prior.tags);
        let stale = stale_keys(&had, &want);
        if !stale.is_empty()
            && let Err(e) = aws
                .events
                .untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(stale))
                .send()
                .await
        {
            aws_error(diags, "events:UntagResource", name, &sdk_error_text(&e));
            return None;
        }
        if want != had && !want.is_empty() {
            let tags = aws_tags(want, diags)?;
            if let Err(e) = aws
                .events
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .send()
                .await
            {
                aws_error(diags, "events:TagResource", name, &sdk_error_text(&e));
                return None;
            }
        }
        Some(planned.clone())
    }

    async fn delete(&self, op: &Op<'_>, prior: &Rule, diags: &mut Diagnostics) {
        let Some(name) = prior.name.as_deref() else {
            return;
        };
        let events = &op.aws.events;
        // EventBridge refuses to delete a rule that still has targets.
        if let Err(e) = events
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
        if let Err(e) = events.delete_rule().name(name).send().await
            && !e.as_service_error().is_some_and(is_gone)
        {
            aws_error(diags, "events:DeleteRule", name, &sdk_error_text(&e));
        }
    }
}
