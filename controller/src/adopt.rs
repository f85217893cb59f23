//! Instances a previous leader launched but did not live to record: killed between CreateFleet
//! and the Node's creation, or its Lease taken while CreateFleet was answering. A new leader
//! writes their Nodes before it provisions anything, so the pods they were launched for land on
//! them instead of on a second launch, and nothing is paid for twice.
//!
//! It runs once, when leadership starts: no launch of this process is in flight then, so an
//! instance without a Node is never one whose Node a batch is about to write. What it launched
//! for is rebuilt from the Provisioner named by the instance's tag: a launch's labels and taints
//! are the Provisioner's own ([`karpenter_core::scheduling::NewNode`]). Instances older than the
//! registration timeout are left to the garbage collector, which terminates them; a CreateFleet
//! still unanswered when the new leader looks is not seen (its instances are collected).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use karpenter_core::api::labels;
use kube::api::{Api, PostParams};

use crate::cloud::{Instance, InstanceState, to_core};
use crate::metrics::NodeLabels;
use crate::provisioning::Provisioning;
use crate::provisioning::batch::DEFAULT_EPHEMERAL_GIB;
use crate::provisioning::node::{LaunchedNode, node_object};
use crate::state::ClusterState;
use crate::termination::node as ournode;

/// Live instances of a provisioner of ours that no Node names, launched less than `timeout` ago.
pub fn adoptable<'a>(
    instances: &'a [Instance],
    named: &HashSet<String>,
    now: SystemTime,
    timeout: Duration,
) -> Vec<&'a Instance> {
    instances
        .iter()
        .filter(|i| matches!(i.state, InstanceState::Pending | InstanceState::Running))
        .filter(|i| i.provisioner.is_some() && !named.contains(&i.id))
        .filter(|i| {
            i.launch_time
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age < timeout)
        })
        .collect()
}

impl Provisioning {
    /// Writes a Node for every [`adoptable`] instance whose Provisioner still exists; returns how
    /// many. Failures are logged: the garbage collector is the fallback.
    pub async fn adopt_unrecorded(&self, state: &ClusterState) -> usize {
        let instances = match self.cloud.instances().await {
            Ok(list) => list,
            Err(error) => {
                tracing::warn!(%error, "could not list instances to adopt those without a Node");
                return 0;
            }
        };
        let named: HashSet<String> = state
            .nodes
            .state()
            .iter()
            .filter_map(|n| ournode::instance_id(n).map(str::to_string))
            .collect();
        let found = adoptable(
            &instances,
            &named,
            SystemTime::now(),
            self.settings.registration_timeout,
        );
        if found.is_empty() {
            return 0;
        }
        let catalog = match self.cloud.catalog().await {
            Ok(c) => c,
            Err(error) => {
                tracing::warn!(%error, "could not read the catalog to adopt instances without a Node");
                return 0;
            }
        };
        let provisioners: BTreeMap<String, _> = state
            .provisioners
            .state()
            .into_iter()
            .map(|p| (p.name().to_string(), p))
            .collect();
        let api: Api<Node> = Api::all(self.client.clone());
        let mut adopted = 0;
        for instance in found {
            let Some(prov) = instance
                .provisioner
                .as_deref()
                .and_then(|name| provisioners.get(name))
            else {
                continue;
            };
            let Some(info) = catalog.get(&instance.instance_type) else {
                continue;
            };
            let core_type = to_core::instance_type(info, &self.ice, DEFAULT_EPHEMERAL_GIB);
            let capacity_type = instance.capacity_type.to_string();
            let price = core_type
                .offerings
                .iter()
                .find(|o| o.zone == instance.zone && o.capacity_type == capacity_type)
                .map_or(0.0, |o| o.price);
            let node_name = instance
                .private_dns_name
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| instance.id.clone());
            let mut extra_labels = prov.spec.labels.clone();
            extra_labels.insert(
                labels::PROVISIONER_NAME.to_string(),
                prov.name().to_string(),
            );
            let node = node_object(&LaunchedNode {
                node_name: node_name.clone(),
                instance_id: instance.id.clone(),
                image_id: instance.image_id.clone(),
                provisioner_hash: Some(prov.spec.drift_hash()),
                kubelet: prov.spec.kubelet_configuration.as_ref(),
                zone: instance.zone.clone(),
                region: catalog.region.clone(),
                capacity_type: capacity_type.clone(),
                provisioner: prov.name().to_string(),
                price,
                instance_type: &core_type,
                extra_labels,
                taints: prov.spec.taints.clone(),
                startup_taints: prov.spec.startup_taints.clone(),
                launched_at: instance
                    .launch_time
                    .and_then(|t| Timestamp::try_from(t).ok())
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
            });
            match api.create(&PostParams::default(), &node).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(error) => {
                    tracing::warn!(%error, node = %node_name, instance = %instance.id, "could not adopt an instance without a Node");
                    continue;
                }
            }
            adopted += 1;
            self.metrics
                .nodes_created
                .get_or_create(&NodeLabels {
                    provisioner: prov.name().to_string(),
                    capacity_type: capacity_type.clone(),
                })
                .inc();
            tracing::info!(
                node = %node_name, instance = %instance.id, instance_type = %instance.instance_type,
                zone = %instance.zone, capacity_type = %capacity_type, price,
                provisioner = %prov.name(),
                "adopted an instance launched without its Node"
            );
        }
        adopted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::CapacityType;

    fn instance(id: &str, state: InstanceState, age_s: u64, provisioner: Option<&str>) -> Instance {
        Instance {
            id: id.to_string(),
            instance_type: "m5.large".to_string(),
            zone: "zone-a".to_string(),
            subnet_id: None,
            capacity_type: CapacityType::Spot,
            state,
            image_id: None,
            private_dns_name: None,
            launch_time: SystemTime::now().checked_sub(Duration::from_secs(age_s)),
            provisioner: provisioner.map(str::to_string),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn only_young_live_unnamed_instances_of_a_provisioner_are_adopted() {
        let instances = [
            instance("i-young", InstanceState::Running, 30, Some("default")),
            instance("i-pending", InstanceState::Pending, 1, Some("default")),
            instance("i-named", InstanceState::Running, 30, Some("default")),
            instance("i-old", InstanceState::Running, 3600, Some("default")),
            instance("i-going", InstanceState::ShuttingDown, 30, Some("default")),
            instance("i-not-ours", InstanceState::Running, 30, None),
        ];
        let named = HashSet::from(["i-named".to_string()]);
        let found: Vec<&str> = adoptable(
            &instances,
            &named,
            SystemTime::now(),
            Duration::from_secs(900),
        )
        .into_iter()
        .map(|i| i.id.as_str())
        .collect();
        assert_eq!(found, ["i-young", "i-pending"]);
    }
}
