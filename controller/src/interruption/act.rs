//! Carrying out a [`Plan`]: mark the pool, cordon, launch the replacement, drain and terminate.
//!
//! Order: the spot pool is marked unavailable first (so the replacement is not launched into the
//! pool being reclaimed); the node is cordoned next (cordoning moves no pod, and it keeps new pods
//! off a doomed node); the replacement is launched and waited for; only then is the node handed to
//! the termination finalizer, which drains it (PDBs honoured) and terminates the instance.
//! Each node is acted on once at a time: a redelivered message for a node in progress starts
//! nothing new. Every step is idempotent, so a plan that hits a transient API error is run again
//! from the start.
//!
//! The message is deleted when its plan is done ([`Ack::Delete`]): the node handed to the
//! termination finalizer (whose state is the Node's deletion, which a restarted controller
//! continues), or the replacement in place for the actions that only cordon, or a failure that
//! asking again would only repeat. A plan the API server kept from finishing keeps its message
//! ([`Ack::Keep`]), and so does a controller that dies mid-plan: the queue delivers it again
//! after its visibility timeout, to this replica or to the next leader, and the plan runs again
//! from the start. Deleting the message as soon as the plan started lost the interruption when
//! the API server went away mid-plan (the chaos suite); deleting it once the cordon was written
//! still left a cordoned node that nothing drained.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Node;
use karpenter_core::interruption::InstanceId;
use kube::runtime::reflector::Store;

use super::decide::{Plan, Target};
use super::metrics::InterruptionMetrics;
use crate::cloud::UnavailableOfferings;
use crate::termination::node as ournode;
use crate::termination::ops::{NodeOps, PodOps};
use crate::termination::replacement::Outcome;

/// How long a replacement may take before the drain goes ahead anyway: inside the two minutes of
/// a spot warning, with room left for the drain.
pub const REPLACEMENT_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs of a plan before it counts as failed; 1 s, 2 s, 4 s apart.
const ATTEMPTS: u32 = 4;

/// What becomes of the message that asked for a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// The plan is done (or there was nothing to do, or it failed for good).
    Delete,
    /// The plan did not finish and trying again later may: let the queue deliver it again.
    Keep,
}

/// A plan just started: its message's fate now, or once the plan is done.
#[derive(Debug)]
pub enum Started {
    Done(Ack),
    Running(tokio::sync::oneshot::Receiver<Ack>),
}

impl Started {
    /// Waits for the plan; a plan that never answered (the runtime is going down) keeps it.
    pub async fn ack(self) -> Ack {
        match self {
            Started::Done(ack) => ack,
            Started::Running(rx) => rx.await.unwrap_or(Ack::Keep),
        }
    }
}

pub struct Handler {
    cluster: Arc<dyn NodeOps>,
    pods: Arc<dyn PodOps>,
    nodes: Store<Node>,
    ice: Arc<UnavailableOfferings>,
    metrics: InterruptionMetrics,
    in_flight: Mutex<HashSet<String>>,
    replacement_timeout: Duration,
}

impl Handler {
    pub fn new(
        cluster: Arc<dyn NodeOps>,
        pods: Arc<dyn PodOps>,
        nodes: Store<Node>,
        ice: Arc<UnavailableOfferings>,
        metrics: InterruptionMetrics,
        replacement_timeout: Duration,
    ) -> Self {
        Handler {
            cluster,
            pods,
            nodes,
            ice,
            metrics,
            in_flight: Mutex::new(HashSet::new()),
            replacement_timeout,
        }
    }

    /// Our node running `id`, from the node cache.
    pub fn lookup(&self, id: &InstanceId) -> Option<Target> {
        self.nodes
            .state()
            .into_iter()
            .find(|n| ournode::is_ours(n) && ournode::instance_id(n) == Some(id.as_str()))
            .map(|n| Target {
                node: ournode::name(&n).to_string(),
                deleting: n.metadata.deletion_timestamp.is_some(),
                pool: ournode::pool(&n),
            })
    }

    fn claim(&self, node: &str) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.to_string())
    }

    fn done(&self, node: &str) {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node);
    }

    /// Starts the plan in the background. What becomes of its message: known now, or once the
    /// plan is done (the answer comes from the background task).
    pub fn start(self: &Arc<Self>, plan: Plan, sent_at: Option<SystemTime>) -> Started {
        if let Some(pool) = &plan.mark_unavailable
            && self
                .ice
                .mark(pool.clone(), format!("{} for {}", plan.kind, plan.instance))
        {
            tracing::info!(%pool, instance = %plan.instance, "spot pool marked unavailable after an interruption warning");
        }
        if !plan.action.cordons() {
            tracing::info!(node = %plan.node, kind = %plan.kind, "interruption ignored by setting");
            self.metrics.action(plan.action.as_str());
            return Started::Done(Ack::Delete);
        }
        if !self.claim(&plan.node) {
            // The plan in progress deletes its own delivery when done; this one comes back and
            // then finds the node handled.
            tracing::debug!(node = %plan.node, "interruption already being handled");
            self.metrics.action("already_in_progress");
            return Started::Done(Ack::Keep);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let me = self.clone();
        tokio::spawn(async move {
            let mut latency = sent_at;
            // One deadline for every run: a rerun must not push the drain past the warning.
            let replaced_by = tokio::time::Instant::now() + me.replacement_timeout;
            let mut outcome = Ack::Delete;
            for attempt in 1..=ATTEMPTS {
                match me.execute(&plan, &mut latency, replaced_by).await {
                    Ok(()) => break,
                    Err(error) if attempt < ATTEMPTS && is_transient(&error) => {
                        let wait = Duration::from_secs(1 << (attempt - 1));
                        tracing::info!(node = %plan.node, kind = %plan.kind, %error, attempt, retry_in = ?wait,
                            "interruption action interrupted; running it again");
                        tokio::time::sleep(wait).await;
                    }
                    Err(error) if is_transient(&error) => {
                        tracing::warn!(node = %plan.node, kind = %plan.kind, %error, attempt,
                            "interruption action not finished; the message is kept for redelivery");
                        me.metrics.action("kept_for_redelivery");
                        outcome = Ack::Keep;
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(node = %plan.node, kind = %plan.kind, %error, attempt, "interruption action failed");
                        me.metrics.action("failed");
                        break;
                    }
                }
            }
            me.done(&plan.node);
            let _ = tx.send(outcome);
        });
        Started::Running(rx)
    }

    /// `sent_at` is taken once the latency is observed, so a rerun does not count it twice.
    async fn execute(
        &self,
        plan: &Plan,
        sent_at: &mut Option<SystemTime>,
        replaced_by: tokio::time::Instant,
    ) -> Result<(), kube::Error> {
        let Some(node) = self.cluster.get(&plan.node).await? else {
            self.metrics.action("not_ours");
            return Ok(());
        };
        self.cluster.cordon(&node).await?;
        if let Some(d) = sent_at
            .take()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
        {
            self.metrics.latency.observe(d.as_secs_f64());
        }
        tracing::info!(node = %plan.node, instance = %plan.instance, kind = %plan.kind, action = %plan.action,
            "interruption: node cordoned");
        self.cluster
            .publish(
                &node,
                true,
                "Interrupted",
                format!(
                    "{} for instance {}: {}",
                    plan.kind, plan.instance, plan.action
                ),
            )
            .await;
        if plan.action.launches_replacement() {
            let left = replaced_by.saturating_duration_since(tokio::time::Instant::now());
            let outcome = self.pods.launch_replacement(&node, left).await?;
            tracing::info!(node = %plan.node, ?outcome, "interruption: replacement");
            if outcome == Outcome::TimedOut {
                tracing::warn!(node = %plan.node, timeout = ?self.replacement_timeout,
                    "replacement not ready in time; draining anyway");
            }
        }
        if plan.action.drains_and_terminates() {
            self.cluster
                .request_termination(&plan.node, plan.kind.name())
                .await?;
        }
        self.metrics.action(plan.action.as_str());
        Ok(())
    }
}

/// Worth running the plan again: the API server was unreachable, overloaded, conflicting or
/// failing; a refusal of the request itself (4xx but 409 and 429) would only repeat.
fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 409 | 429) || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::metrics::Metrics;
    use crate::termination::ops_double::{FakeCluster, api_error};
    use karpenter_core::interruption::{Action, EventKind};
    use kube::runtime::reflector;
    use serde_json::json;

    fn handler(cluster: &Arc<FakeCluster>) -> (Arc<Handler>, InterruptionMetrics) {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}, "spec": {}}))
            .unwrap_or_default();
        cluster.add_node(node);
        let metrics = InterruptionMetrics::register(&Metrics::new());
        let (store, _writer) = reflector::store();
        let ice = Arc::new(UnavailableOfferings::new(
            Duration::from_secs(180),
            Arc::new(ManualClock::new()),
        ));
        let h = Handler::new(
            cluster.clone(),
            cluster.clone(),
            store,
            ice,
            metrics.clone(),
            REPLACEMENT_TIMEOUT,
        );
        (Arc::new(h), metrics)
    }

    fn plan(node: &str, kind: EventKind, action: Action) -> Plan {
        Plan {
            node: node.into(),
            instance: "i-1".into(),
            kind,
            action,
            mark_unavailable: None,
        }
    }

    fn count(m: &InterruptionMetrics, action: &str) -> u64 {
        m.actions
            .get_or_create(&super::super::metrics::ActionLabels {
                action: action.into(),
            })
            .get()
    }

    /// Starts the plan and waits until it is done; what becomes of its message.
    async fn handle(h: &Arc<Handler>, node: &str, kind: EventKind, action: Action) -> Ack {
        let ack = h.start(plan(node, kind, action), None).ack().await;
        finished(h).await;
        ack
    }

    async fn finished(h: &Handler) {
        while !h
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_spot_warning_cordons_replaces_and_then_hands_the_node_to_the_finalizer() {
        let cluster = Arc::new(FakeCluster::default());
        let (h, m) = handler(&cluster);
        handle(
            &h,
            "n1",
            EventKind::SpotInterruption,
            Action::ReplaceAndDrain,
        )
        .await;
        assert_eq!(
            cluster.calls(),
            [
                "cordon n1",
                "event n1 Interrupted",
                "replace n1",
                "terminate n1 spot_interruption"
            ]
        );
        assert_eq!(count(&m, "replace-and-drain"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn replace_and_cordon_leaves_the_node_running_and_ignore_touches_nothing() {
        let cluster = Arc::new(FakeCluster::default());
        let (h, m) = handler(&cluster);
        handle(
            &h,
            "n1",
            EventKind::RebalanceRecommendation,
            Action::ReplaceAndCordon,
        )
        .await;
        assert_eq!(
            cluster.calls(),
            ["cordon n1", "event n1 Interrupted", "replace n1"]
        );
        handle(&h, "n1", EventKind::ScheduledChange, Action::Ignore).await;
        assert_eq!(cluster.calls().len(), 3);
        assert_eq!(count(&m, "ignore"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_for_a_node_that_no_longer_exists_starts_nothing() {
        let cluster = Arc::new(FakeCluster::default());
        let (h, m) = handler(&cluster);
        handle(
            &h,
            "gone",
            EventKind::SpotInterruption,
            Action::ReplaceAndDrain,
        )
        .await;
        assert!(cluster.calls().is_empty());
        assert_eq!(count(&m, "not_ours"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_api_server_that_fails_for_a_while_delays_the_plan_but_does_not_lose_it() {
        let cluster = Arc::new(FakeCluster::default());
        let (h, m) = handler(&cluster);
        cluster.fail_node_writes(503, 2);
        handle(
            &h,
            "n1",
            EventKind::SpotInterruption,
            Action::CordonAndDrain,
        )
        .await;
        assert_eq!(
            cluster.calls(),
            [
                "cordon n1",
                "event n1 Interrupted",
                "terminate n1 spot_interruption"
            ],
            "run again from the start, once the server answers"
        );
        assert_eq!(count(&m, "cordon-and-drain"), 1);
        assert_eq!(count(&m, "failed"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_of_the_request_itself_is_not_retried() {
        let cluster = Arc::new(FakeCluster::default());
        let (h, m) = handler(&cluster);
        cluster.fail_node_writes(403, 1);
        let ack = handle(
            &h,
            "n1",
            EventKind::SpotInterruption,
            Action::CordonAndDrain,
        )
        .await;
        assert!(cluster.calls().is_empty());
        assert_eq!(count(&m, "failed"), 1);
        assert_eq!(ack, Ack::Delete, "asking again would be refused again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_plan_the_api_server_kept_from_finishing_keeps_its_message() {
        let cluster = Arc::new(FakeCluster::default());
        let (h, m) = handler(&cluster);
        cluster.fail_node_writes(503, ATTEMPTS);
        let ack = handle(
            &h,
            "n1",
            EventKind::SpotInterruption,
            Action::CordonAndDrain,
        )
        .await;
        assert!(cluster.calls().is_empty(), "{:?}", cluster.calls());
        assert_eq!(ack, Ack::Keep, "the queue delivers it again");
        assert_eq!(count(&m, "kept_for_redelivery"), 1);
        // The redelivery, with the server back: the plan is done and the message goes.
        let ack = handle(
            &h,
            "n1",
            EventKind::SpotInterruption,
            Action::CordonAndDrain,
        )
        .await;
        assert_eq!(ack, Ack::Delete);
    }

    #[test]
    fn server_trouble_is_retried_and_refusals_are_not() {
        for code in [409, 429, 500, 503, 504] {
            assert!(is_transient(&api_error(code)), "{code}");
        }
        for code in [400, 403, 404, 422] {
            assert!(!is_transient(&api_error(code)), "{code}");
        }
    }
}
