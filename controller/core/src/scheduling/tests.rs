//! Scenario tests for `solve`; each also runs the independent plan check.

use super::check::verify;
use super::*;
use crate::api::{
    KubeletConfiguration, Limits, NodeSelectorRequirement, Operator, Provisioner, ProvisionerSpec,
    ProvisionerStatus, Quantity, Taint, labels,
};

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

fn req(key: &str, op: Operator, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement::new(key, op, values)
}

fn provisioner(name: &str) -> Provisioner {
    Provisioner::new(
        name,
        ProvisionerSpec {
            requirements: vec![req(
                labels::CAPACITY_TYPE,
                Operator::In,
                &["spot", "on-demand"],
            )],
            ..ProvisionerSpec::default()
        },
    )
}

trait ProvisionerFixture {
    fn requiring(self, r: NodeSelectorRequirement) -> Self;
    fn weight(self, w: i32) -> Self;
    fn taint(self, key: &str, value: &str) -> Self;
    fn cpu_limit(self, cpu: &str, used: &str) -> Self;
}

impl ProvisionerFixture for Provisioner {
    fn requiring(mut self, r: NodeSelectorRequirement) -> Self {
        self.spec.requirements.retain(|x| x.key != r.key);
        self.spec.requirements.push(r);
        self
    }
    fn weight(mut self, w: i32) -> Self {
        self.spec.weight = Some(w);
        self
    }
    fn taint(mut self, key: &str, value: &str) -> Self {
        self.spec
            .taints
            .push(Taint::new(key, Some(value), "NoSchedule"));
        self
    }
    fn cpu_limit(mut self, cpu: &str, used: &str) -> Self {
        self.spec.limits = Some(Limits {
            resources: [("cpu".to_string(), Quantity::new(cpu))].into(),
        });
        self.status = Some(ProvisionerStatus {
            resources: [("cpu".to_string(), Quantity::new(used))].into(),
            ..ProvisionerStatus::default()
        });
        self
    }
}

/// m5 (4 GiB/vCPU), c5 (2 GiB/vCPU) and r5 (8 GiB/vCPU) in four sizes, spot at 30% of on-demand.
fn catalog() -> Vec<InstanceType> {
    let mut out = Vec::new();
    for (family, gib_per_cpu, od_per_cpu) in [("m5", 4, 0.048), ("c5", 2, 0.0425), ("r5", 8, 0.063)]
    {
        for (size, cpus) in [("large", 2), ("xlarge", 4), ("2xlarge", 8), ("4xlarge", 16)] {
            let od = od_per_cpu * f64::from(cpus);
            out.push(
                InstanceType::named(
                    &format!("{family}.{size}"),
                    cpus,
                    u64::from(cpus * gib_per_cpu * 1024),
                )
                .offered_in(&ZONES, od * 0.3, od),
            );
        }
    }
    out
}

fn input(pods: Vec<Pod>) -> SchedulingInput {
    SchedulingInput {
        provisioners: vec![provisioner("default")],
        instance_types: catalog(),
        nodes: vec![],
        daemonsets: vec![],
        pods,
    }
}

fn solved(input: &SchedulingInput) -> Plan {
    let plan = match solve(input) {
        Ok(p) => p,
        Err(e) => panic!("solve failed: {e}"),
    };
    let errors = verify(input, &plan);
    assert!(errors.is_empty(), "plan breaks rules: {errors:#?}");
    plan
}

fn web(i: usize) -> Pod {
    Pod::named(&format!("web-{i}"))
        .requesting("500m", "1Gi")
        .label("app", "web")
}

#[test]
fn a_single_pod_lands_on_the_cheapest_spot_type_that_fits() {
    let plan = solved(&input(vec![Pod::named("p").requesting("1", "2Gi")]));
    assert_eq!(plan.new_nodes.len(), 1);
    let node = &plan.new_nodes[0];
    assert_eq!(node.capacity_type, "spot");
    assert!(node.on_demand_fallback);
    assert_eq!(&*node.instance_types[0].name, "c5.large");
    assert!(
        node.instance_types
            .windows(2)
            .all(|w| w[0].price <= w[1].price)
    );
}

#[test]
fn a_pod_that_asks_for_on_demand_gets_on_demand() {
    let pod = Pod::named("p")
        .requesting("1", "2Gi")
        .node_selector(labels::CAPACITY_TYPE, "on-demand");
    let plan = solved(&input(vec![pod]));
    assert_eq!(plan.new_nodes[0].capacity_type, "on-demand");
}

#[test]
fn a_provisioner_without_capacity_type_defaults_to_on_demand() {
    let mut i = input(vec![Pod::named("p").requesting("1", "2Gi")]);
    i.provisioners[0].spec.requirements.clear();
    assert_eq!(solved(&i).new_nodes[0].capacity_type, "on-demand");
}

#[test]
fn many_pods_share_nodes_instead_of_one_node_each() {
    let plan = solved(&input((0..40).map(web).collect()));
    assert!(plan.unschedulable.is_empty());
    assert!(plan.new_nodes.len() < 10, "{} nodes", plan.new_nodes.len());
}

#[test]
fn existing_nodes_are_filled_before_new_nodes_are_opened() {
    let mut i = input(vec![web(0), web(1)]);
    i.nodes
        .push(ExistingNode::named("node-1", "zone-a", "4", "8Gi").in_flight());
    let plan = solved(&i);
    assert!(plan.new_nodes.is_empty());
    assert_eq!(plan.existing[0].pods, vec![0, 1]);
}

#[test]
fn a_full_existing_node_sends_the_rest_to_a_new_node() {
    let mut i = input(vec![web(0), web(1), web(2)]);
    i.nodes.push(
        ExistingNode::named("node-1", "zone-a", "1200m", "8Gi")
            .running(Pod::named("old").requesting("100m", "1Gi")),
    );
    let plan = solved(&i);
    assert_eq!(plan.existing[0].pods.len(), 2);
    assert_eq!(plan.new_nodes.len(), 1);
}

#[test]
fn a_node_selector_that_excludes_every_type_is_explained() {
    let mut i = input(vec![
        Pod::named("p")
            .requesting("1", "1Gi")
            .node_selector(labels::INSTANCE_TYPE, "c5.large"),
    ]);
    i.provisioners[0] = provisioner("spot-fleet").requiring(req(
        labels::INSTANCE_TYPE,
        Operator::In,
        &["m5.large", "m5.2xlarge"],
    ));
    let plan = solved(&i);
    assert_eq!(plan.unschedulable.len(), 1);
    let why = &plan.unschedulable[0].reason;
    assert!(why.contains("provisioner \"spot-fleet\""), "{why}");
    assert!(why.contains("node.kubernetes.io/instance-type In [c5.large] (pod nodeSelector) conflicts with In [m5.2xlarge, m5.large] (provisioner requirements)"), "{why}");
}

#[test]
fn requirements_that_exclude_every_type_are_explained_by_what_each_excludes() {
    let i = input(vec![
        Pod::named("p")
            .requesting("1", "1Gi")
            .node_selector(labels::INSTANCE_FAMILY, "m5")
            .node_affinity_term(vec![req(labels::INSTANCE_CPU, Operator::Gt, &["64"])]),
    ]);
    let why = &solved(&i).unschedulable[0].reason;
    assert!(
        why.contains(
            "karpenter.k8s.aws/instance-cpu Gt 64 (pod node affinity) excludes 12 instance types"
        ),
        "{why}"
    );
    assert!(
        why.contains(
            "karpenter.k8s.aws/instance-family In [m5] (pod nodeSelector) excludes 8 instance types"
        ),
        "{why}"
    );
}

#[test]
fn a_pod_too_large_for_every_type_names_the_resources() {
    let why =
        &solved(&input(vec![Pod::named("p").requesting("100", "1Gi")])).unschedulable[0].reason;
    assert!(why.contains("too small for cpu=100000m"), "{why}");
}

#[test]
fn an_untolerated_taint_keeps_the_pod_off_the_provisioner() {
    let mut i = input(vec![
        Pod::named("plain").requesting("1", "1Gi"),
        Pod::named("gpu-ok")
            .requesting("1", "1Gi")
            .tolerate("dedicated", "gpu", "NoSchedule"),
    ]);
    i.provisioners = vec![provisioner("tainted").taint("dedicated", "gpu")];
    let plan = solved(&i);
    assert_eq!(plan.new_nodes.len(), 1);
    assert_eq!(plan.new_nodes[0].pods, vec![1]);
    assert!(
        plan.unschedulable[0]
            .reason
            .contains("taint dedicated=gpu:NoSchedule is not tolerated")
    );
}

#[test]
fn the_heaviest_provisioner_that_fits_wins() {
    let mut i = input(vec![web(0)]);
    i.provisioners = vec![
        provisioner("light").weight(1),
        provisioner("heavy").weight(50).requiring(req(
            labels::INSTANCE_FAMILY,
            Operator::In,
            &["r5"],
        )),
    ];
    let plan = solved(&i);
    assert_eq!(plan.new_nodes[0].provisioner, "heavy");
    assert!(
        plan.new_nodes[0]
            .instance_types
            .iter()
            .all(|t| t.name.starts_with("r5"))
    );
}

#[test]
fn provisioner_limits_cap_new_capacity_and_say_so() {
    let mut i = input(
        (0..30)
            .map(|k| Pod::named(&format!("p{k}")).requesting("1500m", "1Gi"))
            .collect(),
    );
    i.provisioners = vec![provisioner("capped").cpu_limit("20", "4")];
    let plan = solved(&i);
    let cpus: i64 = plan
        .new_nodes
        .iter()
        .map(|n| {
            n.instance_types
                .iter()
                .filter_map(|o| i.instance_types.iter().find(|t| *t.name == *o.name))
                .map(|t| i64::from(t.vcpus))
                .max()
                .unwrap_or(0)
        })
        .sum();
    assert!(cpus <= 16, "{cpus} vCPUs launched under a 16 vCPU headroom");
    assert!(!plan.new_nodes.is_empty());
    assert!(!plan.unschedulable.is_empty());
    assert!(
        plan.unschedulable[0].reason.contains("limits leave"),
        "{}",
        plan.unschedulable[0].reason
    );
}

#[test]
fn zone_spread_puts_pods_evenly_across_zones() {
    let pods = (0..9)
        .map(|k| web(k).zone_spread(1, "app", "web"))
        .collect();
    let plan = solved(&input(pods));
    let mut per_zone = std::collections::BTreeMap::new();
    for n in &plan.new_nodes {
        *per_zone
            .entry(n.instance_types[0].zones.clone())
            .or_insert(0) += n.pods.len();
    }
    assert_eq!(
        per_zone.values().copied().collect::<Vec<_>>(),
        vec![3, 3, 3]
    );
}

#[test]
fn hostname_anti_affinity_gives_each_pod_its_own_node() {
    let pods = (0..5)
        .map(|k| web(k).pod_anti_affinity(labels::HOSTNAME, "app", "web"))
        .collect();
    let plan = solved(&input(pods));
    assert_eq!(plan.new_nodes.len(), 5);
}

#[test]
fn anti_affinity_is_symmetric_for_pods_without_the_term() {
    let guard = Pod::named("guard")
        .requesting("100m", "100Mi")
        .pod_anti_affinity(labels::HOSTNAME, "app", "web");
    let mut i = input(vec![web(0)]);
    i.nodes
        .push(ExistingNode::named("node-1", "zone-a", "4", "8Gi").running(guard));
    let plan = solved(&i);
    assert!(plan.existing.is_empty());
    assert_eq!(plan.new_nodes.len(), 1);
}

#[test]
fn zone_pod_affinity_keeps_the_group_in_one_zone() {
    let pods = (0..12)
        .map(|k| {
            web(k)
                .requesting("2", "4Gi")
                .pod_affinity(labels::ZONE, "app", "web")
        })
        .collect();
    let plan = solved(&input(pods));
    let zones: std::collections::BTreeSet<_> = plan
        .new_nodes
        .iter()
        .map(|n| n.instance_types[0].zones.clone())
        .collect();
    assert_eq!(zones.len(), 1);
    assert!(plan.unschedulable.is_empty());
}

#[test]
fn affinity_to_pods_placed_later_is_resolved_by_another_pass() {
    let follower =
        Pod::named("follower")
            .requesting("2", "1Gi")
            .pod_affinity(labels::HOSTNAME, "app", "db");
    let leader = Pod::named("leader")
        .requesting("100m", "1Gi")
        .label("app", "db");
    let plan = solved(&input(vec![follower, leader]));
    assert!(plan.unschedulable.is_empty(), "{:?}", plan.unschedulable);
    assert_eq!(plan.new_nodes.len(), 1);
}

#[test]
fn host_ports_never_collide_on_a_node() {
    let pods = (0..3).map(|k| web(k).host_port(8080)).collect();
    assert_eq!(solved(&input(pods)).new_nodes.len(), 3);
}

#[test]
fn daemonset_overhead_is_reserved_on_every_new_node() {
    let mut i = input(vec![Pod::named("p").requesting("1500m", "1Gi")]);
    i.daemonsets
        .push(Pod::named("ds").requesting("500m", "512Mi"));
    let plan = solved(&i);
    assert_eq!(plan.new_nodes[0].requests.cpu_millis, 2000);
    assert_eq!(&*plan.new_nodes[0].instance_types[0].name, "c5.xlarge");
}

#[test]
fn init_containers_count_by_the_max_rule_and_overhead_is_added()
-> Result<(), resources::ResourceError> {
    let pod = Pod::named("p")
        .requesting("500m", "1Gi")
        .sidecar("250m", "256Mi")
        .init_container("2", "128Mi")
        .overhead("100m", "64Mi");
    let r = pod.requests()?;
    assert_eq!(r.cpu_millis, 2100);
    assert_eq!(r.memory_bytes, (1024 + 256 + 64) << 20);
    Ok(())
}

#[test]
fn required_node_affinity_terms_are_alternatives() {
    let pod = Pod::named("p")
        .requesting("1", "1Gi")
        .node_affinity_term(vec![req(
            labels::INSTANCE_TYPE,
            Operator::In,
            &["x1.nothing"],
        )])
        .node_affinity_term(vec![req(labels::INSTANCE_FAMILY, Operator::In, &["r5"])]);
    let plan = solved(&input(vec![pod]));
    assert_eq!(&*plan.new_nodes[0].instance_types[0].name, "r5.large");
}

#[test]
fn preferred_node_affinity_breaks_the_tie_towards_the_preferred_zone() {
    let pod = Pod::named("p")
        .requesting("1", "1Gi")
        .preferred_node_affinity(10, vec![req(labels::ZONE, Operator::In, &["zone-c"])]);
    let plan = solved(&input(vec![pod]));
    assert_eq!(&*plan.new_nodes[0].instance_types[0].zones[0], "zone-c");
    assert_eq!(plan.new_nodes[0].instance_types[0].zones.len(), 1);
}

#[test]
fn unavailable_offerings_are_skipped() {
    let mut i = input(vec![Pod::named("p").requesting("1", "2Gi")]);
    for t in &mut i.instance_types {
        *t = t
            .clone()
            .unavailable("zone-a", "spot")
            .unavailable("zone-b", "spot")
            .unavailable("zone-c", "spot");
    }
    let plan = solved(&i);
    assert_eq!(plan.new_nodes[0].capacity_type, "on-demand");
}

#[test]
fn the_launcher_gets_at_most_sixty_types() {
    let mut i = input(vec![Pod::named("p").requesting("100m", "100Mi")]);
    i.instance_types = (1..=100)
        .map(|k| {
            InstanceType::named(&format!("t{k}.large"), 2, 4096).offered_in(
                &ZONES,
                0.01 * f64::from(k),
                0.1,
            )
        })
        .collect();
    let plan = solved(&i);
    assert_eq!(plan.new_nodes[0].instance_types.len(), MAX_INSTANCE_TYPES);
    assert_eq!(&*plan.new_nodes[0].instance_types[0].name, "t1.large");
}

#[test]
fn gpu_pods_only_get_gpu_types() {
    let mut i = input(vec![
        Pod::named("train")
            .requesting("1", "1Gi")
            .request("nvidia.com/gpu", "1"),
    ]);
    i.instance_types.push(
        InstanceType::named("g4dn.xlarge", 4, 16384)
            .gpus(1)
            .offered_in(&ZONES, 0.2, 0.5),
    );
    let plan = solved(&i);
    assert_eq!(
        plan.new_nodes[0]
            .instance_types
            .iter()
            .map(|t| &*t.name)
            .collect::<Vec<_>>(),
        vec!["g4dn.xlarge"]
    );
}

#[test]
fn a_bad_quantity_is_reported_not_guessed() {
    let plan = solved(&input(vec![Pod::named("p").requesting("lots", "1Gi")]));
    assert!(
        plan.unschedulable[0].reason.contains("\"lots\""),
        "{}",
        plan.unschedulable[0].reason
    );
}

#[test]
fn a_custom_label_needs_the_provisioner_to_set_it() {
    let pod = || {
        Pod::named("p")
            .requesting("1", "1Gi")
            .node_selector("team", "a")
    };
    let plan = solved(&input(vec![pod()]));
    assert!(
        plan.unschedulable[0]
            .reason
            .contains("label \"team\" is not set on its nodes")
    );
    let mut i = input(vec![pod()]);
    i.provisioners[0]
        .spec
        .labels
        .insert("team".into(), "a".into());
    assert_eq!(solved(&i).new_nodes.len(), 1);
}

#[test]
fn solving_twice_gives_the_same_plan() {
    let pods: Vec<Pod> = (0..50)
        .map(|k| {
            if k % 2 == 0 {
                web(k).zone_spread(1, "app", "web")
            } else {
                web(k)
            }
        })
        .collect();
    let i = input(pods);
    assert_eq!(solve(&i).ok(), solve(&i).ok());
}

#[test]
fn a_pod_too_big_for_the_provisioners_only_type_hears_both_reasons() {
    let mut i = input(vec![Pod::named("big").requesting("4", "1Gi")]);
    i.provisioners[0] = provisioner("spot-fleet").requiring(req(
        labels::INSTANCE_TYPE,
        Operator::In,
        &["m5.large"],
    ));
    let why = &solved(&i).unschedulable[0].reason;
    assert_eq!(
        why,
        "provisioner \"spot-fleet\": node.kubernetes.io/instance-type In [m5.large] (provisioner requirements) \
         excludes 11 instance types (m5.xlarge, m5.2xlarge, m5.4xlarge, and 8 more), \
         1 instance type (m5.large) too small for cpu=4000m memory=1024Mi (pod cpu=4000m memory=1024Mi + daemonsets cpu=0m memory=0Mi)"
    );
}

#[test]
fn a_claim_left_alone_gets_the_cheapest_type_that_holds_it_even_past_the_best_value_bound() {
    // Two pods spread over two zones. While both wait, c5.xlarge is the best value per packed
    // pod and bounds the first claim, which excludes m5.large (it reserves less memory for pods
    // than c5.xlarge, so it has more allocatable than the bound); once
    // the second pod leaves for the other zone, m5.large is the cheapest for the first.
    let zones = ["zone-a", "zone-b"];
    let offer =
        |t: InstanceType, price: f64| zones.iter().fold(t, |t, z| t.offer(z, "spot", price));
    let types = vec![
        offer(
            InstanceType::named("m5.large", 2, 8192).max_pods(29),
            0.025817,
        ),
        offer(
            InstanceType::named("c5.large", 2, 4096).max_pods(29),
            0.030954,
        ),
        offer(
            InstanceType::named("c5.xlarge", 4, 8192).max_pods(58),
            0.047423,
        ),
    ];
    let pods = vec![
        Pod::named("a")
            .requesting("1500m", "1Gi")
            .label("app", "web")
            .zone_spread(1, "app", "web"),
        Pod::named("b")
            .requesting("500m", "1Gi")
            .label("app", "web")
            .zone_spread(1, "app", "web"),
    ];
    let mut i = input(pods);
    i.instance_types = types;
    let plan = solved(&i);
    assert_eq!(plan.new_nodes.len(), 2);
    for node in &plan.new_nodes {
        assert_eq!(&*node.instance_types[0].name, "m5.large", "{node:?}");
    }
}

#[test]
fn a_kubelet_configuration_changes_what_new_nodes_of_its_provisioner_hold() {
    let pods = (0..3)
        .map(|i| Pod::named(&format!("p{i}")).requesting("100m", "128Mi"))
        .collect();
    let mut i = input(pods);
    i.provisioners[0].spec.kubelet_configuration = Some(KubeletConfiguration {
        max_pods: Some(2),
        ..KubeletConfiguration::default()
    });
    let plan = solved(&i);
    assert_eq!(plan.new_nodes.len(), 2, "two pods per node at most");
    // Reserving a core for the system leaves a 2-vCPU type no room for a 1.5-core pod.
    let mut i = input(vec![Pod::named("big").requesting("1500m", "1Gi")]);
    i.provisioners[0].spec.kubelet_configuration = Some(KubeletConfiguration {
        system_reserved: [("cpu".to_string(), Quantity::new("1"))].into(),
        ..KubeletConfiguration::default()
    });
    let plan = solved(&i);
    assert!(
        plan.new_nodes[0]
            .instance_types
            .iter()
            .all(|t| !t.name.ends_with(".large")),
        "{:?}",
        plan.new_nodes[0].instance_types
    );
}

/// The e2e consolidation bench's mix (CPU-heavy, balanced and memory-heavy pods) on its types
/// and the emulator's on-demand prices: sized by the waiting pods' average shape, claims filled with the CPU-heavy pods first grow to
/// memory-rich types whose memory nobody uses; sized by the opening pod they stay on c5.
#[test]
fn claims_sized_by_the_opening_pod_win_when_the_largest_pods_are_cpu_heavy() {
    let sizes = [
        ("250m", "512Mi"),
        ("500m", "1Gi"),
        ("1", "2Gi"),
        ("1500m", "1Gi"),
        ("200m", "3Gi"),
    ];
    let pods = (0..170)
        .map(|i| {
            let (cpu, memory) = sizes[i % sizes.len()];
            Pod::named(&format!("p-{i}")).requesting(cpu, memory)
        })
        .collect();
    let mut i = input(pods);
    i.provisioners[0].spec.requirements =
        vec![req(labels::CAPACITY_TYPE, Operator::In, &["on-demand"])];
    i.instance_types = [
        ("c5.large", 2, 4, 29, 0.0852),
        ("c5.xlarge", 4, 8, 58, 0.1704),
        ("m5.large", 2, 8, 29, 0.096),
        ("m5.xlarge", 4, 16, 58, 0.192),
        ("m5.2xlarge", 8, 32, 58, 0.384),
        ("r5.large", 2, 16, 29, 0.1256),
    ]
    .into_iter()
    .map(|(name, cpus, gib, max_pods, price)| {
        InstanceType::named(name, cpus, gib * 1024)
            .max_pods(max_pods)
            .offered_in(&ZONES, price / 3.0, price)
    })
    .collect();
    let average = solver::solve_with(&i, solver::Sizing::WaitingAverage)
        .map_or(f64::NAN, |p| p.cost_per_hour());
    let opening =
        solver::solve_with(&i, solver::Sizing::OpeningPod).map_or(f64::NAN, |p| p.cost_per_hour());
    let plan = solved(&i);
    assert!(plan.unschedulable.is_empty());
    assert!(
        opening < average,
        "opening-pod sizing ${opening:.4}/h, average ${average:.4}/h"
    );
    assert_eq!(plan.cost_per_hour(), opening);
}
