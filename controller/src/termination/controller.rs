//! The node finalizer: a Node of ours being deleted is cordoned, drained through the Eviction API
//! (PodDisruptionBudgets honoured), its instance terminated, and only then the finalizer removed.
//!
//! Each reconcile does one step of the drain and requeues; nothing waits inside a reconcile, so one
//! slow node never holds up the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;

use super::budgets;
use super::drain_step::{self, Refusals};
use super::metrics::TerminationMetrics;
use super::node as ournode;
use super::ops::{NodeOps, PodOps};
use crate::clock::Clock;
use crate::cloud::CloudProvider;
use crate::crd::Provisioner;
use crate::metrics::{Metrics, TerminationLabels};
use crate::state::ChangeStream;

/// How often a draining node is looked at again when nothing refused.
pub const DRAIN_POLL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TerminationError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("terminating instance {instance}: {source}")]
    Cloud {
        instance: String,
        #[source]
        source: crate::cloud::CloudError,
    },
}

impl TerminationError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kubernetes",
            Self::Cloud { .. } => "cloud",
        }
    }
}

pub struct Termination {
    nodes: Arc<dyn NodeOps>,
    pods: Arc<dyn PodOps>,
    cloud: Arc<dyn CloudProvider>,
    clock: Arc<dyn Clock>,
    /// The shared PodDisruptionBudget cache, to name what refuses an eviction.
    budgets: Store<PodDisruptionBudget>,
    /// The shared Provisioner cache: a node's termination grace period is its provisioner's.
    provisioners: Option<Store<Provisioner>>,
    metrics: Metrics,
    own: TerminationMetrics,
    /// Node name -> when its drain started (for the drain-duration histogram).
    started: Mutex<HashMap<String, Instant>>,
    refusals: Refusals,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Termination {
    pub fn new(
        nodes: Arc<dyn NodeOps>,
        pods: Arc<dyn PodOps>,
        cloud: Arc<dyn CloudProvider>,
        clock: Arc<dyn Clock>,
        budgets: Store<PodDisruptionBudget>,
        metrics: Metrics,
    ) -> Self {
        Termination {
            own: TerminationMetrics::register(&metrics),
            nodes,
            pods,
            cloud,
            clock,
            budgets,
            provisioners: None,
            metrics,
            started: Mutex::new(HashMap::new()),
            refusals: Refusals::default(),
        }
    }

    /// Bounds drains by the provisioners' `disruption.terminationGracePeriodSeconds`.
    pub fn with_provisioners(mut self, provisioners: Store<Provisioner>) -> Self {
        self.provisioners = Some(provisioners);
        self
    }

    /// When the node's drain must end, whatever still holds it: its deletion plus its
    /// provisioner's termination grace period.
    fn drain_deadline(&self, node: &Node) -> Option<k8s_openapi::jiff::Timestamp> {
        let grace = self
            .provisioners
            .as_ref()?
            .state()
            .into_iter()
            .find(|p| Some(p.name()) == ournode::provisioner(node))?
            .spec
            .termination_grace_period()?;
        let deleted = node.metadata.deletion_timestamp.as_ref()?.0;
        deleted
            .checked_add(k8s_openapi::jiff::SignedDuration::try_from(grace).ok()?)
            .ok()
    }

    /// Past the deadline: the pods still holding the node are deleted outright, and the event
    /// says which.
    async fn end_drain(
        &self,
        node: &Node,
        held: &[super::drain::PodRef],
    ) -> Result<(), TerminationError> {
        let mut names = Vec::new();
        for (ns, name) in held {
            self.pods.delete(ns, name).await?;
            names.push(format!("{ns}/{name}"));
        }
        let note = format!(
            "the drain outlasted the termination grace period; deleted {} without eviction and terminating the instance",
            if names.is_empty() {
                "no pod".to_string()
            } else {
                names.join(", ")
            }
        );
        tracing::warn!(node = ournode::name(node), pods = ?names, "termination grace period elapsed");
        self.nodes
            .publish(node, true, "TerminationGracePeriodElapsed", note)
            .await;
        Ok(())
    }

    /// Runs the finalizer controller on the shared Node cache and its changes, until they end.
    pub async fn run(self: Arc<Self>, nodes: Store<Node>, changes: ChangeStream<Node>) {
        Controller::for_shared_stream(changes, nodes)
            .run(
                |node, ctx: Arc<Self>| async move { ctx.reconcile(&node).await },
                |node, error, ctx| {
                    ctx.own.errors.get_or_create(&super::metrics::ErrorLabels {
                        kind: error.metric_label().to_string(),
                    }).inc();
                    tracing::warn!(node = ournode::name(&node), %error, "termination step failed; retrying");
                    Action::requeue(Duration::from_secs(5))
                },
                self,
            )
            .for_each(|_| async {})
            .await;
    }

    /// One Warning event per pod that a budget started to protect, naming the budgets.
    async fn say_what_blocks(&self, node: &Node, pods: &[k8s_openapi::api::core::v1::Pod]) {
        let all = self.budgets.state();
        for pod in pods {
            let by = budgets::protecting(&all, pod);
            let pod_name = format!(
                "{}/{}",
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default()
            );
            let by = if by.is_empty() {
                "a PodDisruptionBudget".to_string()
            } else {
                format!("PodDisruptionBudget {}", by.join(", "))
            };
            tracing::info!(node = ournode::name(node), pod = %pod_name, budgets = %by, "eviction refused; retrying with backoff");
            self.nodes
                .publish(
                    node,
                    true,
                    "EvictionBlocked",
                    format!("eviction of pod {pod_name} refused by {by}; retrying with backoff"),
                )
                .await;
        }
    }

    async fn reconcile(&self, node: &Node) -> Result<Action, TerminationError> {
        if node.metadata.deletion_timestamp.is_none() || !ournode::has_finalizer(node) {
            return Ok(Action::await_change());
        }
        let name = ournode::name(node).to_string();
        let first_step = !lock(&self.started).contains_key(&name);
        let now = self.clock.now();
        lock(&self.started).entry(name.clone()).or_insert(now);
        self.nodes.cordon(node).await?;
        if first_step {
            tracing::info!(node = %name, reason = ournode::reason(node), "draining node");
            self.nodes
                .publish(
                    node,
                    false,
                    "Draining",
                    format!("draining before termination ({})", ournode::reason(node)),
                )
                .await;
            self.pods.release_replacement(&name).await?;
        }

        let step =
            drain_step::step(self.pods.as_ref(), &name, &self.refusals, self.clock.wall()).await?;
        for (outcome, n) in [("evicted", step.evicted), ("refused", step.refused)] {
            if n > 0 {
                self.own
                    .evictions
                    .get_or_create(&super::metrics::OutcomeLabels {
                        outcome: outcome.into(),
                    })
                    .inc_by(u64::from(n));
            }
        }
        if !step.newly_refused.is_empty() {
            self.say_what_blocks(node, &step.newly_refused).await;
        }
        let overdue = self
            .drain_deadline(node)
            .is_some_and(|d| self.clock.wall() >= d);
        if !step.done && overdue {
            self.end_drain(node, &step.holding).await?;
        } else if !step.done {
            if !step.do_not_evict.is_empty() {
                tracing::info!(node = %name, pods = ?step.do_not_evict, "waiting for do-not-evict pods to finish");
            }
            let wait = step.retry_after.unwrap_or(DRAIN_POLL);
            // Come back by the deadline, not after it.
            let wait = match self.drain_deadline(node) {
                Some(d) => {
                    let left = d.duration_since(self.clock.wall());
                    wait.min(left.unsigned_abs().max(Duration::from_secs(1)))
                }
                None => wait,
            };
            return Ok(Action::requeue(wait));
        }

        if let Some(id) = ournode::instance_id(node) {
            self.cloud
                .terminate(&[id.to_string()])
                .await
                .map_err(|source| TerminationError::Cloud {
                    instance: id.to_string(),
                    source,
                })?;
        }
        if !self.nodes.remove_finalizer(&name).await? {
            // An earlier step ended it; its removal was counted then.
            lock(&self.started).remove(&name);
            return Ok(Action::await_change());
        }
        let elapsed = lock(&self.started)
            .remove(&name)
            .map(|t| self.clock.now().saturating_duration_since(t));
        if let Some(d) = elapsed {
            self.own.drain_duration.observe(d.as_secs_f64());
        }
        self.metrics
            .nodes_terminated
            .get_or_create(&TerminationLabels {
                provisioner: ournode::provisioner(node).unwrap_or_default().to_string(),
                reason: ournode::reason(node).to_string(),
            })
            .inc();
        tracing::info!(node = %name, instance = ournode::instance_id(node).unwrap_or_default(), reason = ournode::reason(node),
            drain_seconds = elapsed.map(|d| d.as_secs_f64()), "node terminated");
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::cloud::double::{Call, RecordingCloud};
    use crate::provisioning::node::TERMINATION_FINALIZER;
    use crate::termination::ops_double::FakeCluster;
    use k8s_openapi::api::core::v1::Pod;
    use karpenter_core::api::labels;
    use serde_json::json;

    fn node(deleting: bool) -> Node {
        let mut meta = json!({"name": "n1", "finalizers": [TERMINATION_FINALIZER],
            "labels": {labels::PROVISIONER_NAME: "default"},
            "annotations": {ournode::TERMINATION_REASON: "expired"}});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(json!({"metadata": meta, "spec": {"providerID": "aws:///z/i-1"}}))
            .unwrap_or_default()
    }

    fn pod(name: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "app", "uid": name, "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}
        }))
        .unwrap_or_default()
    }

    struct Setup {
        cluster: Arc<FakeCluster>,
        cloud: Arc<RecordingCloud>,
        metrics: Metrics,
        termination: Termination,
    }

    fn setup(pods: Vec<Pod>) -> Setup {
        let cluster = Arc::new(FakeCluster::new(vec![node(true)], pods));
        let cloud = Arc::new(RecordingCloud::new(None, vec![], vec![]));
        let metrics = Metrics::new();
        let budget: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "app"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 0},
            "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1,
                       "expectedPods": 1}
        }))
        .unwrap_or_default();
        let (budgets, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(budget));
        let termination = Termination::new(
            cluster.clone(),
            cluster.clone(),
            cloud.clone(),
            Arc::new(ManualClock::new()),
            budgets,
            metrics.clone(),
        );
        Setup {
            cluster,
            cloud,
            metrics,
            termination,
        }
    }

    fn terminated(s: &Setup) -> Vec<Vec<String>> {
        s.cloud
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Terminate(ids) => Some(ids),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_node_that_is_not_being_deleted_is_left_alone() -> Result<(), TerminationError> {
        let s = setup(vec![pod("a")]);
        s.termination.reconcile(&node(false)).await?;
        assert!(s.cluster.calls().is_empty());
        assert!(terminated(&s).is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn a_deleted_node_is_cordoned_and_drained_before_its_instance_ends_and_the_finalizer_goes()
    -> Result<(), TerminationError> {
        let s = setup(vec![pod("a")]);
        let first = s.termination.reconcile(&node(true)).await?;
        assert_eq!(first, Action::requeue(DRAIN_POLL));
        assert_eq!(
            s.cluster.calls(),
            [
                "cordon n1",
                "event n1 Draining",
                "release n1",
                "evict app/a"
            ]
        );
        assert!(
            terminated(&s).is_empty(),
            "nothing ends while a pod holds the node"
        );

        s.termination.reconcile(&node(true)).await?;
        assert_eq!(terminated(&s), [vec!["i-1".to_string()]]);
        let calls = s.cluster.calls();
        assert_eq!(calls.last().map(String::as_str), Some("finalizer off n1"));
        assert_eq!(
            calls.iter().filter(|c| c.contains("Draining")).count(),
            1,
            "one Draining event per drain"
        );
        let count = || {
            s.metrics
                .nodes_terminated
                .get_or_create(&TerminationLabels {
                    provisioner: "default".into(),
                    reason: "expired".into(),
                })
                .get()
        };
        assert_eq!(count(), 1);
        // A reconcile of the same deletion after the finalizer went counts nothing more.
        s.termination.reconcile(&node(true)).await?;
        assert_eq!(count(), 1, "one node ended, counted once");
        Ok(())
    }

    #[tokio::test]
    async fn a_pod_its_budget_protects_holds_the_node_and_backs_off() -> Result<(), TerminationError>
    {
        let s = setup(vec![pod("a")]);
        s.cluster.refuse_eviction_of("a");
        for n in 1..=3 {
            let next = s.termination.reconcile(&node(true)).await?;
            assert_eq!(
                next,
                Action::requeue(crate::termination::drain::eviction_backoff(n))
            );
        }
        assert!(terminated(&s).is_empty());
        assert!(s.cluster.node("n1").is_some(), "the finalizer stays");
        let blocked: Vec<String> = s
            .cluster
            .calls()
            .into_iter()
            .filter(|c| c.contains("EvictionBlocked"))
            .collect();
        assert_eq!(
            blocked,
            ["event n1 EvictionBlocked"],
            "said once, not on every retry"
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_api_server_failure_stops_the_step_before_anything_ends() {
        let s = setup(vec![pod("a")]);
        s.cluster.fail_node_writes(503, 1);
        let failed = s.termination.reconcile(&node(true)).await;
        assert!(matches!(failed, Err(TerminationError::Kube(_))));
        assert!(s.cluster.calls().is_empty());
        assert!(terminated(&s).is_empty());
    }

    #[tokio::test]
    async fn past_the_grace_period_a_held_pod_is_deleted_and_the_instance_ends()
    -> Result<(), TerminationError> {
        let s = setup(vec![pod("a")]);
        s.cluster.refuse_eviction_of("a");
        let prov: Provisioner = serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner",
            "metadata": {"name": "default"},
            "spec": {"disruption": {"terminationGracePeriodSeconds": 60}}
        }))
        .unwrap_or_else(|_| Provisioner::new("default", Default::default()));
        let (provisioners, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(prov));
        let termination = s.termination.with_provisioners(provisioners);
        // The node was deleted on 2026-01-01; the clock is now: the 60 s are long gone.
        termination.reconcile(&node(true)).await?;
        let calls = s.cluster.calls();
        assert!(calls.contains(&"delete app/a".to_string()), "{calls:?}");
        assert!(calls.contains(&"event n1 TerminationGracePeriodElapsed".to_string()));
        assert_eq!(calls.last().map(String::as_str), Some("finalizer off n1"));
        let ended = s
            .cloud
            .calls()
            .into_iter()
            .any(|c| c == Call::Terminate(vec!["i-1".into()]));
        assert!(ended, "the instance is terminated");
        Ok(())
    }
}
