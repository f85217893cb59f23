//! The queue seam: receive a batch, delete a batch. [`SqsQueue`] is the SQS adapter
//! (long poll: 10 messages, 20 s wait).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

pub const MAX_MESSAGES: i32 = 10;
pub const WAIT_SECONDS: i32 = 20;

#[derive(Clone, Debug)]
pub struct Received {
    pub receipt: String,
    pub body: String,
    /// When SQS accepted the message; the latency metric counts from here.
    pub sent_at: Option<SystemTime>,
}

#[derive(Debug, thiserror::Error)]
#[error("SQS {operation}: {message}")]
pub struct QueueError {
    pub operation: &'static str,
    pub message: String,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Up to ten messages; an empty batch after the long poll is normal.
    async fn receive(&self) -> Result<Vec<Received>, QueueError>;
    /// Deletes up to ten messages by receipt handle in one call; returns why each message that
    /// could not be deleted was refused. Such a message comes back after its visibility timeout
    /// and is handled (idempotently) again.
    async fn delete(&self, receipts: &[String]) -> Result<Vec<String>, QueueError>;
}

pub struct SqsQueue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// `queue` is a queue URL or a queue name (resolved with GetQueueUrl).
    pub async fn connect(sdk: &aws_config::SdkConfig, queue: &str) -> Result<Self, QueueError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let url = if queue.starts_with("https://") || queue.starts_with("http://") {
            queue.to_string()
        } else {
            sqs.get_queue_url()
                .queue_name(queue)
                .send()
                .await
                .map_err(|e| QueueError {
                    operation: "GetQueueUrl",
                    message: format!("queue {queue:?}: {}", DisplayErrorContext(&e)),
                })?
                .queue_url
                .ok_or_else(|| QueueError {
                    operation: "GetQueueUrl",
                    message: format!("no URL returned for queue {queue:?}"),
                })?
        };
        Ok(SqsQueue { sqs, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn sent_at(millis: &str) -> Option<SystemTime> {
    let ms: u64 = millis.parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

#[async_trait]
impl Queue for SqsQueue {
    async fn receive(&self) -> Result<Vec<Received>, QueueError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(MAX_MESSAGES)
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| QueueError {
                operation: "ReceiveMessage",
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                // Without a receipt handle the message cannot be deleted; SQS always sends one.
                let receipt = m.receipt_handle?;
                let sent = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|v| sent_at(v));
                Some(Received {
                    receipt,
                    body: m.body.unwrap_or_default(),
                    sent_at: sent,
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: &[String]) -> Result<Vec<String>, QueueError> {
        if receipts.is_empty() {
            return Ok(Vec::new());
        }
        let entries = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError {
                operation: "DeleteMessageBatch",
                message: e.to_string(),
            })?;
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError {
                operation: "DeleteMessageBatch",
                message: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(out
            .failed
            .into_iter()
            .map(|f| format!("{}: {}", f.code, f.message.unwrap_or_default()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sent_timestamps_are_epoch_milliseconds() {
        let t = super::sent_at("1764082800123");
        assert_eq!(
            t.and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok()),
            Some(std::time::Duration::from_millis(1_764_082_800_123))
        );
        assert_eq!(super::sent_at("soon"), None);
    }
}
