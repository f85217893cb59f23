//! Why a pod cannot be placed, in words for an event on the pod: per provisioner, which
//! requirement excluded which instance types, which taint is not tolerated, what is too small.

use super::pod::tolerates_all;
use super::prepare::{ON_DEMAND, SPOT, capacity_types, compatible, type_matches};
use super::requirements::Requirements;
use super::solver::Solver;
use super::topology::{ALL_ZONES, HostCounts};
use crate::api::labels;

const NAMES_SHOWN: usize = 3;

impl Solver<'_> {
    pub(crate) fn explain(&self, pi: usize) -> String {
        let pod = &self.p.pods[pi];
        if let Some(e) = &pod.error {
            return e.clone();
        }
        let mut parts = Vec::new();
        if let Some(f) = &self.failure[pi] {
            parts.push(f.clone());
        }
        if !self.input.nodes.is_empty() {
            parts.push(format!(
                "none of the {} existing nodes fits",
                self.input.nodes.len()
            ));
        }
        if let Some(r) = self
            .p
            .groups
            .host_refusal(&pod.topo, &HostCounts::default())
        {
            parts.push(format!("a new node is excluded by {r}"));
        }
        if self.p.provs.is_empty() {
            parts.push("no provisioner exists".to_string());
        }
        let zone_mask = if pod.zone_sensitive {
            self.p
                .groups
                .allowed_zones(&pod.topo, pod.universe)
                .unwrap_or(0)
        } else {
            ALL_ZONES
        };
        for (i, prov) in self.p.provs.iter().enumerate() {
            parts.push(format!(
                "provisioner {:?}: {}",
                prov.name,
                self.explain_provisioner(pi, i, zone_mask)
            ));
        }
        parts.join("; ")
    }

    fn explain_provisioner(&self, pi: usize, prov_i: usize, zone_mask: u64) -> String {
        let prov = &self.p.provs[prov_i];
        if let Some(e) = &prov.error {
            return e.clone();
        }
        if let Err(t) = tolerates_all(&self.input.pods[pi].spec.tolerations, &prov.taints) {
            return format!(
                "taint {}={}:{} is not tolerated",
                t.key,
                t.value.as_deref().unwrap_or(""),
                t.effect
            );
        }
        let alts = &self.p.pods[pi].relaxed;
        let per_alt: Vec<String> = alts
            .iter()
            .map(|alt| match compatible(&prov.reqs, alt) {
                Err(e) => self.name_pod_source(pi, &prov.reqs, alt, e),
                Ok(()) => self.explain_types(pi, prov_i, alt, zone_mask),
            })
            .collect();
        if per_alt.len() == 1 {
            per_alt.into_iter().next().unwrap_or_default()
        } else {
            per_alt
                .iter()
                .enumerate()
                .map(|(i, s)| format!("node affinity term {i}: {s}"))
                .collect::<Vec<_>>()
                .join(" | ")
        }
    }

    /// Says whether the conflicting pod requirement came from its nodeSelector or its node
    /// affinity (the solver only knows their intersection).
    fn name_pod_source(
        &self,
        pi: usize,
        node: &Requirements,
        alt: &Requirements,
        message: String,
    ) -> String {
        let key = match node.compatible(alt) {
            Err(c) => c.key,
            Ok(()) => return message,
        };
        let source = if self.input.pods[pi].spec.node_selector.contains_key(&key) {
            "(pod nodeSelector)"
        } else {
            "(pod node affinity)"
        };
        message.replacen("(pod)", source, 1).replacen(
            "(provisioner)",
            "(provisioner requirements)",
            1,
        )
    }

    fn explain_types(
        &self,
        pi: usize,
        prov_i: usize,
        alt: &Requirements,
        zone_mask: u64,
    ) -> String {
        let prov = &self.p.provs[prov_i];
        let pod = &self.p.pods[pi];
        let all = &self.input.instance_types;
        let mut parts = Vec::new();
        let mut excluded = vec![false; all.len()];
        let node_selector = &self.input.pods[pi].spec.node_selector;
        for (from_pod, reqs) in [(false, &prov.reqs), (true, alt)] {
            for (key, r) in reqs.iter() {
                let source = match (from_pod, node_selector.contains_key(key)) {
                    (false, _) => "provisioner requirements",
                    (true, true) => "pod nodeSelector",
                    (true, false) => "pod node affinity",
                };
                if key == labels::ZONE
                    || key == labels::CAPACITY_TYPE
                    || !labels::is_instance_type_key(key)
                {
                    continue;
                }
                let mut single = Requirements::new();
                single.add(key, r.clone());
                let out: Vec<usize> = (0..all.len())
                    .filter(|&t| !type_matches(&all[t], &single))
                    .collect();
                if out.is_empty() {
                    continue;
                }
                for &t in &out {
                    excluded[t] = true;
                }
                parts.push(format!(
                    "{key} {r} ({source}) excludes {}",
                    self.some_names(&out)
                ));
            }
        }
        let reqs = prov.reqs.intersect(alt);
        let ct = capacity_types(&reqs) & prov.ct;
        let zones = self.p.zones.allowed(&reqs) & prov.zones & zone_mask;
        if zone_mask != ALL_ZONES {
            parts.push(format!(
                "its topology constraints allow zones [{}] only",
                self.p
                    .zones
                    .list(zone_mask & pod.universe.max(zone_mask))
                    .join(", ")
            ));
        }
        let no_offering: Vec<usize> = (0..all.len())
            .filter(|&t| !excluded[t] && self.p.types[t].zones(ct) & zones == 0)
            .collect();
        if !no_offering.is_empty() {
            for &t in &no_offering {
                excluded[t] = true;
            }
            let cts: Vec<&str> = [
                (SPOT, labels::CAPACITY_TYPE_SPOT),
                (ON_DEMAND, labels::CAPACITY_TYPE_ON_DEMAND),
            ]
            .iter()
            .filter(|(b, _)| ct & b != 0)
            .map(|(_, n)| *n)
            .collect();
            parts.push(format!(
                "no available {} offering in zones [{}] for {}",
                cts.join("/"),
                self.p.zones.list(zones).join(", "),
                self.some_names(&no_offering)
            ));
        }
        let need = prov.overhead + pod.requests;
        let small: Vec<usize> = (0..all.len())
            .filter(|&t| {
                !excluded[t] && !need.fits_in(&self.p.types[prov.type_index[t] as usize].alloc)
            })
            .collect();
        if !small.is_empty() {
            for &t in &small {
                excluded[t] = true;
            }
            parts.push(format!(
                "{} too small for {} (pod {} + daemonsets {})",
                self.some_names(&small),
                need,
                pod.requests,
                prov.overhead
            ));
        }
        if let Some(h) = prov.headroom {
            let room = h - self.reserved[prov_i];
            let over: Vec<usize> = (0..all.len())
                .filter(|&t| {
                    let c = &self.p.types[t].capacity;
                    !excluded[t]
                        && (c.cpu_millis > room.cpu_millis || c.memory_bytes > room.memory_bytes)
                })
                .collect();
            if !over.is_empty() {
                for &t in &over {
                    excluded[t] = true;
                }
                parts.push(format!(
                    "limits leave {room} so {} would exceed them",
                    self.some_names(&over)
                ));
            }
        }
        let left = excluded.iter().filter(|e| !**e).count();
        if left > 0 && parts.is_empty() {
            parts.push(format!("{left} instance types would fit, but its topology or host ports rule out every node"));
        } else if left == 0 && parts.is_empty() {
            parts.push("no instance types are known".to_string());
        }
        parts.join(", ")
    }

    fn some_names(&self, idx: &[usize]) -> String {
        let names: Vec<&str> = idx
            .iter()
            .take(NAMES_SHOWN)
            .map(|&t| self.input.instance_types[t].name.as_str())
            .collect();
        let more = idx.len().saturating_sub(NAMES_SHOWN);
        let noun = if idx.len() == 1 {
            "instance type"
        } else {
            "instance types"
        };
        if more > 0 {
            format!(
                "{} {noun} ({}, and {more} more)",
                idx.len(),
                names.join(", ")
            )
        } else {
            format!("{} {noun} ({})", idx.len(), names.join(", "))
        }
    }
}
