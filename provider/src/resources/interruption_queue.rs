//! `karpenter_interruption_queue`: the SQS queue EventBridge delivers interruption events to and
//! the controller long-polls.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName as Q;

use super::common::{
    Waited, aws, aws_error, parse_duration, sdk_error_text, tags_for_state, wait_until,
};
use crate::plugin::validate::{CharsIn, IntBetween, LengthBetween};
use crate::plugin::{
    Attribute, Block, BlockNesting, CallContext, Diagnostics, Importer, NestedBlock, PlannedChange,
    Resource, Schema, Value,
};
use crate::provider::AwsContext;

pub struct InterruptionQueue;

const DEFAULT_CREATE_TIMEOUT: Duration = Duration::from_secs(120);

/// Allows EventBridge (and SQS itself, for redrives) to send, and refuses any non-TLS access.
pub fn queue_policy(arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "KarpenterInterruptionQueue",
        "Statement": [
            {
                "Sid": "AllowEventBridgeAndSqs",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": arn
            },
            {
                "Sid": "DenyNonTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }
        ]
    })
    .to_string()
}

fn is_gone<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
    )
}

impl InterruptionQueue {
    /// Reads the queue behind `url`: None when it no longer exists.
    async fn fetch(
        &self,
        aws: &AwsContext,
        url: &str,
        prior: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let attrs = match aws
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Q::All)
            .send()
            .await
        {
            Ok(o) => o.attributes.unwrap_or_default(),
            Err(e) => {
                if e.as_service_error().is_some_and(is_gone) {
                    return None;
                }
                aws_error(diags, "sqs:GetQueueAttributes", url, &sdk_error_text(&e));
                return None;
            }
        };
        let tags: BTreeMap<String, String> =
            match aws.sqs.list_queue_tags().queue_url(url).send().await {
                Ok(o) => o.tags.unwrap_or_default().into_iter().collect(),
                Err(e) => {
                    aws_error(diags, "sqs:ListQueueTags", url, &sdk_error_text(&e));
                    return None;
                }
            };
        let name = url.rsplit('/').next().unwrap_or_default();
        let retention = attrs
            .get(&Q::MessageRetentionPeriod)
            .and_then(|s| s.parse::<i64>().ok())
            .map(Value::int)
            .unwrap_or(Value::Null);
        // Queues created before SSE-SQS existed report no attribute: that is "off".
        let sse = attrs
            .get(&Q::SqsManagedSseEnabled)
            .map(|s| s == "true")
            .unwrap_or(false);
        let mut state = Value::object([
            ("name", Value::string(name)),
            ("url", Value::string(url)),
            (
                "arn",
                attrs
                    .get(&Q::QueueArn)
                    .map(Value::string)
                    .unwrap_or(Value::Null),
            ),
            ("message_retention_seconds", retention),
            ("sqs_managed_sse_enabled", Value::Bool(sse)),
            ("tags", tags_for_state(&tags, aws, prior)),
        ]);
        state.set("timeouts", prior.get("timeouts").clone());
        Some(state)
    }

    /// SQS attribute changes can take a while to show everywhere; wait until a read sees what we
    /// set, so dependants (EventBridge targets) find the policy in place.
    async fn wait_ready(
        &self,
        ctx: &CallContext,
        aws: &AwsContext,
        url: &str,
        retention: &str,
        timeout: Duration,
    ) -> Waited<()> {
        wait_until(ctx, timeout, move || async move {
            let o = aws
                .sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(Q::All)
                .send()
                .await
                .ok()?;
            let a = o.attributes?;
            (a.contains_key(&Q::Policy)
                && a.get(&Q::MessageRetentionPeriod).map(String::as_str) == Some(retention))
            .then_some(())
        })
        .await
    }
}

#[async_trait]
impl Resource for InterruptionQueue {
    fn type_name(&self) -> &'static str {
        "karpenter_interruption_queue"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new()
                .description(
                    "The SQS queue that receives EC2 interruption events (spot interruption warnings, rebalance \
                     recommendations, scheduled changes, state changes) for the karpenter-rs controller. Its policy \
                     lets EventBridge and SQS send messages and denies any access without TLS.",
                )
                .attribute(
                    Attribute::string("name")
                        .optional()
                        .computed()
                        .description("Queue name. Defaults to `Karpenter-<cluster_name>`.")
                        .validator(LengthBetween(1, 80))
                        .validator(CharsIn {
                            allowed: "letters, digits, `-` and `_`",
                            test: |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
                        })
                        .requires_replace()
                        .use_state_for_unknown(),
                )
                .attribute(
                    Attribute::number("message_retention_seconds")
                        .default_value(Value::int(300))
                        .description("How long an undelivered event is kept; interruption warnings are useless after 2 minutes.")
                        .validator(IntBetween(60, 1_209_600)),
                )
                .attribute(
                    Attribute::bool("sqs_managed_sse_enabled")
                        .default_value(Value::Bool(true))
                        .description("Encrypt messages at rest with SQS-managed keys."),
                )
                .attribute(Attribute::string_map("tags").optional().description("Tags of the queue, added to the provider's `default_tags`."))
                .attribute(
                    Attribute::string("url")
                        .computed()
                        .use_state_for_unknown()
                        .description("Queue URL, for the controller's `interruption_queue` setting."),
                )
                .attribute(Attribute::string("arn").computed().use_state_for_unknown().description("Queue ARN, for EventBridge rule targets and IAM policies."))
                .block(NestedBlock::new(
                    "timeouts",
                    BlockNesting::Single,
                    Block::new()
                        .description("How long operations may take.")
                        .attribute(
                            Attribute::string("create")
                                .optional()
                                .description("How long to wait for the new queue's attributes to be visible, e.g. `2m` (the default)."),
                        ),
                )),
        )
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let Some(t) = config.get("timeouts").get("create").as_str()
            && parse_duration(t).is_none()
        {
            diags.error_at(
                crate::plugin::AttributePath::attr("timeouts").push_attr("create"),
                "Invalid duration",
                format!("{t:?} is not a duration; write e.g. `90s`, `2m` or `1h`."),
            );
        }
    }

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        _prior: &Value,
        _config: &Value,
        plan: &mut PlannedChange,
        _diags: &mut Diagnostics,
    ) {
        if plan.planned.is_null() || !plan.planned.get("name").is_unknown() {
            return;
        }
        if let Some(aws) = ctx.provider_data::<AwsContext>() {
            plan.planned.set(
                "name",
                Value::string(karpenter_contract::interruption::queue_name(
                    &aws.cluster_name,
                )),
            );
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
        let retention = planned
            .get("message_retention_seconds")
            .as_i64()
            .unwrap_or(300)
            .to_string();
        let sse = planned
            .get("sqs_managed_sse_enabled")
            .as_bool()
            .unwrap_or(true);
        let mut req = aws
            .sqs
            .create_queue()
            .queue_name(&name)
            .attributes(Q::MessageRetentionPeriod, &retention)
            .attributes(Q::SqsManagedSseEnabled, sse.to_string());
        for (k, v) in aws.merged_tags(planned.get("tags")) {
            req = req.tags(k, v);
        }
        let url = match req.send().await {
            Ok(o) => o.queue_url.unwrap_or_default(),
            Err(e) => {
                aws_error(diags, "sqs:CreateQueue", &name, &sdk_error_text(&e));
                return None;
            }
        };
        tracing::info!(%url, "created interruption queue");
        // From here on the queue exists: every failure returns its state so Terraform tracks it.
        let Some(mut state) = self.fetch(&aws, &url, planned, diags).await else {
            return Some(partial(planned, &url));
        };
        let arn = state.get("arn").as_str().unwrap_or_default().to_string();
        if let Err(e) = aws
            .sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(Q::Policy, queue_policy(&arn))
            .send()
            .await
        {
            aws_error(diags, "sqs:SetQueueAttributes", &name, &sdk_error_text(&e));
            return Some(state);
        }
        let timeout = planned
            .get("timeouts")
            .get("create")
            .as_str()
            .and_then(parse_duration)
            .unwrap_or(DEFAULT_CREATE_TIMEOUT);
        match self.wait_ready(ctx, &aws, &url, &retention, timeout).await {
            Waited::Done(()) => {}
            Waited::Cancelled => diags.error(
                "Interrupted while waiting for the queue",
                format!("The queue {name} was created and is recorded in state; run apply again to finish."),
            ),
            Waited::TimedOut => diags.error(
                "Timed out waiting for the queue",
                format!("The queue {name} was created but its attributes were not visible within {timeout:?}; run apply again."),
            ),
        }
        state.set("timeouts", planned.get("timeouts").clone());
        // Values the user planned win over what an eventually-consistent read returned.
        for k in [
            "message_retention_seconds",
            "sqs_managed_sse_enabled",
            "tags",
        ] {
            state.set(k, planned.get(k).clone());
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
        let url = state.get("url").as_str()?.to_string();
        self.fetch(&aws, &url, state, diags).await
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        let url = prior.get("url").as_str()?.to_string();
        let retention = planned
            .get("message_retention_seconds")
            .as_i64()
            .unwrap_or(300)
            .to_string();
        let sse = planned
            .get("sqs_managed_sse_enabled")
            .as_bool()
            .unwrap_or(true);
        if let Err(e) = aws
            .sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(Q::MessageRetentionPeriod, &retention)
            .attributes(Q::SqsManagedSseEnabled, sse.to_string())
            .send()
            .await
        {
            aws_error(diags, "sqs:SetQueueAttributes", &url, &sdk_error_text(&e));
            return None;
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
                .sqs
                .untag_queue()
                .queue_url(&url)
                .set_tag_keys(Some(stale))
                .send()
                .await
        {
            aws_error(diags, "sqs:UntagQueue", &url, &sdk_error_text(&e));
            return None;
        }
        if !want.is_empty() {
            let mut req = aws.sqs.tag_queue().queue_url(&url);
            for (k, v) in want {
                req = req.tags(k, v);
            }
            if let Err(e) = req.send().await {
                aws_error(diags, "sqs:TagQueue", &url, &sdk_error_text(&e));
                return None;
            }
        }
        Some(planned.clone())
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let Some(aws) = aws(ctx, diags) else { return };
        let Some(url) = prior.get("url").as_str() else {
            return;
        };
        if let Err(e) = aws.sqs.delete_queue().queue_url(url).send().await
            && !e.as_service_error().is_some_and(is_gone)
        {
            aws_error(diags, "sqs:DeleteQueue", url, &sdk_error_text(&e));
        }
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

/// State of a queue we created but could not read back: enough for read/delete to find it.
fn partial(planned: &Value, url: &str) -> Value {
    let mut s = planned.clone();
    s.set("url", Value::string(url));
    if s.get("arn").is_unknown() {
        s.set("arn", Value::Null);
    }
    s
}

#[async_trait]
impl Importer for InterruptionQueue {
    fn id_description(&self) -> String {
        "the queue name".into()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = aws(ctx, diags)?;
        match aws.sqs.get_queue_url().queue_name(id).send().await {
            Ok(o) => Some(Value::object([
                ("name", Value::string(id)),
                ("url", Value::string(o.queue_url.unwrap_or_default())),
            ])),
            Err(e) => {
                if e.as_service_error().is_some_and(is_gone) {
                    diags.error(
                        "Queue not found",
                        format!("No SQS queue named {id:?} exists in {}.", aws.region),
                    );
                } else {
                    aws_error(diags, "sqs:GetQueueUrl", id, &sdk_error_text(&e));
                }
                None
            }
        }
    }
}
