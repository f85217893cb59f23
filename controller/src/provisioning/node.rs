//! The Node object created for each launched instance, before its kubelet registers: the labels
//! users select on, the provisioner's taints, our finalizer, the provider ID and the capacity of
//! the instance type, so the scheduler can see it and the termination controller owns its end.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Taint as K8sTaint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_core::api::{KubeletConfiguration, Taint, labels};
use karpenter_core::scheduling::InstanceType;
use karpenter_core::scheduling::kubelet;
use karpenter_core::scheduling::resources::Resources;

/// Finalizer that makes node deletion go through our termination controller.
pub const TERMINATION_FINALIZER: &str = "karpenter.sh/termination";
/// Hourly price of the instance as launched; the cost gauge sums it.
pub const PRICE_ANNOTATION: &str = "karpenter.k8s.aws/price-per-hour";
/// When the instance was launched (RFC 3339); the registration timeout counts from here.
pub const LAUNCHED_AT_ANNOTATION: &str = "karpenter.sh/launched-at";
/// The AMI the instance was launched from, so a drift check can compare it with today's choice.
pub const IMAGE_ID_ANNOTATION: &str = "karpenter.k8s.aws/image-id";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// The provisioner's `drift_hash` when the node was launched; a different one now is drift.
pub const PROVISIONER_HASH_ANNOTATION: &str = "karpenter.sh/provisioner-hash";

/// Everything known about one launched instance that its Node object carries.
#[derive(Clone, Debug)]
pub struct LaunchedNode<'a> {
    pub node_name: String,
    pub instance_id: String,
    /// None when EC2 did not say (the annotation is then left out).
    pub image_id: Option<String>,
    /// The provisioner's `drift_hash` at launch.
    pub provisioner_hash: Option<String>,
    /// The Provisioner's kubeletConfiguration: what the node reports holding follows from it.
    pub kubelet: Option<&'a KubeletConfiguration>,
    pub zone: String,
    pub region: String,
    pub capacity_type: String,
    pub provisioner: String,
    pub price: f64,
    pub instance_type: &'a InstanceType,
    /// Provisioner labels (and any fixed by the pods' requirements) from the plan.
    pub extra_labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    pub launched_at: String,
}

pub fn provider_id(zone: &str, instance_id: &str) -> String {
    format!("aws:///{zone}/{instance_id}")
}

fn quantities(r: &Resources) -> BTreeMap<String, Quantity> {
    let mut out = BTreeMap::from([
        (
            labels::RESOURCE_CPU.to_string(),
            Quantity(format!("{}m", r.cpu_millis)),
        ),
        (
            labels::RESOURCE_MEMORY.to_string(),
            Quantity(format!("{}Ki", r.memory_bytes / 1024)),
        ),
        (
            labels::RESOURCE_EPHEMERAL_STORAGE.to_string(),
            Quantity(format!("{}Ki", r.ephemeral_bytes / 1024)),
        ),
        (
            labels::RESOURCE_PODS.to_string(),
            Quantity(r.pods.to_string()),
        ),
    ]);
    if r.gpus > 0 {
        out.insert(
            labels::RESOURCE_NVIDIA_GPU.to_string(),
            Quantity(r.gpus.to_string()),
        );
    }
    out
}

fn k8s_taint(t: &Taint) -> K8sTaint {
    K8sTaint {
        key: t.key.clone(),
        value: t.value.clone(),
        effect: t.effect.clone(),
        time_added: None,
    }
}

pub fn node_object(n: &LaunchedNode<'_>) -> Node {
    let t = n.instance_type;
    let mut node_labels = n.extra_labels.clone();
    for key in [
        labels::INSTANCE_TYPE,
        labels::ARCH,
        labels::OS,
        labels::INSTANCE_FAMILY,
        labels::INSTANCE_CATEGORY,
        labels::INSTANCE_GENERATION,
        labels::INSTANCE_SIZE,
        labels::INSTANCE_CPU,
        labels::INSTANCE_MEMORY,
    ] {
        if let Some(v) = t.label(key) {
            node_labels.insert(key.to_string(), v);
        }
    }
    if t.gpus > 0 {
        node_labels.insert(labels::INSTANCE_GPU_COUNT.to_string(), t.gpus.to_string());
    }
    node_labels.insert(labels::ZONE.to_string(), n.zone.clone());
    node_labels.insert(REGION_LABEL.to_string(), n.region.clone());
    node_labels.insert(labels::CAPACITY_TYPE.to_string(), n.capacity_type.clone());
    node_labels.insert(labels::PROVISIONER_NAME.to_string(), n.provisioner.clone());
    node_labels.insert(labels::HOSTNAME.to_string(), n.node_name.clone());

    let mut taints: Vec<K8sTaint> = n.taints.iter().map(k8s_taint).collect();
    for t in &n.startup_taints {
        if !n.taints.contains(t) {
            taints.push(k8s_taint(t));
        }
    }
    Node {
        metadata: ObjectMeta {
            name: Some(n.node_name.clone()),
            labels: Some(node_labels),
            annotations: Some(
                [
                    (PRICE_ANNOTATION.to_string(), format!("{}", n.price)),
                    (LAUNCHED_AT_ANNOTATION.to_string(), n.launched_at.clone()),
                ]
                .into_iter()
                .chain(
                    n.image_id
                        .clone()
                        .map(|id| (IMAGE_ID_ANNOTATION.to_string(), id)),
                )
                .chain(
                    n.provisioner_hash
                        .clone()
                        .map(|h| (PROVISIONER_HASH_ANNOTATION.to_string(), h)),
                )
                .collect(),
            ),
            finalizers: Some(vec![TERMINATION_FINALIZER.to_string()]),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(provider_id(&n.zone, &n.instance_id)),
            taints: (!taints.is_empty()).then_some(taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(quantities(&Resources {
                pods: kubelet::max_pods(t, n.kubelet),
                ..t.capacity()
            })),
            allocatable: Some(quantities(&kubelet::allocatable(t, n.kubelet))),
            ..NodeStatus::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_core::scheduling::Offering;

    fn m5_large() -> InstanceType {
        InstanceType {
            name: "m5.large".into(),
            arch: "amd64".into(),
            os: "linux".into(),
            vcpus: 2,
            memory_mib: 8192,
            gpus: 0,
            max_pods: 29,
            ephemeral_storage_gib: 20,
            family: "m5".into(),
            category: "m".into(),
            generation: 5,
            size: "large".into(),
            offerings: vec![Offering {
                zone: "ap-southeast-1a".into(),
                capacity_type: "spot".into(),
                price: 0.04,
                available: true,
            }],
        }
    }

    fn launched(t: &InstanceType) -> LaunchedNode<'_> {
        LaunchedNode {
            node_name: "ip-10-0-1-5.ap-southeast-1.compute.internal".into(),
            instance_id: "i-0abc".into(),
            image_id: Some("ami-0123".into()),
            provisioner_hash: Some("0011223344556677".into()),
            kubelet: None,
            zone: "ap-southeast-1a".into(),
            region: "ap-southeast-1".into(),
            capacity_type: "spot".into(),
            provisioner: "spot-fleet".into(),
            price: 0.04,
            instance_type: t,
            extra_labels: BTreeMap::from([("team".to_string(), "data".to_string())]),
            taints: vec![Taint::new("dedicated", Some("data"), "NoSchedule")],
            startup_taints: vec![],
            launched_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn the_node_carries_every_label_users_select_on() {
        let t = m5_large();
        let node = node_object(&launched(&t));
        let l = node.metadata.labels.unwrap_or_default();
        for (key, value) in [
            (labels::INSTANCE_TYPE, "m5.large"),
            (labels::ZONE, "ap-southeast-1a"),
            (labels::CAPACITY_TYPE, "spot"),
            (labels::PROVISIONER_NAME, "spot-fleet"),
            (labels::ARCH, "amd64"),
            (labels::OS, "linux"),
            (labels::INSTANCE_FAMILY, "m5"),
            (labels::INSTANCE_SIZE, "large"),
            (labels::INSTANCE_CPU, "2"),
            (labels::INSTANCE_MEMORY, "8192"),
            (
                labels::HOSTNAME,
                "ip-10-0-1-5.ap-southeast-1.compute.internal",
            ),
            ("team", "data"),
        ] {
            assert_eq!(l.get(key).map(String::as_str), Some(value), "{key}");
        }
    }

    #[test]
    fn the_node_has_our_finalizer_the_provider_id_taints_and_capacity() {
        let t = m5_large();
        let node = node_object(&launched(&t));
        assert_eq!(
            node.metadata.finalizers,
            Some(vec![TERMINATION_FINALIZER.to_string()])
        );
        let annotations = node.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations.get(IMAGE_ID_ANNOTATION).map(String::as_str),
            Some("ami-0123")
        );
        let spec = node.spec.unwrap_or_default();
        assert_eq!(
            spec.provider_id.as_deref(),
            Some("aws:///ap-southeast-1a/i-0abc")
        );
        let taints = spec.taints.unwrap_or_default();
        assert_eq!(taints.len(), 1);
        assert_eq!(
            (taints[0].key.as_str(), taints[0].effect.as_str()),
            ("dedicated", "NoSchedule")
        );
        let status = node.status.unwrap_or_default();
        let cap = status.capacity.unwrap_or_default();
        assert_eq!(cap["cpu"].0, "2000m");
        assert_eq!(cap["pods"].0, "29");
        // 92.5% of 8 GiB; less 11 MiB x 29 pods + 255 MiB kube-reserved and 100 MiB eviction.
        assert_eq!(cap["memory"].0, "7759462Ki");
        let alloc = status.allocatable.unwrap_or_default();
        assert_eq!(alloc["cpu"].0, "1930m");
        assert_eq!(alloc["memory"].0, "7069286Ki");
    }
}
