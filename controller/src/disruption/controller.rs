//! The disruption loop: every few seconds each node of ours is judged by [`super::decide`]
//! (expiry, drift, emptiness) and, for provisioners with consolidation on, the cluster by
//! [`super::consolidate`]. Every voluntary disruption is held to the provisioner's budget and to
//! `do-not-disrupt`; what is done is terminated through the finalizer (so it is drained) with
//! an event, metrics and a log line.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::blockers::blocked;
use super::consolidate::{self, ClusterView, Validation};
use super::decide::{self, Decision, EMPTINESS_ANNOTATION, NodeFacts};
use super::image_drift::{CurrentImages, ImageDrift};
use super::metrics::{DisruptionMetrics, ProvisionerLabels};
use crate::clock::Clock;
use crate::crd::Provisioner;
use crate::metrics::Metrics;
use crate::provisioning::NominatedNodes;
use crate::provisioning::convert::is_ready;
use crate::provisioning::node::PROVISIONER_HASH_ANNOTATION;
use crate::termination::drain::holds_node;
use crate::termination::node as ournode;
use crate::termination::ops::{NodeOps, PodOps};
use karpenter_core::consolidation::{self as core_consolidation, MIN_SPOT_TYPES};

pub const PERIOD: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

pub struct Disruption {
    cluster: Arc<dyn NodeOps>,
    pods: Arc<dyn PodOps>,
    clock: Arc<dyn Clock>,
    actions: Family<ActionLabels, Counter>,
    metrics: DisruptionMetrics,
    /// Nodes pods were recently nominated to, and for how long a nomination keeps a node busy.
    nominated: Option<(NominatedNodes, Duration)>,
    /// The scheduler's view of the cluster, for consolidation; without it consolidation is off.
    view: Option<Arc<dyn ClusterView>>,
    /// Without it, only launch-settings drift is seen, not a new image.
    images: Option<ImageDrift>,
    validation: Validation,
    /// (node, why) already said in an event, so a blocked node is not reported every pass.
    told: Mutex<HashSet<(String, String)>>,
}

fn seconds(v: Option<i64>) -> Option<Duration> {
    v.and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs)
}

/// Why `node` no longer matches what `provisioner` launches, if it does not: its launch settings
/// changed since (the hash stamped on the node at launch differs).
pub fn drift(node: &Node, provisioner: &Provisioner) -> Option<String> {
    let launched = node
        .metadata
        .annotations
        .as_ref()?
        .get(PROVISIONER_HASH_ANNOTATION)?;
    let now = provisioner.spec.drift_hash();
    (launched != &now).then(|| {
        format!(
            "provisioner {} changed its launch settings (requirements, labels, taints, kubelet or AWS settings) since the node was launched",
            provisioner.name()
        )
    })
}

/// The facts [`decide::decide`] needs about `node`, given the pods bound to it.
pub fn facts(node: &Node, pods: &[&Pod], provisioner: Option<&Provisioner>) -> NodeFacts {
    let spec = provisioner.map(|p| &p.spec);
    NodeFacts {
        created: node.metadata.creation_timestamp.as_ref().map(|t| t.0),
        ready: is_ready(node),
        busy_pods: pods.iter().filter(|p| holds_node(p)).count(),
        recently_nominated: false,
        empty_since: node
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(EMPTINESS_ANNOTATION))
            .and_then(|t| t.parse().ok()),
        ttl_after_empty: spec.and_then(|s| seconds(s.ttl_seconds_after_empty)),
        ttl_until_expired: spec.and_then(|s| seconds(s.ttl_seconds_until_expired)),
        drifted: provisioner.and_then(|p| drift(node, p)),
    }
}

/// How many nodes each provisioner's voluntary disruption may take now: its budget over its
/// nodes, less the nodes of it already being deleted.
pub fn budgets(
    nodes: &[Arc<Node>],
    provisioners: &HashMap<String, Arc<Provisioner>>,
) -> HashMap<String, usize> {
    let mut total: HashMap<&str, usize> = HashMap::new();
    let mut deleting: HashMap<&str, usize> = HashMap::new();
    for n in nodes.iter().filter(|n| ournode::has_finalizer(n)) {
        let Some(p) = ournode::provisioner(n) else {
            continue;
        };
        *total.entry(p).or_default() += 1;
        if n.metadata.deletion_timestamp.is_some() || ournode::is_cordoned(n) {
            *deleting.entry(p).or_default() += 1;
        }
    }
    provisioners
        .iter()
        .map(|(name, p)| {
            let all = total.get(name.as_str()).copied().unwrap_or(0);
            let busy = deleting.get(name.as_str()).copied().unwrap_or(0);
            (
                name.clone(),
                p.spec.allowed_disruptions(all).saturating_sub(busy),
            )
        })
        .collect()
}

impl Disruption {
    pub fn new(
        cluster: Arc<dyn NodeOps>,
        pods: Arc<dyn PodOps>,
        metrics: &Metrics,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let actions = Family::<ActionLabels, Counter>::default();
        metrics.register(
            "karpenter_deprovisioning_actions_performed",
            "Nodes the disruption loop acted on, by action (empty, expired, drifted, consolidation)",
            actions.clone(),
        );
        Disruption {
            cluster,
            pods,
            clock,
            actions,
            metrics: DisruptionMetrics::register(metrics),
            nominated: None,
            view: None,
            images: None,
            validation: Validation::default(),
            told: Mutex::new(HashSet::new()),
        }
    }

    /// Nodes that pods were nominated to within `window` are not empty: their pods are on the
    /// way (the kube-scheduler binds them once it retries, which can take seconds).
    pub fn with_nominations(mut self, nominated: NominatedNodes, window: Duration) -> Self {
        self.nominated = Some((nominated, window));
        self
    }

    /// Turns consolidation on for the provisioners that ask for it.
    pub fn with_consolidation(mut self, view: Arc<dyn ClusterView>) -> Self {
        self.view = Some(view);
        self
    }

    /// Turns AMI drift detection on: nodes on another image than `images` says their
    /// provisioner launches now are replaced.
    pub fn with_image_drift(mut self, images: Arc<dyn CurrentImages>) -> Self {
        self.images = Some(ImageDrift::new(images, self.clock.clone()));
        self
    }

    pub async fn run(self, nodes: Store<Node>, pods: Store<Pod>, provisioners: Store<Provisioner>) {
        for ready in [
            nodes.wait_until_ready().await.is_ok(),
            pods.wait_until_ready().await.is_ok(),
            provisioners.wait_until_ready().await.is_ok(),
        ] {
            if !ready {
                return;
            }
        }
        tracing::info!("disruption: watching expiry, drift, emptiness and consolidation");
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            self.pass(&nodes, &pods, &provisioners).await;
        }
    }

    fn recently_nominated(&self, node: &str) -> bool {
        self.nominated
            .as_ref()
            .is_some_and(|(n, window)| n.within(node, *window))
    }

    /// An event and a metric for a disruption held back, once per node and cause.
    async fn held(&self, node: &Node, blocker: &str, reason: &str, why: String) {
        self.metrics.blocked(blocker, reason);
        let key = (ournode::name(node).to_string(), format!("{reason}: {why}"));
        let first = self
            .told
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
        if first {
            tracing::info!(node = ournode::name(node), reason, %why, "disruption held back");
            self.cluster
                .publish(
                    node,
                    false,
                    "DisruptionBlocked",
                    format!("not disrupted ({reason}) now: {why}"),
                )
                .await;
        }
    }

    async fn pass(
        &self,
        nodes: &Store<Node>,
        pods: &Store<Pod>,
        provisioners: &Store<Provisioner>,
    ) {
        let all_pods = pods.state();
        let mut by_node: HashMap<&str, Vec<&Pod>> = HashMap::new();
        for p in &all_pods {
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
                by_node.entry(n).or_default().push(p);
            }
        }
        let provs: HashMap<String, Arc<Provisioner>> = provisioners
            .state()
            .into_iter()
            .filter_map(|p| p.metadata.name.clone().map(|n| (n, p)))
            .collect();
        let all_nodes = nodes.state();
        let mut allowed = budgets(&all_nodes, &provs);
        for (p, n) in &allowed {
            self.metrics
                .allowed
                .get_or_create(&ProvisionerLabels {
                    provisioner: p.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        let now = self.clock.wall();
        for node in &all_nodes {
            if node.metadata.deletion_timestamp.is_some() || !ournode::has_finalizer(node) {
                continue;
            }
            let Some((prov_name, prov)) =
                ournode::provisioner(node).and_then(|p| provs.get_key_value(p))
            else {
                continue;
            };
            let on_node = by_node
                .get(ournode::name(node))
                .cloned()
                .unwrap_or_default();
            let mut f = facts(node, &on_node, Some(prov));
            f.recently_nominated = self.recently_nominated(ournode::name(node));
            if f.drifted.is_none()
                && let Some(images) = &self.images
            {
                f.drifted = images.drifted(node, prov).await;
            }
            let decision = decide::decide(&f, now);
            if let Decision::Terminate { reason, .. } = &decision {
                if let Some(why) = blocked(node, &on_node, false) {
                    self.held(node, "do-not-disrupt", reason, why).await;
                    continue;
                }
                let left = allowed.entry(prov_name.clone()).or_default();
                if *left == 0 {
                    let why = format!(
                        "the disruption budget of provisioner {prov_name} allows no more nodes now"
                    );
                    self.held(node, "budget", reason, why).await;
                    continue;
                }
                *left -= 1;
            }
            if let Err(error) = self.apply(node, decision).await {
                tracing::warn!(node = ournode::name(node), %error, "disruption step failed; retrying next pass");
            }
        }
        self.consolidate(&all_nodes, &all_pods, &by_node, &provs, &mut allowed)
            .await;
    }

    /// A node cordoned with its replacement in place is deleted: its pods move into the room
    /// reserved for them. Already counted against the budget (it is cordoned).
    async fn remove_redundant(&self, nodes: &[Arc<Node>], pods: &[Arc<Pod>], provisioner: &str) {
        for name in consolidate::redundant(nodes, pods, provisioner) {
            let Some(node) = nodes.iter().find(|n| ournode::name(n) == name) else {
                continue;
            };
            tracing::info!(node = %name, "consolidation: the replacement is in place; deleting the cordoned node");
            self.metrics.decided("delete", "redundant");
            self.cluster
                .publish(
                    node,
                    false,
                    "Disrupting",
                    "consolidation (redundant): the replacement launched for it is in place".into(),
                )
                .await;
            match self
                .cluster
                .request_termination(&name, consolidate::REASON)
                .await
            {
                Ok(()) => self.metrics.acted("delete", "redundant"),
                Err(error) => {
                    tracing::warn!(node = %name, %error, "could not delete a redundant node")
                }
            }
        }
    }

    async fn consolidate(
        &self,
        nodes: &[Arc<Node>],
        pods: &[Arc<Pod>],
        by_node: &HashMap<&str, Vec<&Pod>>,
        provs: &HashMap<String, Arc<Provisioner>>,
        allowed: &mut HashMap<String, usize>,
    ) {
        let Some(view) = &self.view else {
            return;
        };
        if self.validation.replacing() {
            return;
        }
        let mut names: Vec<&String> = provs
            .iter()
            .filter(|(_, p)| {
                p.spec.consolidation_enabled() && p.metadata.deletion_timestamp.is_none()
            })
            .map(|(n, _)| n)
            .collect();
        if names.is_empty() {
            return;
        }
        names.sort();
        // The scheduler's view is built (catalog, every node with its pods) only for a pass that
        // has candidates and budget: most passes have neither.
        let mut cluster = None;
        let now = self.clock.wall();
        for name in names {
            self.remove_redundant(nodes, pods, name).await;
            let candidates =
                consolidate::candidates(nodes, by_node, name, now, &|n| self.recently_nominated(n));
            self.metrics
                .eligible
                .get_or_create(&ProvisionerLabels {
                    provisioner: name.clone(),
                })
                .set(i64::try_from(candidates.len()).unwrap_or(i64::MAX));
            let budget = allowed.get(name).copied().unwrap_or(0);
            let now_mono = self.clock.now();
            let candidates: Vec<_> = candidates
                .into_iter()
                .filter(|c| !self.validation.recently_abandoned(&c.node, now_mono))
                .collect();
            if candidates.is_empty() || budget == 0 {
                continue;
            }
            if cluster.is_none() {
                cluster = view.view().await;
            }
            let Some(cluster) = &cluster else {
                return;
            };
            let input = core_consolidation::Input {
                cluster: cluster.clone(),
                candidates,
                max_disruptions: budget,
                min_spot_types: MIN_SPOT_TYPES,
            };
            let started = std::time::Instant::now();
            let decision = match core_consolidation::decide(&input) {
                Ok(d) => d,
                Err(error) => {
                    tracing::warn!(provisioner = %name, %error, "consolidation could not decide");
                    continue;
                }
            };
            self.metrics
                .evaluation
                .observe(started.elapsed().as_secs_f64());
            let Some(decision) = self.validation.confirm(name, decision, self.clock.now()) else {
                continue;
            };
            let taken = decision.nodes().len();
            if let Some(left) = allowed.get_mut(name) {
                *left = left.saturating_sub(taken);
            }
            self.actions
                .get_or_create(&ActionLabels {
                    action: consolidate::REASON.to_string(),
                })
                .inc_by(taken as u64);
            if let Err(error) = consolidate::act(
                decision,
                &self.cluster,
                &self.pods,
                &self.metrics,
                &self.validation,
                &self.clock,
            )
            .await
            {
                tracing::warn!(provisioner = %name, %error, "consolidation step failed; deciding again next pass");
            }
            if self.validation.replacing() {
                return;
            }
        }
    }

    async fn apply(&self, node: &Node, decision: Decision) -> Result<(), kube::Error> {
        let name = ournode::name(node);
        match decision {
            Decision::Nothing => Ok(()),
            Decision::MarkEmpty(at) => {
                tracing::debug!(node = name, since = %at, "node is empty");
                self.cluster
                    .annotate(name, EMPTINESS_ANNOTATION, Some(&at.to_string()))
                    .await
            }
            Decision::ClearEmpty => {
                self.cluster
                    .annotate(name, EMPTINESS_ANNOTATION, None)
                    .await
            }
            Decision::Terminate { reason, note } => {
                tracing::info!(node = name, reason, %note, "terminating node");
                self.metrics.decided("delete", reason);
                self.cluster
                    .publish(node, false, event_reason(reason), note)
                    .await;
                self.cluster.request_termination(name, reason).await?;
                self.metrics.acted("delete", reason);
                self.actions
                    .get_or_create(&ActionLabels {
                        action: reason.to_string(),
                    })
                    .inc();
                Ok(())
            }
        }
    }
}

fn event_reason(reason: &str) -> &'static str {
    match reason {
        decide::REASON_EXPIRED => "Expired",
        decide::REASON_DRIFTED => "Drifted",
        _ => "Empty",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_come_from_the_node_its_pods_and_its_provisioner() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "annotations": {EMPTINESS_ANNOTATION: "2026-01-01T00:05:00Z"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap_or_default();
        let ds: Pod = serde_json::from_value(json!({"metadata": {"name": "d", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "x", "uid": "u", "controller": true}]}}))
            .unwrap_or_default();
        let app: Pod =
            serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap_or_default();
        let prov: Provisioner = serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner", "metadata": {"name": "p"},
            "spec": {"ttlSecondsAfterEmpty": 30, "ttlSecondsUntilExpired": 600}
        }))
        .unwrap_or_else(|_| Provisioner::new("p", Default::default()));
        let f = facts(&node, &[&ds, &app], Some(&prov));
        assert!(f.ready);
        assert_eq!(f.busy_pods, 1);
        assert_eq!(f.empty_since, "2026-01-01T00:05:00Z".parse().ok());
        assert_eq!(f.ttl_after_empty, Some(Duration::from_secs(30)));
        assert_eq!(f.ttl_until_expired, Some(Duration::from_secs(600)));
        assert_eq!(facts(&node, &[&ds], Some(&prov)).busy_pods, 0);
    }

    fn store<K>(objects: Vec<K>) -> Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone,
    {
        let (reader, mut writer) = kube::runtime::reflector::store();
        for o in objects {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(o));
        }
        reader
    }

    fn our_node(name: &str, created: k8s_openapi::jiff::Timestamp, provisioner: &str) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created.to_string(),
                         "finalizers": [crate::provisioning::node::TERMINATION_FINALIZER],
                         "labels": {karpenter_core::api::labels::PROVISIONER_NAME: provisioner}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap_or_default()
    }

    fn provisioner(name: &str, spec: serde_json::Value) -> Provisioner {
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1alpha5", "kind": "Provisioner",
            "metadata": {"name": name}, "spec": spec
        }))
        .unwrap_or_else(|_| Provisioner::new(name, Default::default()))
    }

    #[tokio::test]
    async fn a_pass_expires_old_nodes_stamps_empty_ones_and_keeps_going_past_a_failure() {
        use crate::clock::ManualClock;
        use crate::termination::ops_double::FakeCluster;
        let clock = Arc::new(ManualClock::new());
        let now = k8s_openapi::jiff::Timestamp::from_second(clock.wall().as_second())
            .unwrap_or(clock.wall());
        let hour_ago = now
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(3600))
            .unwrap_or(now);
        let cluster = Arc::new(FakeCluster::default());
        let metrics = Metrics::new();
        let disruption = Disruption::new(cluster.clone(), cluster.clone(), &metrics, clock.clone());
        let nodes = store(vec![
            our_node("old", hour_ago, "expiring"),
            our_node("idle", now, "emptying"),
            our_node("stranger", hour_ago, "unknown-provisioner"),
        ]);
        let provisioners = store(vec![
            provisioner("expiring", json!({"ttlSecondsUntilExpired": 600})),
            provisioner("emptying", json!({"ttlSecondsAfterEmpty": 30})),
        ]);
        let acted = |calls: &[String]| {
            let stamped = calls
                .iter()
                .any(|c| c.starts_with("annotate idle karpenter.sh/emptiness-timestamp="));
            let expired = calls.iter().any(|c| c == "terminate old expired");
            (stamped, expired)
        };
        cluster.fail_node_writes(503, 1);
        disruption.pass(&nodes, &store(vec![]), &provisioners).await;
        let (stamped, expired) = acted(&cluster.calls());
        assert!(
            stamped != expired,
            "one write failed, the other went ahead: {:?}",
            cluster.calls()
        );
        disruption.pass(&nodes, &store(vec![]), &provisioners).await;
        let calls = cluster.calls();
        assert_eq!(
            acted(&calls),
            (true, true),
            "the failed one is done next pass: {calls:?}"
        );
        assert!(calls.contains(&"event old Expired".to_string()));
        assert!(!calls.iter().any(|c| c.contains("stranger")), "{calls:?}");
    }

    fn times() -> (
        Arc<crate::clock::ManualClock>,
        k8s_openapi::jiff::Timestamp,
        k8s_openapi::jiff::Timestamp,
    ) {
        let clock = Arc::new(crate::clock::ManualClock::new());
        let now = k8s_openapi::jiff::Timestamp::from_second(clock.wall().as_second())
            .unwrap_or(clock.wall());
        let hour_ago = now
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(3600))
            .unwrap_or(now);
        (clock, now, hour_ago)
    }

    fn bound(name: &str, node: &str, annotations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "app", "uid": name, "annotations": annotations},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i",
                "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]},
            "status": {"phase": "Running"}
        }))
        .unwrap_or_default()
    }

    fn deleting(mut n: Node) -> Node {
        n.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        n
    }

    #[tokio::test]
    async fn a_budget_of_one_expires_one_node_at_a_time_and_do_not_disrupt_keeps_a_node() {
        use crate::termination::ops_double::FakeCluster;
        let (clock, _, hour_ago) = times();
        let cluster = Arc::new(FakeCluster::default());
        let metrics = Metrics::new();
        let disruption = Disruption::new(cluster.clone(), cluster.clone(), &metrics, clock.clone());
        let provisioners = store(vec![provisioner(
            "expiring",
            json!({"ttlSecondsUntilExpired": 600, "disruption": {"budgets": [{"nodes": "1"}]}}),
        )]);
        let old = |n: &str| our_node(n, hour_ago, "expiring");
        let pods = store(vec![bound(
            "keep",
            "c",
            json!({"karpenter.sh/do-not-disrupt": "true"}),
        )]);
        disruption
            .pass(
                &store(vec![old("a"), old("b"), old("c")]),
                &pods,
                &provisioners,
            )
            .await;
        let ended = |calls: &[String]| -> Vec<String> {
            calls
                .iter()
                .filter(|c| c.starts_with("terminate"))
                .cloned()
                .collect()
        };
        let first = ended(&cluster.calls());
        assert_eq!(first.len(), 1, "{first:?}");
        assert!(
            cluster
                .calls()
                .contains(&"event c DisruptionBlocked".to_string())
        );
        // The first node is being deleted now: the budget still allows one at a time.
        let gone = if first[0].contains(" a ") { "a" } else { "b" };
        let rest = if gone == "a" { "b" } else { "a" };
        let nodes = store(vec![deleting(old(gone)), old(rest), old("c")]);
        disruption.pass(&nodes, &pods, &provisioners).await;
        assert_eq!(
            ended(&cluster.calls()).len(),
            1,
            "the budget is spent while {gone} drains"
        );
        disruption
            .pass(&store(vec![old(rest), old("c")]), &pods, &provisioners)
            .await;
        let all = ended(&cluster.calls());
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(
            !all.iter().any(|c| c.contains(" c ")),
            "do-not-disrupt keeps c: {all:?}"
        );
        let blocked_events = cluster
            .calls()
            .iter()
            .filter(|c| c.as_str() == "event c DisruptionBlocked")
            .count();
        assert_eq!(blocked_events, 1, "said once");
    }

    #[tokio::test]
    async fn a_node_launched_from_older_launch_settings_is_drifted() {
        let prov = provisioner("p", json!({"labels": {"team": "a"}}));
        let mut node = our_node("n", k8s_openapi::jiff::Timestamp::UNIX_EPOCH, "p");
        node.metadata.annotations = Some(
            [(
                PROVISIONER_HASH_ANNOTATION.to_string(),
                prov.spec.drift_hash(),
            )]
            .into(),
        );
        assert_eq!(drift(&node, &prov), None);
        let changed = provisioner("p", json!({"labels": {"team": "b"}}));
        assert!(drift(&node, &changed).is_some());
        let limits_only = provisioner(
            "p",
            json!({"labels": {"team": "a"}, "limits": {"resources": {"cpu": "10"}}}),
        );
        assert_eq!(
            drift(&node, &limits_only),
            None,
            "limits do not change what a node is"
        );
    }

    struct FixedView(SchedulingInputs);
    type SchedulingInputs = karpenter_core::scheduling::SchedulingInput;

    #[async_trait::async_trait]
    impl ClusterView for FixedView {
        async fn view(&self) -> Option<SchedulingInputs> {
            Some(self.0.clone())
        }
    }

    #[tokio::test]
    async fn consolidation_deletes_an_underused_node_only_after_the_decision_holds() {
        use crate::termination::ops_double::FakeCluster;
        use karpenter_core::api::labels;
        use karpenter_core::scheduling::{ExistingNode, InstanceType};
        let (clock, _, hour_ago) = times();
        let cluster = Arc::new(FakeCluster::default());
        let metrics = Metrics::new();
        let k8s_node = |name: &str| {
            let mut n = our_node(name, hour_ago, "cheap");
            n.metadata.annotations = Some(
                [(
                    crate::provisioning::node::PRICE_ANNOTATION.to_string(),
                    "0.2".to_string(),
                )]
                .into(),
            );
            if let Some(l) = n.metadata.labels.as_mut() {
                l.insert(labels::CAPACITY_TYPE.into(), "on-demand".into());
            }
            n
        };
        let pods = vec![bound("p1", "n1", json!({})), bound("p2", "n2", json!({}))];
        let existing = |name: &str, pod: &Pod| {
            let core = crate::provisioning::convert::pod(pod).unwrap_or_default();
            ExistingNode::named(name, "z-a", "4", "16Gi")
                .label(labels::CAPACITY_TYPE, "on-demand")
                .running(core)
        };
        let view = karpenter_core::scheduling::SchedulingInput {
            instance_types: vec![InstanceType::named("m5.xlarge", 4, 16384).offered_in(
                &["z-a"],
                0.06,
                0.2,
            )],
            nodes: vec![existing("n1", &pods[0]), existing("n2", &pods[1])],
            ..Default::default()
        };
        let disruption = Disruption::new(cluster.clone(), cluster.clone(), &metrics, clock.clone())
            .with_consolidation(Arc::new(FixedView(view)));
        let provisioners = store(vec![provisioner(
            "cheap",
            json!({"consolidation": {"enabled": true}, "disruption": {"budgets": [{"nodes": "100%"}]}}),
        )]);
        let nodes = store(vec![k8s_node("n1"), k8s_node("n2")]);
        for n in ["n1", "n2"] {
            cluster.add_node(k8s_node(n));
        }
        let pods = store(pods);
        disruption.pass(&nodes, &pods, &provisioners).await;
        assert!(
            cluster.calls().is_empty(),
            "decided, not acted: {:?}",
            cluster.calls()
        );
        clock.advance(consolidate::VALIDATION_DELAY);
        disruption.pass(&nodes, &pods, &provisioners).await;
        let ended: Vec<String> = cluster
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("terminate"))
            .collect();
        assert_eq!(
            ended.len(),
            1,
            "one of two half-empty nodes goes: {:?}",
            cluster.calls()
        );
        assert!(ended[0].ends_with(" consolidation"));
    }
}
