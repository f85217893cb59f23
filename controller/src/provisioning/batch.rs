//! One batch: build the scheduling input from the caches, `solve`, then act on the plan —
//! events for pods that cannot be placed, nominations onto in-flight nodes, and a launch plus a
//! Node object for every new node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod};
use k8s_openapi::jiff::Timestamp;
use karpenter_contract::settings::SettingKey;
use karpenter_core::scheduling::kubelet;
use karpenter_core::scheduling::{InstanceType, NewNode, Plan, SchedulingInput, solve};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;

use super::events::{
    REASON_INVALID_PROVISIONER, REASON_LAUNCH_FAILED, REASON_NOMINATED, REASON_SPOT_QUOTA,
    REASON_UNPLACEABLE,
};
use super::launch::LaunchError;
use super::node::{LaunchedNode, node_object};
use super::pending::{self, PodKey};
use super::{Nomination, Provisioning};
use super::{convert, usage};
use crate::cloud::error::codes;
use crate::cloud::launch::Fallback;
use crate::cloud::{Catalog, Instance, LaunchReport, LaunchedInstance, to_core};
use crate::crd::Provisioner;
use crate::metrics::{FailureLabels, NodeLabels, ReasonLabels, Timer};
use crate::state::ClusterState;
use kube::Resource as _;

/// Root volume size nodes get when the provisioner does not set one (the EKS AMI default).
pub(crate) const DEFAULT_EPHEMERAL_GIB: u32 = 20;

fn pod_name(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or_default(),
        p.metadata.name.as_deref().unwrap_or_default()
    )
}

/// A provisioner left out, with what is wrong with it.
type Invalid = (Arc<Provisioner>, String);

impl Provisioning {
    /// The shared record of which nodes pods were recently nominated to.
    pub fn nominated_nodes(&self) -> super::NominatedNodes {
        self.nominated_nodes.clone()
    }

    /// Drops nominations whose node registered, vanished or never registered in time.
    fn prune_nominations(&self, nodes: &[Arc<Node>]) {
        let in_flight: HashMap<&str, &Node> = nodes
            .iter()
            .filter(|n| !convert::is_ready(n) && n.metadata.deletion_timestamp.is_none())
            .filter_map(|n| Some((n.metadata.name.as_deref()?, n.as_ref())))
            .collect();
        let timeout = self.settings.registration_timeout;
        Self::lock(&self.nominations).retain(|_, nom| {
            in_flight.contains_key(nom.node.as_str()) && nom.at.elapsed() < timeout
        });
    }

    fn nominated_node(&self, pod: &Pod) -> Option<String> {
        let uid = pod.metadata.uid.as_ref()?;
        Self::lock(&self.nominations)
            .get(uid)
            .map(|n| n.node.clone())
    }

    fn nominate(&self, pod: &Pod, node: &str) {
        self.nominated_nodes.note(node);
        if let Some(uid) = &pod.metadata.uid {
            Self::lock(&self.nominations).insert(
                uid.clone(),
                Nomination {
                    node: node.to_string(),
                    at: Instant::now(),
                },
            );
        }
    }

    fn observe_decision(&self, pod: &Pod) {
        let Some(uid) = &pod.metadata.uid else { return };
        if let Some(first) = Self::lock(&self.first_seen).remove(uid) {
            self.metrics
                .pods_scheduling_decision_duration
                .observe(first.elapsed().as_secs_f64());
        }
    }

    /// Valid provisioners not being deleted; invalid ones are logged and left out.
    pub(crate) fn provisioners(&self, stores: &ClusterState) -> Vec<Arc<Provisioner>> {
        self.checked_provisioners(stores).0
    }

    /// (valid, invalid with their problems) among the provisioners not being deleted.
    fn checked_provisioners(&self, stores: &ClusterState) -> (Vec<Arc<Provisioner>>, Vec<Invalid>) {
        let mut valid = Vec::new();
        let mut invalid = Vec::new();
        for p in stores.provisioners.state() {
            if p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match p.to_core().validate() {
                Ok(()) => valid.push(p),
                Err(errors) => {
                    let errors = errors.to_string();
                    tracing::warn!(provisioner = p.name(), %errors, "skipping an invalid provisioner");
                    invalid.push((p, errors));
                }
            }
        }
        valid.sort_by(|a, b| a.name().cmp(b.name()));
        (valid, invalid)
    }

    /// The cluster as the scheduler sees it, with no pending pods: what consolidation decides on.
    /// None while there is no catalog.
    pub async fn cluster_view(&self, stores: &ClusterState) -> Option<SchedulingInput> {
        let catalog = self.cloud.catalog().await.ok()?;
        let (provisioners, _) = self.checked_provisioners(stores);
        let instance_types = to_core::instance_types(&catalog, &self.ice, DEFAULT_EPHEMERAL_GIB);
        Some(self.input(stores, &[], &provisioners, instance_types))
    }

    fn input(
        &self,
        stores: &ClusterState,
        pending: &[Arc<Pod>],
        provisioners: &[Arc<Provisioner>],
        instance_types: Vec<InstanceType>,
    ) -> SchedulingInput {
        let usage = usage::usage_by_provisioner(stores.nodes.state().iter().map(|n| n.as_ref()));
        let all_pods = stores.pods.state();
        let by_uid: HashMap<&str, &Pod> = all_pods
            .iter()
            .filter_map(|p| Some((p.metadata.uid.as_deref()?, p.as_ref())))
            .collect();
        let bound = convert::pods_by_node(&all_pods);
        let mut nominated: HashMap<String, Vec<&Pod>> = HashMap::new();
        for (uid, nom) in Self::lock(&self.nominations).iter() {
            if let Some(p) = by_uid.get(uid.as_str()) {
                nominated.entry(nom.node.clone()).or_default().push(p);
            }
        }
        let mut nodes = Vec::new();
        for node in stores
            .nodes
            .state()
            .iter()
            .filter(|n| convert::accepts_pods(n))
        {
            let name = node.metadata.name.clone().unwrap_or_default();
            let on_node = bound
                .get(&name)
                .into_iter()
                .flatten()
                .chain(nominated.get(&name).into_iter().flatten())
                .filter_map(|p| {
                    convert::pod(p)
                        .map_err(|e| tracing::warn!(error = %e, "skipping a pod"))
                        .ok()
                })
                .collect();
            match convert::existing_node(node, on_node) {
                Ok(n) => nodes.push(n),
                Err(error) => tracing::warn!(%error, "skipping a node"),
            }
        }
        let daemonsets = stores
            .daemonsets
            .state()
            .iter()
            .filter_map(|ds| {
                let spec = ds.spec.as_ref()?;
                convert::daemonset_pod(
                    ds.metadata.namespace.as_deref().unwrap_or_default(),
                    ds.metadata.name.as_deref().unwrap_or_default(),
                    &spec.template,
                )
                .map_err(|error| tracing::warn!(%error, "skipping a daemonset"))
                .ok()
            })
            .collect();
        SchedulingInput {
            provisioners: provisioners
                .iter()
                .map(|p| usage::with_usage(p, usage.get(p.name())))
                .collect(),
            instance_types,
            nodes,
            daemonsets,
            pods: pending
                .iter()
                .filter_map(|p| {
                    convert::pod(p)
                        .map_err(|error| tracing::warn!(%error, "skipping a pod"))
                        .ok()
                })
                .collect(),
        }
    }

    pub async fn provision(&self, stores: &ClusterState, keys: Vec<PodKey>) {
        let nodes = stores.nodes.state();
        self.prune_nominations(&nodes);
        let pending: Vec<Arc<Pod>> = keys
            .iter()
            .filter_map(|(ns, name)| stores.pods.get(&ObjectRef::new(name).within(ns)))
            .filter(|p| pending::is_provisionable(p) && self.nominated_node(p).is_none())
            .filter(|p| convert::pod(p).is_ok())
            .collect();
        if pending.is_empty() {
            return;
        }
        let catalog = match self.cloud.catalog().await {
            Ok(c) => c,
            Err(error) => {
                tracing::error!(
                    code = error.code().unwrap_or(error.metric_label()),
                    %error,
                    pods = pending.len(),
                    "Provisioning failed: {}: cannot read the instance catalog",
                    error.code().unwrap_or(error.metric_label())
                );
                return;
            }
        };
        let (mut provisioners, mut invalid) = self.checked_provisioners(stores);
        let instance_types = to_core::instance_types(&catalog, &self.ice, DEFAULT_EPHEMERAL_GIB);
        // Only the catalog tells whether kubelet settings leave pods any room at all.
        provisioners.retain(|p| {
            let Some(why) = p
                .spec
                .kubelet_configuration
                .as_ref()
                .and_then(|k| kubelet::leaves_no_room(&instance_types, k))
            else {
                return true;
            };
            tracing::warn!(provisioner = p.name(), errors = %why, "skipping an invalid provisioner");
            invalid.push((p.clone(), format!("spec.kubeletConfiguration: {why}")));
            false
        });
        // Said where the user looks while pods wait: on the Provisioner itself.
        for (p, errors) in &invalid {
            self.events
                .warn_on(
                    &p.object_ref(&()),
                    REASON_INVALID_PROVISIONER,
                    "Provision",
                    format!("left out of provisioning until fixed: {errors}"),
                )
                .await;
        }
        let input = self.input(stores, &pending, &provisioners, instance_types);
        let plan = {
            let _timer = Timer::start(&self.metrics.scheduling_duration);
            solve(&input)
        };
        let plan: Plan = match plan {
            Ok(plan) => plan,
            Err(error) => {
                tracing::error!(%error, pods = pending.len(), "Provisioning failed: the scheduling simulation rejected its input");
                return;
            }
        };
        tracing::info!(
            pods = pending.len(),
            new_nodes = plan.new_nodes.len(),
            onto_existing = plan.existing.iter().map(|e| e.pods.len()).sum::<usize>(),
            unschedulable = plan.unschedulable.len(),
            cost_per_hour = plan.cost_per_hour(),
            "scheduling decision"
        );
        for p in &pending {
            self.observe_decision(p);
        }
        for u in &plan.unschedulable {
            let Some(pod) = pending.get(u.pod) else {
                continue;
            };
            self.metrics
                .pods_unplaceable
                .get_or_create(&ReasonLabels {
                    reason: REASON_UNPLACEABLE.into(),
                })
                .inc();
            tracing::info!(pod = %pod_name(pod), reason = %u.reason, "pod cannot be placed on any instance type");
            self.events
                .publish(pod, true, REASON_UNPLACEABLE, "Provision", u.reason.clone())
                .await;
        }
        for placement in &plan.existing {
            for &i in &placement.pods {
                if let Some(pod) = pending.get(i) {
                    self.nominate(pod, &placement.node);
                }
            }
        }
        let by_name: BTreeMap<&str, &Arc<Provisioner>> =
            provisioners.iter().map(|p| (p.name(), p)).collect();
        let (by_name, catalog_ref) = (&by_name, &catalog);
        let launches = plan.new_nodes.iter().map(|new| async move {
            let result = match by_name.get(new.provisioner.as_str()) {
                Some(p) => self.launcher.launch(new, p, catalog_ref).await,
                None => Err(LaunchError::NoProvider {
                    provisioner: new.provisioner.clone(),
                }),
            };
            (new, result)
        });
        let results = join_all(launches).await;
        let mut launched: Vec<(&NewNode, LaunchedInstance)> = Vec::new();
        for (new, result) in results {
            let pods: Vec<&Arc<Pod>> = new.pods.iter().filter_map(|&i| pending.get(i)).collect();
            match result {
                Ok(report) => {
                    if let Some(instance) = self.report(new, &pods, report).await {
                        launched.push((new, instance));
                    }
                }
                Err(error) => {
                    let code = error.code();
                    self.metrics
                        .launch_failures
                        .get_or_create(&FailureLabels {
                            reason: code.clone(),
                            capacity_type: new.capacity_type.clone(),
                        })
                        .inc();
                    tracing::error!(provisioner = %new.provisioner, code = %code, %error, pods = pods.len(), "Provisioning failed: {code}: {error}");
                    for pod in pods {
                        self.events
                            .publish(
                                pod,
                                true,
                                REASON_LAUNCH_FAILED,
                                "Launch",
                                format!("{code}: {error}"),
                            )
                            .await;
                    }
                }
            }
        }
        if !launched.is_empty() {
            self.register(&catalog, &pending, by_name, launched).await;
        }
    }

    /// Metrics, log lines and events for one launch; the instance when one was launched.
    async fn report(
        &self,
        new: &NewNode,
        pods: &[&Arc<Pod>],
        report: LaunchReport,
    ) -> Option<LaunchedInstance> {
        for attempt in &report.attempts {
            let mut reasons: Vec<String> = attempt.errors_by_code.keys().cloned().collect();
            if reasons.is_empty()
                && let Some(e) = &attempt.error
            {
                reasons.push(e.code().unwrap_or(e.metric_label()).to_string());
            }
            for reason in reasons {
                self.metrics
                    .launch_failures
                    .get_or_create(&FailureLabels {
                        reason,
                        capacity_type: attempt.capacity_type.to_string(),
                    })
                    .inc();
            }
        }
        for pool in &report.newly_unavailable {
            tracing::info!(%pool, ttl = ?self.ice.ttl(), "insufficient capacity: pool marked unavailable");
        }
        let quota = codes::MAX_SPOT_INSTANCE_COUNT_EXCEEDED;
        let fallback_key = SettingKey::SpotQuotaFallback;
        match (&report.result, report.spot_quota_exceeded) {
            (Ok(instance), true) => {
                tracing::warn!(
                    provisioner = %new.provisioner, code = quota, instance_type = %instance.instance_type,
                    "Provisioning failed for spot: {quota}: the account's spot instance quota is reached; {fallback_key} is on, launched on-demand instead"
                );
                for pod in pods {
                    let note = format!(
                        "{quota}: the account's spot instance quota is reached; launched on-demand {} instead ({fallback_key} is on)",
                        instance.instance_type
                    );
                    self.events
                        .publish(pod, true, REASON_SPOT_QUOTA, "Launch", note)
                        .await;
                }
            }
            (Ok(instance), false) => {
                if let Some(fallback) = report.fallback {
                    let why = match fallback {
                        Fallback::SpotExhausted => "no spot capacity left in any fitting pool",
                        Fallback::SpotQuotaExceeded => "spot quota exceeded",
                    };
                    tracing::info!(provisioner = %new.provisioner, instance_type = %instance.instance_type, "fell back to on-demand: {why}");
                }
            }
            (Err(error), spot_quota) => {
                let code = error.code().unwrap_or(error.metric_label()).to_string();
                let note = if spot_quota {
                    format!(
                        "{quota}: the account's spot instance quota is reached and {fallback_key} is off, so the pod stays pending; raise the EC2 spot quota or set {fallback_key}"
                    )
                } else {
                    format!("{code}: {error}")
                };
                tracing::error!(provisioner = %new.provisioner, code = %code, pods = pods.len(), "Provisioning failed: {code}: {error}");
                let reason = if spot_quota {
                    REASON_SPOT_QUOTA
                } else {
                    REASON_LAUNCH_FAILED
                };
                for pod in pods {
                    self.events
                        .publish(pod, true, reason, "Launch", note.clone())
                        .await;
                }
            }
        }
        report.result.ok()
    }

    /// Creates the Node object for every launched instance and nominates its pods to it.
    async fn register(
        &self,
        catalog: &Catalog,
        pending: &[Arc<Pod>],
        provisioners: &BTreeMap<&str, &Arc<Provisioner>>,
        launched: Vec<(&NewNode, LaunchedInstance)>,
    ) {
        // The kubelet registers under the instance's private DNS name; ours must be the same.
        let described: HashMap<String, Instance> = match self.cloud.instances().await {
            Ok(list) => list.into_iter().map(|i| (i.id.clone(), i)).collect(),
            Err(error) => {
                tracing::warn!(%error, "could not read instance host names; naming nodes by instance id");
                HashMap::new()
            }
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let launched_at = Timestamp::try_from(SystemTime::now())
            .map(|t| t.to_string())
            .unwrap_or_default();
        for (new, instance) in launched {
            let Some(info) = catalog.get(&instance.instance_type) else {
                continue;
            };
            let core_type = to_core::instance_type(info, &self.ice, DEFAULT_EPHEMERAL_GIB);
            let seen = described.get(&instance.instance_id);
            let node_name = seen
                .and_then(|i| i.private_dns_name.clone())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| instance.instance_id.clone());
            let node = node_object(&LaunchedNode {
                node_name: node_name.clone(),
                instance_id: instance.instance_id.clone(),
                image_id: seen.and_then(|i| i.image_id.clone()),
                provisioner_hash: provisioners
                    .get(new.provisioner.as_str())
                    .map(|p| p.spec.drift_hash()),
                kubelet: provisioners
                    .get(new.provisioner.as_str())
                    .and_then(|p| p.spec.kubelet_configuration.as_ref()),
                zone: instance.zone.clone(),
                region: catalog.region.clone(),
                capacity_type: instance.capacity_type.to_string(),
                provisioner: new.provisioner.clone(),
                price: instance.price,
                instance_type: &core_type,
                extra_labels: new.labels.clone(),
                taints: new.taints.clone(),
                startup_taints: new.startup_taints.clone(),
                launched_at: launched_at.clone(),
            });
            match api.create(&PostParams::default(), &node).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(error) => {
                    tracing::error!(%error, node = %node_name, instance = %instance.instance_id, "Provisioning failed: NodeCreate: cannot create the Node object");
                    continue;
                }
            }
            self.metrics
                .nodes_created
                .get_or_create(&NodeLabels {
                    provisioner: new.provisioner.clone(),
                    capacity_type: instance.capacity_type.to_string(),
                })
                .inc();
            tracing::info!(
                node = %node_name, instance = %instance.instance_id, instance_type = %instance.instance_type,
                zone = %instance.zone, capacity_type = %instance.capacity_type, price = instance.price,
                provisioner = %new.provisioner, pods = new.pods.len(),
                "launched node"
            );
            for &i in &new.pods {
                let Some(pod) = pending.get(i) else { continue };
                self.nominate(pod, &node_name);
                let note = format!(
                    "launched {} {} in {} as node {node_name} for this pod",
                    instance.capacity_type, instance.instance_type, instance.zone
                );
                let node_ref = ObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Node".into()),
                    name: Some(node_name.clone()),
                    ..ObjectReference::default()
                };
                self.events
                    .publish_related(pod, false, REASON_NOMINATED, "Launch", note, Some(node_ref))
                    .await;
            }
        }
    }
}
