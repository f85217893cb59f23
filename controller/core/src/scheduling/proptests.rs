//! Property tests: random catalogs, provisioners, nodes and pods; every plan must pass the
//! independent check (resources fit, requirements hold, taints tolerated, spread skew,
//! (anti-)affinity, unique host ports, limits, each pod exactly once) and be deterministic.

use super::check::verify;
use super::*;
use crate::api::{
    Limits, NodeSelectorRequirement, Operator, Provisioner, ProvisionerSpec, Quantity, Taint,
    labels,
};
use proptest::prelude::*;

const ZONES: [&str; 3] = ["z-a", "z-b", "z-c"];

fn instance_type() -> impl Strategy<Value = InstanceType> {
    (
        prop::sample::select(vec!["m5", "c5", "r5", "m6g", "t3"]),
        0usize..4,
        1u32..30,
        prop::collection::vec(any::<bool>(), 6),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(family, size, price_seed, avail, gpu)| {
            let (name, cpus) = [("large", 2), ("xlarge", 4), ("2xlarge", 8), ("4xlarge", 16)][size];
            let mem = match family {
                "c5" => 2,
                "r5" => 8,
                _ => 4,
            } * cpus
                * 1024;
            let mut t = InstanceType::named(&format!("{family}.{name}"), cpus, u64::from(mem));
            if family == "m6g" {
                t = t.arch("arm64");
            }
            if gpu {
                t = t.gpus(1);
            }
            let od = f64::from(cpus) * 0.05 * (1.0 + f64::from(price_seed) / 100.0);
            for (k, z) in ZONES.iter().enumerate() {
                // Every zone stays offered (on-demand at least) so spread skew has one universe.
                t = t.offer(z, labels::CAPACITY_TYPE_ON_DEMAND, od);
                if avail[k] {
                    t = t.offer(z, labels::CAPACITY_TYPE_SPOT, od * 0.3);
                }
            }
            t
        })
}

fn catalog() -> impl Strategy<Value = Vec<InstanceType>> {
    prop::collection::vec(instance_type(), 1..12).prop_map(|mut v| {
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.dedup_by(|a, b| a.name == b.name);
        v
    })
}

fn provisioner(i: usize) -> impl Strategy<Value = Provisioner> {
    (
        prop::sample::select(vec![
            vec!["spot", "on-demand"],
            vec!["spot"],
            vec!["on-demand"],
        ]),
        prop::option::weighted(0.3, prop::sample::select(vec!["amd64", "arm64"])),
        prop::option::weighted(0.3, 4u32..40),
        prop::bool::weighted(0.2),
        1i32..100,
    )
        .prop_map(move |(cts, arch, cpu_limit, tainted, weight)| {
            let mut spec = ProvisionerSpec {
                requirements: vec![NodeSelectorRequirement::new(
                    labels::CAPACITY_TYPE,
                    Operator::In,
                    &cts,
                )],
                weight: Some(weight),
                ..ProvisionerSpec::default()
            };
            if let Some(a) = arch {
                spec.requirements.push(NodeSelectorRequirement::new(
                    labels::ARCH,
                    Operator::In,
                    &[a],
                ));
            }
            if let Some(c) = cpu_limit {
                spec.limits = Some(Limits {
                    resources: [("cpu".to_string(), Quantity::new(c.to_string()))].into(),
                });
            }
            if tainted {
                spec.taints
                    .push(Taint::new("dedicated", Some("batch"), "NoSchedule"));
            }
            Provisioner::new(format!("prov-{i}"), spec)
        })
}

/// Kinds mirror the benchmark plus selectors, tolerations and host ports.
fn pod(i: usize) -> impl Strategy<Value = Pod> {
    (0usize..9, 1u32..16, 1u32..40, 0usize..3).prop_map(move |(kind, cpu, mem, group)| {
        let g = format!("g{group}");
        let p = Pod::named(&format!("pod-{i}"))
            .requesting(&format!("{}m", cpu * 100), &format!("{}Mi", mem * 100))
            .label("kind", &kind.to_string())
            .label("group", &g);
        match kind {
            0 => p,
            1 => p.label("spread", &g).zone_spread(1, "spread", &g),
            2 => p.label("hspread", &g).hostname_spread(1, "hspread", &g),
            3 => p.label("aff", &g).pod_affinity(labels::ZONE, "aff", &g),
            4 => p
                .label("anti", &g)
                .pod_anti_affinity(labels::HOSTNAME, "anti", &g),
            5 => p.host_port(8000 + group as i32),
            6 => p.node_selector(labels::CAPACITY_TYPE, "on-demand"),
            7 => p
                .tolerate("dedicated", "batch", "NoSchedule")
                .node_selector(labels::INSTANCE_CATEGORY, "m"),
            _ => p
                .label("zanti", &g)
                .pod_anti_affinity(labels::ZONE, "zanti", &g)
                .node_affinity_term(vec![NodeSelectorRequirement::new(
                    labels::INSTANCE_CPU,
                    Operator::Lt,
                    &["9"],
                )]),
        }
    })
}

fn existing_node(i: usize) -> impl Strategy<Value = ExistingNode> {
    (0usize..3, 1u32..8, any::<bool>(), any::<bool>()).prop_map(
        move |(z, cpus, busy, in_flight)| {
            let mut n = ExistingNode::named(
                &format!("node-{i}"),
                ZONES[z],
                &cpus.to_string(),
                &format!("{}Gi", cpus * 4),
            );
            if busy {
                n = n.running(
                    Pod::named("resident")
                        .requesting("500m", "1Gi")
                        .host_port(8000),
                );
            }
            if in_flight { n.in_flight() } else { n }
        },
    )
}

fn scheduling_input() -> impl Strategy<Value = SchedulingInput> {
    (
        catalog(),
        (1usize..3).prop_flat_map(|n| (0..n).map(provisioner).collect::<Vec<_>>()),
        (0usize..3).prop_flat_map(|n| (0..n).map(existing_node).collect::<Vec<_>>()),
        prop::option::weighted(0.3, (1u32..5, 1u32..5)),
        (0usize..40).prop_flat_map(|n| (0..n).map(pod).collect::<Vec<_>>()),
    )
        .prop_map(
            |(instance_types, provisioners, nodes, ds, pods)| SchedulingInput {
                provisioners,
                instance_types,
                nodes,
                daemonsets: ds
                    .map(|(c, m)| {
                        vec![
                            Pod::named("ds")
                                .requesting(&format!("{}m", c * 50), &format!("{}Mi", m * 50)),
                        ]
                    })
                    .unwrap_or_default(),
                pods,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_plan_respects_every_constraint(input in scheduling_input()) {
        let plan = solve(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let errors = verify(&input, &plan);
        prop_assert!(errors.is_empty(), "{:#?}", errors);
    }

    #[test]
    fn every_unplaced_pod_comes_with_a_reason(input in scheduling_input()) {
        let plan = solve(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for u in &plan.unschedulable {
            prop_assert!(!u.reason.is_empty());
        }
        prop_assert_eq!(plan.placed_count() + plan.unschedulable.len(), input.pods.len());
    }

    #[test]
    fn the_same_input_always_gives_the_same_plan(input in scheduling_input()) {
        prop_assert_eq!(solve(&input).ok(), solve(&input).ok());
    }
}
