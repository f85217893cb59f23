//! The queue processor: several workers long-poll the queue; every message is parsed, counted,
//! decided, started and deleted, whatever it held. Nothing a message contains can stop a worker:
//! a malformed one is logged and deleted, a failed action is logged (its node keeps the state it
//! reached and the next message or the finalizer continues from there). A message that starts a
//! plan is deleted when the plan is done, and kept when the plan could not finish or another
//! delivery of it is in progress ([`Ack::Keep`]): the queue delivers it again.

use std::sync::Arc;
use std::time::Duration;

use karpenter_core::interruption::{ActionSettings, outcome_label, parse_message};

use super::act::{Ack, Handler, Started};
use super::decide::{Decision, decide};
use super::metrics::{InterruptionMetrics, MessageTypeLabels};
use super::queue::{Queue, Received};

pub struct Processor {
    queue: Arc<dyn Queue>,
    handler: Arc<Handler>,
    actions: ActionSettings,
    metrics: InterruptionMetrics,
}

impl Processor {
    pub fn new(
        queue: Arc<dyn Queue>,
        handler: Arc<Handler>,
        actions: ActionSettings,
        metrics: InterruptionMetrics,
    ) -> Self {
        Processor {
            queue,
            handler,
            actions,
            metrics,
        }
    }

    /// Runs `workers` polling loops until the task is dropped.
    pub async fn run(self: Arc<Self>, workers: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..workers.max(1) {
            let me = self.clone();
            tasks.spawn(async move { me.work(worker).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn work(self: Arc<Self>, worker: usize) {
        let mut failures: u32 = 0;
        loop {
            match self.queue.receive().await {
                Ok(batch) => {
                    failures = 0;
                    let mut now = Vec::new();
                    for message in batch {
                        match self.handle(&message) {
                            Started::Done(Ack::Delete) => now.push(message.receipt),
                            Started::Done(Ack::Keep) => {}
                            running @ Started::Running(_) => {
                                let me = self.clone();
                                tokio::spawn(async move {
                                    if running.ack().await == Ack::Delete {
                                        me.delete(&[message.receipt]).await;
                                    }
                                });
                            }
                        }
                    }
                    if !now.is_empty() {
                        self.delete(&now).await;
                    }
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.metrics.receive_errors.inc();
                    let wait = Duration::from_secs(1u64 << failures.min(5));
                    tracing::warn!(worker, %error, retry_in = ?wait, "could not receive from the interruption queue");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Parses, counts, decides and starts; what becomes of the message: deleted now, kept, or
    /// deleted once the plan it started is done.
    pub fn handle(&self, message: &Received) -> Started {
        let parsed = parse_message(&message.body);
        let label = outcome_label(&parsed);
        self.metrics
            .received
            .get_or_create(&MessageTypeLabels {
                message_type: label.to_string(),
            })
            .inc();
        let mut started = Vec::new();
        match parsed {
            Err(error) => tracing::warn!(%error, "unparseable interruption message; deleting it"),
            Ok(parsed) => {
                for d in decide(&parsed, |id| self.handler.lookup(id), &self.actions) {
                    match d {
                        Decision::Ignored => {
                            tracing::debug!(?parsed, "interruption message asks nothing of us");
                        }
                        Decision::NotOurs { instance } => {
                            tracing::info!(%instance, kind = label, "interruption message for an instance with no node of ours; deleting it");
                            self.metrics.action("not_ours");
                        }
                        Decision::AlreadyTerminating { node } => {
                            tracing::debug!(%node, "interruption for a node already terminating");
                            self.metrics.action("already_terminating");
                        }
                        Decision::Act(plan) => {
                            started.push(self.handler.start(plan, message.sent_at));
                        }
                    }
                }
            }
        }
        all_of(started)
    }

    async fn delete(&self, receipts: &[String]) {
        match self.queue.delete(receipts).await {
            Ok(failed) => {
                let deleted = receipts.len().saturating_sub(failed.len());
                self.metrics.deleted.inc_by(deleted as u64);
                for why in failed {
                    tracing::warn!(%why, "could not delete an interruption message; it will be redelivered");
                }
            }
            Err(error) => {
                tracing::warn!(%error, messages = receipts.len(), "could not delete interruption messages; they will be redelivered")
            }
        }
    }
}

/// One fate for a message whose instances started several plans (a Health event can name
/// several): deleted once every plan is done, kept if any of them keeps it.
fn all_of(started: Vec<Started>) -> Started {
    let combine = |acks: &[Ack]| {
        if acks.contains(&Ack::Keep) {
            Ack::Keep
        } else {
            Ack::Delete
        }
    };
    if started.iter().all(|s| matches!(s, Started::Done(_))) {
        let acks: Vec<Ack> = started
            .into_iter()
            .filter_map(|s| match s {
                Started::Done(a) => Some(a),
                Started::Running(_) => None,
            })
            .collect();
        return Started::Done(combine(&acks));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let acks = futures::future::join_all(started.into_iter().map(Started::ack)).await;
        let _ = tx.send(combine(&acks));
    });
    Started::Running(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(ack: Ack) -> Started {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(ack);
        Started::Running(rx)
    }

    #[tokio::test]
    async fn a_message_goes_only_when_every_plan_it_started_lets_it() {
        assert_eq!(all_of(vec![]).ack().await, Ack::Delete);
        let done = Started::Done;
        assert_eq!(
            all_of(vec![done(Ack::Delete), done(Ack::Keep)]).ack().await,
            Ack::Keep
        );
        assert_eq!(
            all_of(vec![done(Ack::Delete), running(Ack::Delete)])
                .ack()
                .await,
            Ack::Delete
        );
        assert_eq!(
            all_of(vec![running(Ack::Delete), running(Ack::Keep)])
                .ack()
                .await,
            Ack::Keep
        );
    }
}
