//! Carrying out a [`Plan`]: mark the pool, cordon, launch the replacement, drain and terminate.
//!
//! Order: the spot pool is marked unavailable first (so the replacement is not launched into the
//! pool being reclaimed); the node is cordoned next (cordoning moves no pod, and it keeps new pods
//! off a doomed node); the replacement is launched and waited for; only then is the node handed to
//! the termination finalizer, which drains it (PDBs honoured) and terminates the instance.
//! Each node is acted on once at a time: a redelivered message for a node in progress starts
//! nothing new. Every step is idempotent, so a plan that hits a transient API error (the message
//! is already deleted, so nothing else would retry it) is run again from the start.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Node;
use karpenter_core::interruption::InstanceId;
use kube::api::Api;
use kube::runtime::reflector::Store;

use super::decide::{Plan, Target};
use super::metrics::InterruptionMetrics;
use super::replacement::{self, Outcome};
use crate::cloud::UnavailableOfferings;
use crate::termination::node::{self as ournode, NodeEvents};

/// How long a replacement may take before the drain goes ahead anyway: inside the two minutes of
/// a spot warning, with room left for the drain.
pub const REPLACEMENT_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs of a plan before it counts as failed; 1 s, 2 s, 4 s apart.
const ATTEMPTS: u32 = 4;

pub struct Handler {
    client: kube::Client,
    nodes: Store<Node>,
    ice: Arc<UnavailableOfferings>,
    metrics: InterruptionMetrics,
    events: NodeEvents,
    in_flight: Mutex<HashSet<String>>,
    replacement_timeout: Duration,
}

impl Handler {
    pub fn new(
        client: kube::Client,
        nodes: Store<Node>,
        ice: Arc<UnavailableOfferings>,
        metrics: InterruptionMetrics,
        replacement_timeout: Duration,
    ) -> Self {
        Handler {
            events: NodeEvents::new(client.clone()),
            client,
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

    /// Starts the plan in the background; the message can be deleted as soon as this returns,
    /// because the cordon, the placeholders and the deletion live in the cluster, not in memory.
    pub fn start(self: &Arc<Self>, plan: Plan, sent_at: Option<SystemTime>) {
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
            return;
        }
        if !self.claim(&plan.node) {
            tracing::debug!(node = %plan.node, "interruption already being handled");
            self.metrics.action("already_in_progress");
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut latency = sent_at;
            // One deadline for every run: a rerun must not push the drain past the warning.
            let replaced_by = tokio::time::Instant::now() + me.replacement_timeout;
            for attempt in 1..=ATTEMPTS {
                match me.execute(&plan, &mut latency, replaced_by).await {
                    Ok(()) => break,
                    Err(error) if attempt < ATTEMPTS && is_transient(&error) => {
                        let wait = Duration::from_secs(1 << (attempt - 1));
                        tracing::info!(node = %plan.node, kind = %plan.kind, %error, attempt, retry_in = ?wait,
                            "interruption action interrupted; running it again");
                        tokio::time::sleep(wait).await;
                    }
                    Err(error) => {
                        tracing::warn!(node = %plan.node, kind = %plan.kind, %error, attempt, "interruption action failed");
                        me.metrics.action("failed");
                        break;
                    }
                }
            }
            me.done(&plan.node);
        });
    }

    /// `sent_at` is taken once the latency is observed, so a rerun does not count it twice.
    async fn execute(
        &self,
        plan: &Plan,
        sent_at: &mut Option<SystemTime>,
        replaced_by: tokio::time::Instant,
    ) -> Result<(), kube::Error> {
        let api: Api<Node> = Api::all(self.client.clone());
        let Some(node) = api.get_opt(&plan.node).await? else {
            self.metrics.action("not_ours");
            return Ok(());
        };
        ournode::cordon(&api, &node).await?;
        if let Some(d) = sent_at
            .take()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
        {
            self.metrics.latency.observe(d.as_secs_f64());
        }
        tracing::info!(node = %plan.node, instance = %plan.instance, kind = %plan.kind, action = %plan.action,
            "interruption: node cordoned");
        self.events
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
            let outcome = replacement::launch(&self.client, &node, left).await?;
            tracing::info!(node = %plan.node, ?outcome, "interruption: replacement");
            if outcome == Outcome::TimedOut {
                tracing::warn!(node = %plan.node, timeout = ?self.replacement_timeout,
                    "replacement not ready in time; draining anyway");
            }
        }
        if plan.action.drains_and_terminates() {
            ournode::request_termination(&api, &plan.node, plan.kind.name()).await?;
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

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(&format!("code {code}"), "")
                .with_code(code)
                .boxed(),
        )
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
