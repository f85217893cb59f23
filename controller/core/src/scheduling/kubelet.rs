//! What a node of an instance type can hold, from the kubelet settings it boots with: the same
//! arithmetic the kubelet applies (allocatable = capacity - kubeReserved - systemReserved - hard
//! eviction threshold) over the defaults the EKS AMI's nodeadm writes when a setting is not given:
//!
//! - maxPods: the instance type's ENI limit (the table nodeadm embeds); podsPerCore caps it at
//!   podsPerCore x vCPUs, as the kubelet does.
//! - kubeReserved: cpu 6% of the first core, 1% of the second, 0.5% of cores 3-4 and 0.25% above
//!   (each range truncated to whole millicores); memory 11 MiB per ENI-limit pod + 255 MiB (nodeadm
//!   computes it from the ENI limit even when maxPods is set); ephemeral-storage 1 GiB. A key the
//!   user sets replaces that key only.
//! - systemReserved: none.
//! - evictionHard: memory.available 100Mi, nodefs.available 10%; a key the user sets replaces that
//!   key. Percentages are of the node's capacity.
//!
//! Memory capacity is the instance's memory less the ~7.5% the hypervisor keeps.

use crate::api::{KubeletConfiguration, Quantity};
use crate::scheduling::{InstanceType, Resources};
use std::collections::BTreeMap;

const MIB: i64 = 1 << 20;
const GIB: i64 = 1 << 30;
pub const MEMORY_AVAILABLE: &str = "memory.available";
pub const NODEFS_AVAILABLE: &str = "nodefs.available";
/// Resources kubeReserved and systemReserved may name.
pub const RESERVABLE: [&str; 4] = ["cpu", "memory", "ephemeral-storage", "pid"];

/// The kubelet's own reservation of cpu for a machine of `cores` vCPUs, in millicores.
pub fn default_cpu_reserved(cores: i64) -> i64 {
    let total = cores * 1000;
    [
        (0, 1000, 600),
        (1000, 2000, 100),
        (2000, 4000, 50),
        (4000, i64::MAX, 25),
    ]
    .iter()
    .map(|&(start, end, per_10k)| {
        if total <= start {
            0
        } else {
            (total.min(end) - start) * per_10k / 10_000
        }
    })
    .sum()
}

/// The memory the kubelet may hand out before reservations: what the VM really has.
pub fn memory_capacity(it: &InstanceType) -> i64 {
    it.memory_mib as i64 * MIB * 925 / 1000
}

/// The pods a node runs at most.
pub fn max_pods(it: &InstanceType, cfg: Option<&KubeletConfiguration>) -> i64 {
    let mut pods = cfg
        .and_then(|c| c.max_pods)
        .map_or(i64::from(it.max_pods), i64::from);
    if let Some(per_core) = cfg.and_then(|c| c.pods_per_core).filter(|p| *p > 0) {
        pods = pods.min(i64::from(per_core) * i64::from(it.vcpus));
    }
    pods.max(0)
}

fn quantity(map: &BTreeMap<String, Quantity>, key: &str, millis_per_unit: i128) -> Option<i64> {
    let q = map.get(key)?;
    let millis = q.millis().ok()?;
    i64::try_from(millis / millis_per_unit).ok()
}

/// A threshold like `100Mi` or `10%` of `capacity`, in base units.
pub fn threshold(value: &str, capacity: i64) -> Option<i64> {
    match value.trim().strip_suffix('%') {
        Some(pct) => {
            let pct: f64 = pct.trim().parse().ok()?;
            (0.0..=100.0)
                .contains(&pct)
                .then(|| (capacity as f64 * pct / 100.0) as i64)
        }
        None => {
            let millis = Quantity::new(value.trim()).millis().ok()?;
            i64::try_from(millis / 1000).ok()
        }
    }
}

/// Allocatable of a node of `it` booted with `cfg` (None: the defaults).
pub fn allocatable(it: &InstanceType, cfg: Option<&KubeletConfiguration>) -> Resources {
    let empty = BTreeMap::new();
    let kube = cfg.map_or(&empty, |c| &c.kube_reserved);
    let system = cfg.map_or(&empty, |c| &c.system_reserved);
    let cores = i64::from(it.vcpus);
    let memory = memory_capacity(it);
    let ephemeral = i64::from(it.ephemeral_storage_gib) * GIB;

    let kube_cpu = quantity(kube, "cpu", 1).unwrap_or_else(|| default_cpu_reserved(cores));
    let kube_memory =
        quantity(kube, "memory", 1000).unwrap_or((11 * i64::from(it.max_pods) + 255) * MIB);
    let kube_ephemeral = quantity(kube, "ephemeral-storage", 1000).unwrap_or(GIB);
    let system_cpu = quantity(system, "cpu", 1).unwrap_or(0);
    let system_memory = quantity(system, "memory", 1000).unwrap_or(0);
    let system_ephemeral = quantity(system, "ephemeral-storage", 1000).unwrap_or(0);

    let hard = |key: &str, default: &str, capacity: i64| {
        cfg.and_then(|c| c.eviction_hard.get(key))
            .and_then(|v| threshold(v, capacity))
            .or_else(|| threshold(default, capacity))
            .unwrap_or(0)
    };
    let evict_memory = hard(MEMORY_AVAILABLE, "100Mi", memory);
    let evict_nodefs = hard(NODEFS_AVAILABLE, "10%", ephemeral);

    Resources {
        cpu_millis: (cores * 1000 - kube_cpu - system_cpu).max(0),
        memory_bytes: (memory - kube_memory - system_memory - evict_memory).max(0),
        ephemeral_bytes: (ephemeral - kube_ephemeral - system_ephemeral - evict_nodefs).max(0),
        pods: max_pods(it, cfg),
        gpus: i64::from(it.gpus),
    }
}

/// Why `cfg` leaves pods no room on any of `types` (no cpu, memory or pods to hand out), naming
/// what runs out on the largest of them; None when some type keeps room for a pod. The
/// Provisioner is then refused rather than launching nodes nothing can be scheduled on.
pub fn leaves_no_room(types: &[InstanceType], cfg: &KubeletConfiguration) -> Option<String> {
    let room = |a: &Resources| a.cpu_millis > 0 && a.memory_bytes > 0 && a.pods > 0;
    if types.iter().any(|it| room(&allocatable(it, Some(cfg)))) {
        return None;
    }
    let largest = types.iter().max_by_key(|it| (it.memory_mib, it.vcpus))?;
    let alloc = allocatable(largest, Some(cfg));
    let short: Vec<&str> = [
        ("cpu", alloc.cpu_millis),
        ("memory", alloc.memory_bytes),
        ("pods", alloc.pods),
    ]
    .into_iter()
    .filter(|(_, left)| *left <= 0)
    .map(|(name, _)| name)
    .collect();
    Some(format!(
        "leaves no allocatable {} on any instance type, not even {}; lower kubeReserved, \
         systemReserved or evictionHard",
        short.join(", "),
        largest.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m5_large() -> InstanceType {
        InstanceType::named("m5.large", 2, 8192).max_pods(29)
    }

    #[test]
    fn cpu_reservations_follow_the_eks_ranges_truncated_per_range() {
        let r: Vec<i64> = [1, 2, 4, 5, 8, 96].map(default_cpu_reserved).to_vec();
        assert_eq!(r, [60, 70, 80, 82, 90, 310]);
    }

    #[test]
    fn defaults_are_the_eks_amis() {
        let a = allocatable(&m5_large(), None);
        assert_eq!(a.cpu_millis, 1930);
        assert_eq!(
            a.memory_bytes,
            8192 * MIB * 925 / 1000 - (11 * 29 + 255 + 100) * MIB
        );
        assert_eq!(a.ephemeral_bytes, 20 * GIB - GIB - 2 * GIB);
        assert_eq!(a.pods, 29);
    }

    #[test]
    fn settings_replace_only_their_own_keys() {
        let cfg = KubeletConfiguration {
            max_pods: Some(110),
            pods_per_core: Some(10),
            kube_reserved: [("cpu".to_string(), Quantity::new("200m"))].into(),
            system_reserved: [("memory".to_string(), Quantity::new("1Gi"))].into(),
            eviction_hard: [(MEMORY_AVAILABLE.to_string(), "5%".to_string())].into(),
            ..KubeletConfiguration::default()
        };
        let a = allocatable(&m5_large(), Some(&cfg));
        assert_eq!(a.pods, 20, "podsPerCore 10 x 2 vCPUs caps maxPods 110");
        assert_eq!(a.cpu_millis, 1800);
        let memory = 8192 * MIB * 925 / 1000;
        assert_eq!(
            a.memory_bytes,
            memory - (11 * 29 + 255) * MIB - GIB - (memory as f64 * 0.05) as i64
        );
    }

    #[test]
    fn thresholds_are_quantities_or_percentages_of_capacity() {
        assert_eq!(threshold("100Mi", 0), Some(100 * MIB));
        assert_eq!(threshold("10%", 1000), Some(100));
        assert_eq!(threshold("101%", 1000), None);
        assert_eq!(threshold("lots", 1000), None);
    }

    #[test]
    fn a_configuration_that_leaves_no_room_anywhere_says_what_runs_out_on_the_largest_type() {
        let types = [
            m5_large(),
            InstanceType::named("m5.24xlarge", 96, 393_216).max_pods(737),
        ];
        let huge = |resource: &str, q: &str| KubeletConfiguration {
            system_reserved: [(resource.to_string(), Quantity::new(q))].into(),
            ..KubeletConfiguration::default()
        };
        assert_eq!(
            leaves_no_room(&types, &huge("cpu", "8")),
            None,
            "room on m5.24xlarge"
        );
        assert_eq!(
            leaves_no_room(&types, &huge("cpu", "96")).as_deref(),
            Some(
                "leaves no allocatable cpu on any instance type, not even m5.24xlarge; lower \
                 kubeReserved, systemReserved or evictionHard"
            )
        );
        let everything = KubeletConfiguration {
            eviction_hard: [(MEMORY_AVAILABLE.to_string(), "100%".to_string())].into(),
            ..huge("cpu", "100")
        };
        let why = leaves_no_room(&types, &everything).unwrap_or_default();
        assert!(
            why.starts_with("leaves no allocatable cpu, memory on any"),
            "{why}"
        );
        assert_eq!(
            leaves_no_room(&[], &everything),
            None,
            "no catalog, nothing to say"
        );
    }
}
