//! Builders for pods, nodes and instance types: test fixtures and benchmark inputs read as
//! `Pod::named("web-1").requesting("500m", "1Gi").zone_spread(1, "app", "web")`.

use super::instance_type::{InstanceType, Offering};
use super::node::ExistingNode;
use super::pod::{
    Affinity, Container, ContainerPort, LabelSelector, NodeAffinity, NodeSelector,
    NodeSelectorTerm, Pod, PodAffinity, PodAffinityTerm, PreferredSchedulingTerm, Toleration,
    TopologySpreadConstraint,
};
use crate::api::{NodeSelectorRequirement, Quantity, Taint, labels};
use std::collections::BTreeMap;

fn selector(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: [(key.to_string(), value.to_string())].into(),
        match_expressions: vec![],
    }
}

impl Pod {
    pub fn named(name: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = name.to_string();
        p.spec.containers.push(Container {
            name: "main".to_string(),
            ..Container::default()
        });
        p
    }

    pub fn in_namespace(mut self, ns: &str) -> Pod {
        self.metadata.namespace = ns.to_string();
        self
    }

    fn main_container(&mut self) -> &mut Container {
        if self.spec.containers.is_empty() {
            self.spec.containers.push(Container::default());
        }
        &mut self.spec.containers[0]
    }

    /// cpu and memory requests of the first container.
    pub fn requesting(mut self, cpu: &str, memory: &str) -> Pod {
        let r = &mut self.main_container().resources.requests;
        r.insert(labels::RESOURCE_CPU.into(), Quantity::new(cpu));
        r.insert(labels::RESOURCE_MEMORY.into(), Quantity::new(memory));
        self
    }

    pub fn request(mut self, resource: &str, amount: &str) -> Pod {
        self.main_container()
            .resources
            .requests
            .insert(resource.into(), Quantity::new(amount));
        self
    }

    pub fn sidecar(mut self, cpu: &str, memory: &str) -> Pod {
        let mut c = Container::default();
        c.resources.requests = quantities(cpu, memory);
        self.spec.containers.push(c);
        self
    }

    pub fn init_container(mut self, cpu: &str, memory: &str) -> Pod {
        let mut c = Container::default();
        c.resources.requests = quantities(cpu, memory);
        self.spec.init_containers.push(c);
        self
    }

    pub fn overhead(mut self, cpu: &str, memory: &str) -> Pod {
        self.spec.overhead = quantities(cpu, memory);
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Pod {
        self.metadata.labels.insert(key.into(), value.into());
        self
    }

    pub fn node_selector(mut self, key: &str, value: &str) -> Pod {
        self.spec.node_selector.insert(key.into(), value.into());
        self
    }

    fn affinity(&mut self) -> &mut Affinity {
        self.spec.affinity.get_or_insert_with(Affinity::default)
    }

    /// Adds one required node affinity term (terms are ORed).
    pub fn node_affinity_term(mut self, exprs: Vec<NodeSelectorRequirement>) -> Pod {
        let na = self
            .affinity()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        na.required
            .get_or_insert_with(NodeSelector::default)
            .node_selector_terms
            .push(NodeSelectorTerm {
                match_expressions: exprs,
            });
        self
    }

    pub fn preferred_node_affinity(
        mut self,
        weight: i32,
        exprs: Vec<NodeSelectorRequirement>,
    ) -> Pod {
        let na = self
            .affinity()
            .node_affinity
            .get_or_insert_with(NodeAffinity::default);
        na.preferred.push(PreferredSchedulingTerm {
            weight,
            preference: NodeSelectorTerm {
                match_expressions: exprs,
            },
        });
        self
    }

    pub fn tolerate(mut self, key: &str, value: &str, effect: &str) -> Pod {
        self.spec.tolerations.push(Toleration {
            key: Some(key.into()),
            operator: Some("Equal".into()),
            value: Some(value.into()),
            effect: Some(effect.into()),
        });
        self
    }

    pub fn spread(mut self, topology_key: &str, max_skew: i32, key: &str, value: &str) -> Pod {
        self.spec
            .topology_spread_constraints
            .push(TopologySpreadConstraint {
                max_skew,
                topology_key: topology_key.into(),
                when_unsatisfiable: "DoNotSchedule".into(),
                label_selector: Some(selector(key, value)),
            });
        self
    }

    pub fn zone_spread(self, max_skew: i32, key: &str, value: &str) -> Pod {
        self.spread(labels::ZONE, max_skew, key, value)
    }

    pub fn hostname_spread(self, max_skew: i32, key: &str, value: &str) -> Pod {
        self.spread(labels::HOSTNAME, max_skew, key, value)
    }

    pub fn pod_affinity(mut self, topology_key: &str, key: &str, value: &str) -> Pod {
        let term = PodAffinityTerm {
            label_selector: Some(selector(key, value)),
            namespaces: vec![],
            topology_key: topology_key.into(),
        };
        self.affinity()
            .pod_affinity
            .get_or_insert_with(PodAffinity::default)
            .required
            .push(term);
        self
    }

    pub fn pod_anti_affinity(mut self, topology_key: &str, key: &str, value: &str) -> Pod {
        let term = PodAffinityTerm {
            label_selector: Some(selector(key, value)),
            namespaces: vec![],
            topology_key: topology_key.into(),
        };
        self.affinity()
            .pod_anti_affinity
            .get_or_insert_with(PodAffinity::default)
            .required
            .push(term);
        self
    }

    pub fn host_port(mut self, port: i32) -> Pod {
        self.main_container().ports.push(ContainerPort {
            container_port: port,
            host_port: Some(port),
            protocol: None,
            host_ip: None,
        });
        self
    }
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    [
        (labels::RESOURCE_CPU.to_string(), Quantity::new(cpu)),
        (labels::RESOURCE_MEMORY.to_string(), Quantity::new(memory)),
    ]
    .into()
}

impl InstanceType {
    /// An amd64 linux type named like `m5.large`, family and size taken from the name.
    pub fn named(name: &str, vcpus: u32, memory_mib: u64) -> InstanceType {
        let (family, size) = name.split_once('.').unwrap_or((name, ""));
        let category: String = family
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let generation = family
            .chars()
            .skip_while(|c| c.is_ascii_alphabetic())
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        InstanceType {
            name: name.into(),
            arch: labels::ARCH_AMD64.into(),
            os: labels::OS_LINUX.into(),
            vcpus,
            memory_mib,
            gpus: 0,
            max_pods: 110,
            ephemeral_storage_gib: 20,
            family: family.into(),
            category,
            generation,
            size: size.into(),
            offerings: vec![],
        }
    }

    pub fn arch(mut self, arch: &str) -> InstanceType {
        self.arch = arch.into();
        self
    }

    pub fn gpus(mut self, n: u32) -> InstanceType {
        self.gpus = n;
        self
    }

    pub fn max_pods(mut self, n: u32) -> InstanceType {
        self.max_pods = n;
        self
    }

    pub fn offer(mut self, zone: &str, capacity_type: &str, price: f64) -> InstanceType {
        self.offerings.push(Offering {
            zone: zone.into(),
            capacity_type: capacity_type.into(),
            price,
            available: true,
        });
        self
    }

    /// Spot at `spot` and on-demand at `on_demand` in every zone given.
    pub fn offered_in(mut self, zones: &[&str], spot: f64, on_demand: f64) -> InstanceType {
        for z in zones {
            self = self.offer(z, labels::CAPACITY_TYPE_SPOT, spot).offer(
                z,
                labels::CAPACITY_TYPE_ON_DEMAND,
                on_demand,
            );
        }
        self
    }

    pub fn unavailable(mut self, zone: &str, capacity_type: &str) -> InstanceType {
        for o in &mut self.offerings {
            if o.zone == zone && o.capacity_type == capacity_type {
                o.available = false;
            }
        }
        self
    }
}

impl ExistingNode {
    pub fn named(name: &str, zone: &str, cpu: &str, memory: &str) -> ExistingNode {
        ExistingNode {
            name: name.into(),
            labels: [
                (labels::ZONE.to_string(), zone.to_string()),
                (labels::HOSTNAME.to_string(), name.to_string()),
            ]
            .into(),
            taints: vec![],
            allocatable: [
                (labels::RESOURCE_CPU.to_string(), Quantity::new(cpu)),
                (labels::RESOURCE_MEMORY.to_string(), Quantity::new(memory)),
                (labels::RESOURCE_PODS.to_string(), Quantity::new("110")),
            ]
            .into(),
            pods: vec![],
            in_flight: false,
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> ExistingNode {
        self.labels.insert(key.into(), value.into());
        self
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> ExistingNode {
        self.taints.push(Taint::new(key, Some(value), effect));
        self
    }

    pub fn running(mut self, pod: Pod) -> ExistingNode {
        self.pods.push(pod);
        self
    }

    pub fn in_flight(mut self) -> ExistingNode {
        self.in_flight = true;
        self
    }
}
