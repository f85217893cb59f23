//! The interruption families (anchor names), registered into the process registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageTypeLabels {
    pub message_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

#[derive(Clone)]
pub struct InterruptionMetrics {
    /// By outcome label: a kind name, `ignored` or `unparseable`.
    pub received: Family<MessageTypeLabels, Counter>,
    pub deleted: Counter,
    /// By action, plus `not_ours` and `already_terminating` for messages that start nothing.
    pub actions: Family<ActionLabels, Counter>,
    /// Message sent (SQS SentTimestamp) -> the node tainted or the action started.
    pub latency: Histogram,
    pub receive_errors: Counter,
}

impl InterruptionMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let m = InterruptionMetrics {
            received: Family::default(),
            deleted: Counter::default(),
            actions: Family::default(),
            latency: Histogram::new(exponential_buckets(0.01, 2.0, 16)),
            receive_errors: Counter::default(),
        };
        for label in karpenter_core::interruption::OUTCOME_LABELS {
            let _ = m.received.get_or_create(&MessageTypeLabels {
                message_type: label.to_string(),
            });
        }
        metrics.register(
            "karpenter_interruption_received_messages",
            "Interruption queue messages received, by message type (kind, ignored, unparseable)",
            m.received.clone(),
        );
        metrics.register(
            "karpenter_interruption_deleted_messages",
            "Interruption queue messages deleted after handling",
            m.deleted.clone(),
        );
        metrics.register(
            "karpenter_interruption_actions_performed",
            "Actions started for interruption messages, by action",
            m.actions.clone(),
        );
        metrics.register(
            "karpenter_interruption_message_latency_time_seconds",
            "Time from a message entering the queue to its node being cordoned",
            m.latency.clone(),
        );
        metrics.register(
            "karpenter_interruption_receive_errors",
            "Failed ReceiveMessage calls",
            m.receive_errors.clone(),
        );
        m
    }

    pub fn action(&self, action: &str) {
        self.actions
            .get_or_create(&ActionLabels {
                action: action.to_string(),
            })
            .inc();
    }
}
