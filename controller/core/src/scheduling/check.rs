//! An independent check of a plan against its input: every rule the solver must respect,
//! re-derived from the raw input (not from the solver's indexes). Property tests and the
//! benchmark run it on every plan they produce.

use super::input::{Plan, SchedulingInput};
use super::pod::{Pod, tolerates_all};
use super::prepare::{provisioner_requirements, required_alternatives};
use super::resources::Resources;
use crate::api::labels;
use std::collections::{BTreeMap, BTreeSet};

/// Where a placed pod ended up, for the topology checks.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    host: String,
    zone: Option<String>,
}

/// Returns every violated rule (empty: the plan is sound). Spread skew is checked over every
/// zone the pod can reach (existing nodes' zones, and every catalog zone when a provisioner admits
/// the pod), so inputs must not narrow zones per provisioner or pod for that check to apply.
pub fn verify(input: &SchedulingInput, plan: &Plan) -> Vec<String> {
    let mut errs = Vec::new();
    let mut seen = vec![0usize; input.pods.len()];
    let mut place: BTreeMap<usize, Place> = BTreeMap::new();
    let all = plan
        .existing
        .iter()
        .flat_map(|e| &e.pods)
        .chain(plan.new_nodes.iter().flat_map(|n| &n.pods))
        .chain(plan.unschedulable.iter().map(|u| &u.pod));
    for &i in all {
        match seen.get_mut(i) {
            Some(c) => *c += 1,
            None => errs.push(format!("pod index {i} does not exist")),
        }
    }
    for (i, c) in seen.iter().enumerate() {
        if *c != 1 {
            errs.push(format!(
                "pod {} appears {c} times in the plan",
                input.pods[i].name()
            ));
        }
    }

    for e in &plan.existing {
        let Some(node) = input.nodes.iter().find(|n| n.name == e.node) else {
            errs.push(format!("existing node {} is not in the input", e.node));
            continue;
        };
        let known: BTreeMap<_, _> = node
            .allocatable
            .iter()
            .filter(|(k, _)| {
                [
                    labels::RESOURCE_CPU,
                    labels::RESOURCE_MEMORY,
                    labels::RESOURCE_PODS,
                ]
                .contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let alloc = Resources::from_quantities(&known).unwrap_or_default();
        let mut used = node
            .pods
            .iter()
            .map(|p| p.requests().unwrap_or_default())
            .fold(Resources::default(), |a, b| a + b);
        let mut ports: Vec<(i32, String)> = node.pods.iter().flat_map(Pod::host_ports).collect();
        for &i in &e.pods {
            let pod = &input.pods[i];
            used += pod.requests().unwrap_or_default();
            ports.extend(pod.host_ports());
            if tolerates_all(&pod.spec.tolerations, &node.taints).is_err() {
                errs.push(format!(
                    "pod {} does not tolerate node {}",
                    pod.name(),
                    node.name
                ));
            }
            let ok = required_alternatives(pod)
                .is_ok_and(|alts| alts.iter().any(|a| a.matches_labels(&node.labels)));
            if !ok {
                errs.push(format!(
                    "pod {} does not select node {}",
                    pod.name(),
                    node.name
                ));
            }
            place.insert(
                i,
                Place {
                    host: node.name.clone(),
                    zone: node.labels.get(labels::ZONE).cloned(),
                },
            );
        }
        if !(Resources {
            ephemeral_bytes: 0,
            gpus: 0,
            ..used
        })
        .fits_in(&alloc)
        {
            errs.push(format!(
                "node {} is overcommitted: {used} > {alloc}",
                node.name
            ));
        }
        check_ports(&mut errs, &node.name, ports);
    }

    let mut reserved: BTreeMap<&str, Resources> = BTreeMap::new();
    for (k, n) in plan.new_nodes.iter().enumerate() {
        let host = format!("new-{k}");
        let Some(prov) = input
            .provisioners
            .iter()
            .find(|p| p.name() == n.provisioner)
        else {
            errs.push(format!("{host}: unknown provisioner {}", n.provisioner));
            continue;
        };
        if n.instance_types.is_empty() || n.instance_types.len() > super::input::MAX_INSTANCE_TYPES
        {
            errs.push(format!("{host}: {} instance types", n.instance_types.len()));
        }
        if n.instance_types.windows(2).any(|w| w[0].price > w[1].price) {
            errs.push(format!("{host}: instance types not sorted by price"));
        }
        let Ok(prov_reqs) = provisioner_requirements(prov) else {
            errs.push(format!("{host}: provisioner {} is invalid", n.provisioner));
            continue;
        };
        if !prov_reqs.allows(labels::CAPACITY_TYPE, Some(&n.capacity_type)) {
            errs.push(format!(
                "{host}: capacity type {} not allowed by its provisioner",
                n.capacity_type
            ));
        }
        let pods_requests = n
            .pods
            .iter()
            .map(|&i| input.pods[i].requests().unwrap_or_default())
            .fold(Resources::default(), |a, b| a + b);
        if !pods_requests.fits_in(&n.requests) {
            errs.push(format!(
                "{host}: requests {} below its pods' {pods_requests}",
                n.requests
            ));
        }
        let mut max_capacity = Resources::default();
        let mut node_zones = BTreeSet::new();
        for opt in &n.instance_types {
            let Some(it) = input.instance_types.iter().find(|t| *t.name == *opt.name) else {
                errs.push(format!("{host}: unknown instance type {}", opt.name));
                continue;
            };
            max_capacity = max_capacity.max(&it.capacity());
            let alloc = crate::scheduling::kubelet::allocatable(
                it,
                prov.spec.kubelet_configuration.as_ref(),
            );
            if !n.requests.fits_in(&alloc) {
                errs.push(format!("{host}: {} cannot hold {}", it.name, n.requests));
            }
            if opt.zones.is_empty() {
                errs.push(format!("{host}: {} has no zone", it.name));
            }
            for z in &opt.zones {
                node_zones.insert(z.to_string());
                let offered = it
                    .offerings
                    .iter()
                    .any(|o| o.available && *o.zone == **z && o.capacity_type == n.capacity_type);
                if !offered {
                    errs.push(format!(
                        "{host}: {} not offered as {} in {z}",
                        it.name, n.capacity_type
                    ));
                }
                let mut node_labels: BTreeMap<String, String> = prov.spec.labels.clone();
                node_labels.insert(labels::PROVISIONER_NAME.into(), prov.name().into());
                node_labels.insert(labels::ZONE.into(), z.to_string());
                node_labels.insert(labels::CAPACITY_TYPE.into(), n.capacity_type.clone());
                for key in labels::INSTANCE_TYPE_KEYS {
                    if let Some(v) = it.label(key) {
                        node_labels.insert(key.into(), v);
                    }
                }
                if !prov_reqs.matches_labels(&node_labels) {
                    errs.push(format!(
                        "{host}: {} in {z} breaks its provisioner's requirements",
                        it.name
                    ));
                }
                for &i in &n.pods {
                    let pod = &input.pods[i];
                    let ok = required_alternatives(pod)
                        .is_ok_and(|alts| alts.iter().any(|a| a.matches_labels(&node_labels)));
                    if !ok {
                        errs.push(format!(
                            "{host}: pod {} does not select {} in {z}",
                            pod.name(),
                            it.name
                        ));
                    }
                }
            }
        }
        let r = reserved.entry(prov.name()).or_default();
        *r = Resources::new(
            r.cpu_millis + max_capacity.cpu_millis,
            r.memory_bytes + max_capacity.memory_bytes,
        );
        let zone = (node_zones.len() == 1)
            .then(|| node_zones.iter().next().cloned())
            .flatten();
        let mut ports = Vec::new();
        for &i in &n.pods {
            let pod = &input.pods[i];
            if tolerates_all(&pod.spec.tolerations, &prov.spec.taints).is_err() {
                errs.push(format!(
                    "{host}: pod {} does not tolerate provisioner {}",
                    pod.name(),
                    prov.name()
                ));
            }
            ports.extend(pod.host_ports());
            place.insert(
                i,
                Place {
                    host: host.clone(),
                    zone: zone.clone(),
                },
            );
        }
        check_ports(&mut errs, &host, ports);
    }
    for p in &input.provisioners {
        let Some(limits) = p.spec.limits.as_ref() else {
            continue;
        };
        let r = reserved.get(p.name()).copied().unwrap_or_default();
        let used = p
            .status
            .as_ref()
            .map(|s| s.resources.clone())
            .unwrap_or_default();
        let read = |m: &BTreeMap<String, crate::api::Quantity>, k: &str| {
            m.get(k).and_then(|q| q.millis().ok())
        };
        if let Some(cpu) = read(&limits.resources, labels::RESOURCE_CPU)
            && i128::from(r.cpu_millis) + read(&used, labels::RESOURCE_CPU).unwrap_or(0) > cpu
        {
            errs.push(format!(
                "provisioner {} cpu limit exceeded: {}m",
                p.name(),
                r.cpu_millis
            ));
        }
        if let Some(mem) = read(&limits.resources, labels::RESOURCE_MEMORY)
            && i128::from(r.memory_bytes) * 1000 + read(&used, labels::RESOURCE_MEMORY).unwrap_or(0)
                > mem
        {
            errs.push(format!("provisioner {} memory limit exceeded", p.name()));
        }
    }
    check_topology(&mut errs, input, &place);
    errs
}

fn check_ports(errs: &mut Vec<String>, host: &str, mut ports: Vec<(i32, String)>) {
    let n = ports.len();
    ports.sort();
    ports.dedup();
    if ports.len() != n {
        errs.push(format!("{host}: a host port is used twice"));
    }
}

fn same_ns(a: &Pod, b: &Pod, namespaces: &[String]) -> bool {
    if namespaces.is_empty() {
        a.namespace() == b.namespace()
    } else {
        namespaces.iter().any(|n| n == b.namespace())
    }
}

fn check_topology(errs: &mut Vec<String>, input: &SchedulingInput, place: &BTreeMap<usize, Place>) {
    let zones: BTreeSet<&str> = input
        .instance_types
        .iter()
        .flat_map(|t| t.offerings.iter().map(|o| o.zone.as_str()))
        .collect();
    let domain = |p: &Place, key: &str| -> Option<String> {
        match key {
            labels::ZONE => p.zone.clone(),
            labels::HOSTNAME => Some(p.host.clone()),
            _ => None,
        }
    };
    for (&i, at) in place {
        let pod = &input.pods[i];
        for c in &pod.spec.topology_spread_constraints {
            let Some(sel) = &c.label_selector else {
                continue;
            };
            if c.when_unsatisfiable != "DoNotSchedule" {
                continue;
            }
            let mut counts: BTreeMap<String, i64> = BTreeMap::new();
            if c.topology_key == labels::ZONE {
                // Domains are the zones the pod could reach: those of existing nodes, and the
                // catalog's when some provisioner admits it.
                let via_provisioner = input
                    .provisioners
                    .iter()
                    .any(|p| tolerates_all(&pod.spec.tolerations, &p.spec.taints).is_ok());
                for n in &input.nodes {
                    if let Some(z) = n.labels.get(labels::ZONE) {
                        counts.insert(z.clone(), 0);
                    }
                }
                if via_provisioner {
                    for z in &zones {
                        counts.insert(z.to_string(), 0);
                    }
                }
            }
            for (&j, other) in place {
                let q = &input.pods[j];
                if same_ns(pod, q, &[])
                    && sel.matches(&q.metadata.labels)
                    && let Some(d) = domain(other, &c.topology_key)
                {
                    *counts.entry(d).or_default() += 1;
                }
            }
            let Some(mine) = domain(at, &c.topology_key) else {
                errs.push(format!(
                    "pod {} spreads over {} but its node has none",
                    pod.name(),
                    c.topology_key
                ));
                continue;
            };
            let max = counts.values().max().copied().unwrap_or(0);
            let min = if c.topology_key == labels::HOSTNAME {
                0
            } else {
                counts.values().min().copied().unwrap_or(0)
            };
            if max - min > i64::from(c.max_skew) {
                errs.push(format!(
                    "pod {} ({mine}): {} skew {} > {}",
                    pod.name(),
                    c.topology_key,
                    max - min,
                    c.max_skew
                ));
            }
        }
        let Some(aff) = &pod.spec.affinity else {
            continue;
        };
        for t in aff.pod_anti_affinity.iter().flat_map(|a| &a.required) {
            let Some(sel) = &t.label_selector else {
                continue;
            };
            let Some(mine) = domain(at, &t.topology_key) else {
                continue;
            };
            for (&j, other) in place {
                let q = &input.pods[j];
                if j != i
                    && same_ns(pod, q, &t.namespaces)
                    && sel.matches(&q.metadata.labels)
                    && domain(other, &t.topology_key).as_ref() == Some(&mine)
                {
                    errs.push(format!(
                        "pods {} and {} share {} {mine} against anti-affinity",
                        pod.name(),
                        q.name(),
                        t.topology_key
                    ));
                }
            }
        }
        for t in aff.pod_affinity.iter().flat_map(|a| &a.required) {
            let Some(sel) = &t.label_selector else {
                continue;
            };
            let Some(mine) = domain(at, &t.topology_key) else {
                errs.push(format!(
                    "pod {} needs {} but its node has none",
                    pod.name(),
                    t.topology_key
                ));
                continue;
            };
            let peers: Vec<Option<String>> = place
                .iter()
                .filter(|(j, _)| {
                    same_ns(pod, &input.pods[**j], &t.namespaces)
                        && sel.matches(&input.pods[**j].metadata.labels)
                })
                .map(|(_, p)| domain(p, &t.topology_key))
                .collect();
            let with_me = peers.iter().filter(|d| d.as_ref() == Some(&mine)).count();
            let self_match = sel.matches(&pod.metadata.labels);
            // Satisfied by another matching pod in the domain, or by itself when it is the first.
            if with_me < 1 + usize::from(self_match) && !(self_match && peers.len() == 1) {
                errs.push(format!(
                    "pod {} has no affinity peer in {} {mine}",
                    pod.name(),
                    t.topology_key
                ));
            }
        }
    }
}
