//! Nodes that exist already or are being launched (in flight): fixed labels, fixed capacity.

use super::pod::Pod;
use crate::api::{Quantity, Taint};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistingNode {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// As the kubelet reports it; for an in-flight node, the launched type's allocatable.
    pub allocatable: BTreeMap<String, Quantity>,
    /// Pods bound to the node (daemonset pods included): they use capacity and count for topology.
    #[serde(default)]
    pub pods: Vec<Pod>,
    /// Launched by us but not registered yet; pods go here before any new node is opened.
    #[serde(default)]
    pub in_flight: bool,
}
