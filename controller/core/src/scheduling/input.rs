//! What `solve` takes and what it returns.

use super::instance_type::InstanceType;
use super::node::ExistingNode;
use super::pod::Pod;
use super::requirements::Requirements;
use super::resources::Resources;
use crate::api::{Provisioner, Taint};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One scheduling problem: the pending pods of a batch and everything they could land on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulingInput {
    #[serde(default)]
    pub provisioners: Vec<Provisioner>,
    #[serde(default)]
    pub instance_types: Vec<InstanceType>,
    /// Registered and in-flight nodes; pods are placed here before any new node is opened.
    #[serde(default)]
    pub nodes: Vec<ExistingNode>,
    /// One pod template per DaemonSet: what every new node must hold besides the pending pods.
    #[serde(default)]
    pub daemonsets: Vec<Pod>,
    pub pods: Vec<Pod>,
}

/// The decision: nothing here has happened yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Pods that fit on existing or in-flight nodes, by node (only nodes that received pods).
    pub existing: Vec<ExistingPlacement>,
    pub new_nodes: Vec<NewNode>,
    pub unschedulable: Vec<Unschedulable>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExistingPlacement {
    pub node: String,
    /// Indices into `SchedulingInput::pods`.
    pub pods: Vec<usize>,
}

/// A node to launch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewNode {
    pub provisioner: String,
    /// Everything the node must satisfy (provisioner requirements and labels intersected with its
    /// pods' requirements, zone pinned when topology needs it, capacity type included).
    pub requirements: Requirements,
    /// "spot" when spot is allowed and offered (the pods did not ask for on-demand), else "on-demand".
    pub capacity_type: String,
    /// Whether on-demand is allowed too, i.e. the launcher may fall back when spot is exhausted.
    pub on_demand_fallback: bool,
    /// Types that fit every pod of the node, cheapest first, at most `MAX_INSTANCE_TYPES`.
    pub instance_types: Vec<InstanceTypeOption>,
    /// Indices into `SchedulingInput::pods`.
    pub pods: Vec<usize>,
    /// Pods plus daemonset overhead.
    pub requests: Resources,
    /// Labels the Node object gets besides the instance's own (provisioner labels and name).
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
}

/// How many instance types a launch may choose from (CreateFleet overrides).
pub const MAX_INSTANCE_TYPES: usize = 60;

#[derive(Clone, Debug, PartialEq)]
pub struct InstanceTypeOption {
    /// Shared with the other nodes' options: a plan of thousands of nodes lists each name once.
    pub name: Arc<str>,
    /// Cheapest hourly price over the allowed zones for the node's capacity type.
    pub price: f64,
    /// Zones where this type is offered (available) for the node's capacity type.
    pub zones: Vec<Arc<str>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unschedulable {
    /// Index into `SchedulingInput::pods`.
    pub pod: usize,
    /// Why, for an event on the pod: what excluded which instance types, per provisioner.
    pub reason: String,
}

impl NewNode {
    /// The hourly price of the cheapest type that fits.
    pub fn price(&self) -> f64 {
        self.instance_types.first().map_or(0.0, |t| t.price)
    }
}

impl Plan {
    pub fn cost_per_hour(&self) -> f64 {
        self.new_nodes.iter().map(NewNode::price).sum()
    }

    pub fn placed_count(&self) -> usize {
        self.existing.iter().map(|e| e.pods.len()).sum::<usize>()
            + self.new_nodes.iter().map(|n| n.pods.len()).sum::<usize>()
    }
}
