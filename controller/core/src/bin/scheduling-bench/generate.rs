//! The default benchmark input: 400 instance types with spot and on-demand prices in three zones,
//! one provisioner allowing both capacity types and architectures, and pods split evenly (round
//! robin, so any prefix is still even) among generic, zone spread, hostname spread, zone pod
//! affinity and hostname anti-affinity, with cpu 100m-1.5 and memory 100Mi-4Gi.

use karpenter_core::api::{
    NodeSelectorRequirement, Operator, Provisioner, ProvisionerSpec, labels,
};
use karpenter_core::scheduling::{InstanceType, Pod, SchedulingInput};

pub const ZONES: [&str; 3] = ["us-west-2a", "us-west-2b", "us-west-2c"];
pub const INSTANCE_TYPES: usize = 400;
pub const DEFAULT_SEED: u64 = 0x6b61_7270_656e_7465;

/// splitmix64: tiny, fast, and its sequence is the same on every platform and release.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform in [lo, hi).
    pub fn unit(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

const SIZES: [(&str, u32); 8] = [
    ("large", 2),
    ("xlarge", 4),
    ("2xlarge", 8),
    ("4xlarge", 16),
    ("8xlarge", 32),
    ("12xlarge", 48),
    ("16xlarge", 64),
    ("24xlarge", 96),
];

fn max_pods(vcpus: u32) -> u32 {
    match vcpus {
        0..=2 => 29,
        3..=8 => 58,
        9..=16 => 234,
        _ => 737,
    }
}

pub fn instance_types(rng: &mut Rng) -> Vec<InstanceType> {
    let mut out = Vec::with_capacity(INSTANCE_TYPES);
    // (category, GiB per vCPU, on-demand $ per vCPU-hour)
    let categories = [("c", 2u32, 0.0425), ("m", 4, 0.048), ("r", 8, 0.063)];
    // (variant, arch, price factor)
    let variants = [
        ("", "amd64", 1.0),
        ("a", "amd64", 0.9),
        ("d", "amd64", 1.13),
        ("n", "amd64", 1.25),
        ("g", "arm64", 0.8),
        ("gd", "arm64", 0.92),
    ];
    'outer: for generation in [5u32, 6, 7] {
        for (category, gib, per_cpu) in categories {
            for (variant, arch, factor) in variants {
                for (size, vcpus) in SIZES {
                    if out.len() == INSTANCE_TYPES {
                        break 'outer;
                    }
                    let family = format!("{category}{generation}{variant}");
                    let generation_factor = 1.0 + 0.04 * f64::from(generation - 5);
                    let od = f64::from(vcpus)
                        * per_cpu
                        * factor
                        * generation_factor
                        * rng.unit(0.97, 1.03);
                    let mut t = InstanceType::named(
                        &format!("{family}.{size}"),
                        vcpus,
                        u64::from(vcpus * gib * 1024),
                    )
                    .arch(arch)
                    .max_pods(max_pods(vcpus));
                    for z in ZONES {
                        let spot = od * rng.unit(0.25, 0.45);
                        t = t.offer(z, labels::CAPACITY_TYPE_SPOT, round4(spot)).offer(
                            z,
                            labels::CAPACITY_TYPE_ON_DEMAND,
                            round4(od),
                        );
                    }
                    out.push(t);
                }
            }
        }
    }
    out
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

pub fn provisioner() -> Provisioner {
    Provisioner::new(
        "default",
        ProvisionerSpec {
            requirements: vec![
                NodeSelectorRequirement::new(
                    labels::CAPACITY_TYPE,
                    Operator::In,
                    &["spot", "on-demand"],
                ),
                NodeSelectorRequirement::new(labels::ARCH, Operator::In, &["amd64", "arm64"]),
            ],
            ..ProvisionerSpec::default()
        },
    )
}

pub fn pods(rng: &mut Rng, n: usize) -> Vec<Pod> {
    (0..n)
        .map(|i| {
            let cpu = rng.range(100, 1500);
            let mem = rng.range(100, 4096);
            let p =
                Pod::named(&format!("pod-{i}")).requesting(&format!("{cpu}m"), &format!("{mem}Mi"));
            match i % 5 {
                0 => p.label("app", "generic"),
                1 => p
                    .label("app", "zone-spread")
                    .zone_spread(1, "app", "zone-spread"),
                2 => p
                    .label("app", "host-spread")
                    .hostname_spread(1, "app", "host-spread"),
                3 => p.label("app", "zone-affinity").pod_affinity(
                    labels::ZONE,
                    "app",
                    "zone-affinity",
                ),
                _ => p.label("app", "host-anti-affinity").pod_anti_affinity(
                    labels::HOSTNAME,
                    "app",
                    "host-anti-affinity",
                ),
            }
        })
        .collect()
}

pub fn default_input(seed: u64, n: usize) -> SchedulingInput {
    let mut rng = Rng::new(seed);
    let instance_types = instance_types(&mut rng);
    SchedulingInput {
        provisioners: vec![provisioner()],
        instance_types,
        nodes: vec![],
        daemonsets: vec![],
        pods: pods(&mut rng, n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_input_depends_only_on_the_seed() {
        assert_eq!(
            default_input(DEFAULT_SEED, 50),
            default_input(DEFAULT_SEED, 50)
        );
        assert_ne!(default_input(1, 50).pods, default_input(2, 50).pods);
    }

    #[test]
    fn the_catalog_has_400_distinct_types_offered_in_every_zone() {
        let types = instance_types(&mut Rng::new(DEFAULT_SEED));
        let names: std::collections::BTreeSet<_> = types.iter().map(|t| &t.name).collect();
        assert_eq!(names.len(), INSTANCE_TYPES);
        assert!(types.iter().all(|t| t.offerings.len() == 2 * ZONES.len()));
    }

    #[test]
    fn any_prefix_of_the_pods_is_split_evenly_among_the_five_kinds() {
        let pods = pods(&mut Rng::new(DEFAULT_SEED), 100);
        let mut kinds = std::collections::BTreeMap::new();
        for p in &pods {
            *kinds.entry(p.metadata.labels["app"].clone()).or_insert(0) += 1;
        }
        assert_eq!(kinds.values().copied().collect::<Vec<_>>(), vec![20; 5]);
    }
}
