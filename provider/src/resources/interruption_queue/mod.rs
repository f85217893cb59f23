//! `karpenter_interruption_queue`: the SQS queue EventBridge delivers interruption events to and
//! the controller long-polls.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName as Q;

use crate::aws_context::AwsContext;
use crate::model;
use crate::plugin::validate::{CharsIn, IntBetween, LengthBetween};
use crate::plugin::{Attribute, Block, Diagnostics, Value};
use crate::resources::aws::errors::{aws_error, sdk_error_text};
use crate::resources::aws::retry::{Stopped, wait_until};
use crate::resources::aws::tags::{stale_keys, tags_for_state};
use crate::resources::framework::{AwsObject, Fetched, Op, Timeouts, default_name};
use crate::resources::policies::queue_policy;

pub struct InterruptionQueue;

model! {
    pub struct Queue {
        name: Option<String>,
        message_retention_seconds: i64,
        sqs_managed_sse_enabled: bool,
        tags: Option<BTreeMap<String, String>>,
        url: Option<String>,
        arn: Option<String>,
    }
}

fn is_gone<E: ProvideErrorMetadata>(e: &E) -> bool {
    matches!(
        e.code(),
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
    )
}

/// SQS attribute changes can take a while to show everywhere; wait until a read sees what we
/// set, so dependants (EventBridge targets) find the policy in place.
async fn wait_ready(op: &Op<'_>, url: &str, retention: &str) -> Result<(), Stopped> {
    wait_until(op.ctx, op.timeout, || async {
        let o = op
            .aws
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

#[async_trait]
impl AwsObject for InterruptionQueue {
    type State = Queue;
    const TYPE_NAME: &'static str = "karpenter_interruption_queue";
    const NOUN: &'static str = "SQS queue";
    const IMPORT_ID: &'static str = "the queue name";
    const TIMEOUTS: Timeouts = &[("create", Duration::from_secs(120))];

    fn schema(&self) -> Block {
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
                    .description("Queue name.")
                    .validator(LengthBetween(1, 80))
                    .validator(CharsIn {
                        allowed: "letters, digits, `-` and `_`",
                        test: |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
                    })
                    .plan_modifier(default_name("Karpenter-<cluster_name>", |aws| {
                        karpenter_contract::interruption::queue_name(&aws.cluster_name)
                    }))
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
    }

    fn locator(state: &Queue) -> Option<String> {
        state.url.clone()
    }

    async fn resolve_import(
        &self,
        aws: &AwsContext,
        id: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        match aws.sqs.get_queue_url().queue_name(id).send().await {
            Ok(o) => o.queue_url,
            Err(e) => {
                if e.as_service_error().is_some_and(is_gone) {
                    diags.error(
                        "SQS queue not found",
                        format!("No SQS queue named {id:?} exists in {}.", aws.region),
                    );
                } else {
                    aws_error(diags, "sqs:GetQueueUrl", id, &sdk_error_text(&e));
                }
                None
            }
        }
    }

    fn imported(id: &str, url: &str) -> Queue {
        Queue {
            name: Some(id.to_string()),
            url: Some(url.to_string()),
            ..Queue::default()
        }
    }

    async fn fetch(
        &self,
        aws: &AwsContext,
        url: &str,
        prior: &Queue,
        diags: &mut Diagnostics,
    ) -> Fetched<Queue> {
        let attrs = match aws
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(Q::All)
            .send()
            .await
        {
            Ok(o) => o.attributes.unwrap_or_default(),
            Err(e) if e.as_service_error().is_some_and(is_gone) => return Fetched::Gone,
            Err(e) => {
                aws_error(diags, "sqs:GetQueueAttributes", url, &sdk_error_text(&e));
                return Fetched::Failed;
            }
        };
        let tags: BTreeMap<String, String> =
            match aws.sqs.list_queue_tags().queue_url(url).send().await {
                Ok(o) => o.tags.unwrap_or_default().into_iter().collect(),
                Err(e) => {
                    aws_error(diags, "sqs:ListQueueTags", url, &sdk_error_text(&e));
                    return Fetched::Failed;
                }
            };
        Fetched::Found(Queue {
            name: url.rsplit('/').next().map(str::to_string),
            url: Some(url.to_string()),
            arn: attrs.get(&Q::QueueArn).cloned(),
            message_retention_seconds: attrs
                .get(&Q::MessageRetentionPeriod)
                .and_then(|s| s.parse().ok())
                .unwrap_or(prior.message_retention_seconds),
            // Queues created before SSE-SQS existed report no attribute: that is "off".
            sqs_managed_sse_enabled: attrs
                .get(&Q::SqsManagedSseEnabled)
                .is_some_and(|s| s == "true"),
            tags: tags_for_state(&tags, aws, &prior.tags),
        })
    }

    async fn create(&self, op: &Op<'_>, planned: &Queue, diags: &mut Diagnostics) -> Option<Queue> {
        let aws = op.aws;
        let name = planned.name.clone().unwrap_or_default();
        let retention = planned.message_retention_seconds.to_string();
        let mut req = aws
            .sqs
            .create_queue()
            .queue_name(&name)
            .attributes(Q::MessageRetentionPeriod, &retention)
            .attributes(
                Q::SqsManagedSseEnabled,
                planned.sqs_managed_sse_enabled.to_string(),
            );
        for (k, v) in aws.merged_tags(&planned.tags) {
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
        let mut state = Queue {
            url: Some(url.clone()),
            ..planned.clone()
        };
        let Fetched::Found(fresh) = self.fetch(aws, &url, planned, diags).await else {
            return Some(state);
        };
        state.arn = fresh.arn;
        let Some(arn) = state.arn.clone() else {
            return Some(state);
        };
        if let Err(e) = aws
            .sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(Q::Policy, queue_policy(arn.into()).to_string())
            .send()
            .await
        {
            aws_error(diags, "sqs:SetQueueAttributes", &name, &sdk_error_text(&e));
            return Some(state);
        }
        match wait_ready(op, &url, &retention).await {
            Ok(()) => {}
            Err(Stopped::Cancelled) => diags.error(
                "Interrupted while waiting for the queue",
                format!("The queue {name} was created and is recorded in state; run apply again to finish."),
            ),
            Err(Stopped::TimedOut) => diags.error(
                "Timed out waiting for the queue",
                format!("The queue {name} was created but its attributes were not visible within {:?}; run apply again.", op.timeout),
            ),
        }
        Some(state)
    }

    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Queue,
        planned: &Queue,
        diags: &mut Diagnostics,
    ) -> Option<Queue> {
        let sqs = &op.aws.sqs;
        let url = prior.url.as_deref()?;
        if let Err(e) = sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(
                Q::MessageRetentionPeriod,
                planned.message_retention_seconds.to_string(),
            )
            .attributes(
                Q::SqsManagedSseEnabled,
                planned.sqs_managed_sse_enabled.to_string(),
            )
            .send()
            .await
        {
            aws_error(diags, "sqs:SetQueueAttributes", url, &sdk_error_text(&e));
            return None;
        }
        let want = op.aws.merged_tags(&planned.tags);
        let stale = stale_keys(&op.aws.merged_tags(&prior.tags), &want);
        if !stale.is_empty()
            && let Err(e) = sqs
                .untag_queue()
                .queue_url(url)
                .set_tag_keys(Some(stale))
                .send()
                .await
        {
            aws_error(diags, "sqs:UntagQueue", url, &sdk_error_text(&e));
            return None;
        }
        if !want.is_empty() {
            let mut req = sqs.tag_queue().queue_url(url);
            for (k, v) in want {
                req = req.tags(k, v);
            }
            if let Err(e) = req.send().await {
                aws_error(diags, "sqs:TagQueue", url, &sdk_error_text(&e));
                return None;
            }
        }
        Some(planned.clone())
    }

    async fn delete(&self, op: &Op<'_>, prior: &Queue, diags: &mut Diagnostics) {
        let Some(url) = prior.url.as_deref() else {
            return;
        };
        if let Err(e) = op.aws.sqs.delete_queue().queue_url(url).send().await
            && !e.as_service_error().is_some_and(is_gone)
        {
            aws_error(diags, "sqs:DeleteQueue", url, &sdk_error_text(&e));
        }
    }
}
