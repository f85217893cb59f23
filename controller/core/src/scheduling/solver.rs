//! `solve(input) -> Plan`: first-fit-decreasing over existing nodes, then open claims (nodes to
//! launch), then a new claim from the heaviest provisioner that can take the pod.
//!
//! A claim keeps every instance type that still fits all its pods; each pod narrows the list.
//! When a claim is opened, the instance type with the lowest price per packed pod bounds how far
//! the claim may grow, so claims fill towards the best-value size rather than towards the largest
//! machine. Which pods will pack is a guess ([`Sizing`]); the plan is made once per guess and the
//! cheaper kept.

use super::input::{
    ExistingPlacement, InstanceTypeOption, MAX_INSTANCE_TYPES, NewNode, Plan, SchedulingInput,
    Unschedulable,
};
use super::pod::tolerates_all;
use super::prepare::{
    ON_DEMAND, Prepared, SPOT, SolveError, capacity_types, compatible, may_succeed_later, prepare,
    type_matches,
};
use super::requirements::{KeyRequirement, Requirements};
use super::resources::Resources;
use super::topology::{ALL_ZONES, Constraint, HostCounts, ZoneMask};
use crate::api::labels;
use std::collections::HashMap;

/// How often pods whose constraints later placements may unlock are retried.
const MAX_PASSES: usize = 8;

pub(crate) struct Claim {
    pub prov: usize,
    pub reqs: Requirements,
    pub zones: ZoneMask,
    pub ct: u8,
    pub on_demand_ok: bool,
    pub types: Vec<u32>,
    pub cap_max: Resources,
    pub reserve: Resources,
    /// Allocatable of the cheapest type still in the list: what the node costs today.
    pub cheapest: Resources,
    pub used: Resources,
    pub ports: Vec<(i32, String)>,
    pub host: HostCounts,
    pub pods: Vec<usize>,
}

impl Claim {
    fn zone(&self) -> Option<usize> {
        (self.zones.count_ones() == 1).then(|| self.zones.trailing_zeros() as usize)
    }
}

pub(crate) struct Solver<'a> {
    pub input: &'a SchedulingInput,
    pub p: Prepared,
    pub claims: Vec<Claim>,
    open: Vec<usize>,
    pub reserved: Vec<Resources>,
    pub failure: Vec<Option<String>>,
    remaining_sum: Resources,
    remaining_count: i64,
    smallest: Resources,
    /// Per (hostname group, member threshold): every claim below this id already holds that
    /// many members, so a pod that allows fewer need not look at them. Members only grow, so
    /// the cursor only moves forward.
    cursors: HashMap<(usize, u32), usize>,
    sizing: Sizing,
}

/// What a new claim's best-value size is estimated from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sizing {
    /// The average shape of every pod still waiting: right when the claim will fill with a mix.
    WaitingAverage,
    /// The shape of the pod that opens the claim: right when the pods after it in the
    /// (largest-first) order are like it, e.g. CPU-heavy pods that a memory-rich type would
    /// leave with memory nobody uses. A fraction of a pod counts, since smaller pods fill the rest.
    OpeningPod,
}

/// Places every pod of `input` or explains why it cannot be placed. Pure and deterministic.
/// Plans with each [`Sizing`] when any node is to be launched and keeps the one that places more
/// pods, then the cheaper.
pub fn solve(input: &SchedulingInput) -> Result<Plan, SolveError> {
    let first = solve_with(input, Sizing::WaitingAverage)?;
    if first.new_nodes.is_empty() {
        return Ok(first);
    }
    let second = solve_with(input, Sizing::OpeningPod)?;
    let key = |p: &Plan| (p.unschedulable.len(), p.cost_per_hour());
    let (a, b) = (key(&first), key(&second));
    Ok(if b.0 < a.0 || (b.0 == a.0 && b.1 < a.1) {
        second
    } else {
        first
    })
}

pub(crate) fn solve_with(input: &SchedulingInput, sizing: Sizing) -> Result<Plan, SolveError> {
    let p = prepare(input)?;
    let n = input.pods.len();
    let mut s = Solver {
        input,
        reserved: vec![Resources::default(); p.provs.len()],
        p,
        claims: Vec::new(),
        open: Vec::new(),
        failure: vec![None; n],
        remaining_sum: Resources::default(),
        remaining_count: 0,
        smallest: Resources::default(),
        cursors: HashMap::new(),
        sizing,
    };
    let mut order: Vec<usize> = (0..n).filter(|&i| s.p.pods[i].error.is_none()).collect();
    // Most constrained first: pods that need a node of their own (hostname anti-affinity or
    // spread) fix the node count, and the others then fill those nodes' spare room.
    let own_node = |i: usize| {
        s.p.pods[i]
            .topo
            .host_constraints
            .iter()
            .any(|c| !matches!(c, Constraint::Affinity { .. }))
    };
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&s.p.pods[a].requests, &s.p.pods[b].requests);
        own_node(b)
            .cmp(&own_node(a))
            .then(rb.cpu_millis.cmp(&ra.cpu_millis))
            .then(rb.memory_bytes.cmp(&ra.memory_bytes))
            .then(a.cmp(&b))
    });
    for &i in &order {
        s.remaining_sum += s.p.pods[i].requests;
    }
    s.remaining_count = order.len() as i64;
    s.smallest = order
        .iter()
        .fold(Resources::new(i64::MAX, i64::MAX), |m, &i| {
            let r = s.p.pods[i].requests;
            Resources::new(
                m.cpu_millis.min(r.cpu_millis),
                m.memory_bytes.min(r.memory_bytes),
            )
        });

    let mut failed_for_good = Vec::new();
    let mut queue = order;
    for pass in 0.. {
        let mut failed = Vec::new();
        let mut progress = false;
        for &i in &queue {
            if s.place(i) {
                progress = true;
                s.remaining_count -= 1;
                s.remaining_sum = s.remaining_sum - s.p.pods[i].requests;
            } else {
                failed.push(i);
            }
        }
        let (retry, done): (Vec<usize>, Vec<usize>) = failed
            .into_iter()
            .partition(|&i| may_succeed_later(&s.p.pods[i].topo));
        failed_for_good.extend(done);
        if !progress || retry.is_empty() || pass + 1 >= MAX_PASSES {
            failed_for_good.extend(retry);
            break;
        }
        queue = retry;
    }
    failed_for_good.extend((0..n).filter(|&i| s.p.pods[i].error.is_some()));
    failed_for_good.sort_unstable();
    let unschedulable = failed_for_good
        .into_iter()
        .map(|pod| Unschedulable {
            pod,
            reason: s.explain(pod),
        })
        .collect();
    Ok(s.plan(unschedulable))
}

fn ports_conflict(have: &[(i32, String)], want: &[(i32, String)]) -> bool {
    want.iter().any(|w| have.contains(w))
}

impl Solver<'_> {
    fn place(&mut self, pi: usize) -> bool {
        // A reason from an earlier pass no longer holds once other pods have moved.
        self.failure[pi] = None;
        let pod = &self.p.pods[pi];
        let zone_mask = if pod.zone_sensitive {
            match self.p.groups.allowed_zones(&pod.topo, pod.universe) {
                Ok(m) => m,
                Err(e) => {
                    self.failure[pi] = Some(e);
                    return false;
                }
            }
        } else {
            ALL_ZONES
        };
        let strict = !pod.strict.is_empty();
        let phases: &[bool] = if strict { &[true, false] } else { &[false] };
        for &use_strict in phases {
            for ni in 0..self.p.nodes.len() {
                if self.try_node(pi, ni, use_strict, zone_mask) {
                    return true;
                }
            }
        }
        // First a claim whose cheapest type still has room (the pod costs nothing extra there),
        // then any claim that can grow.
        let requests = self.p.pods[pi].requests;
        let first = self.first_claim(pi);
        for &use_strict in phases {
            if self.best_free_fit(pi, first, use_strict, zone_mask) {
                return true;
            }
        }
        for (&use_strict, free_only) in phases.iter().flat_map(|s| [(s, true), (s, false)]) {
            let mut k = self.open.partition_point(|&ci| ci < first);
            while k < self.open.len() {
                let ci = self.open[k];
                let c = &self.claims[ci];
                let free = (c.used + requests).fits_in(&c.cheapest);
                // The second sweep skips what the first one already tried.
                if free != free_only {
                    k += 1;
                    continue;
                }
                if self.try_claim(pi, ci, use_strict, zone_mask) {
                    if self.is_full(ci) {
                        self.open.remove(k);
                    }
                    return true;
                }
                k += 1;
            }
        }
        for &use_strict in phases {
            if self.open_claim(pi, use_strict, zone_mask) {
                return true;
            }
        }
        false
    }

    /// Best fit among claims whose cheapest type has room for the pod: the claim that the pod
    /// leaves with the least spare room, so that roomy claims stay open for larger pods.
    fn best_free_fit(
        &mut self,
        pi: usize,
        first: usize,
        strict: bool,
        zone_mask: ZoneMask,
    ) -> bool {
        const ATTEMPTS: usize = 4;
        let pod = &self.p.pods[pi];
        let (requests, zone_sensitive) = (pod.requests, pod.zone_sensitive);
        let start = self.open.partition_point(|&ci| ci < first);
        let mut tried: Vec<usize> = Vec::new();
        for _ in 0..ATTEMPTS {
            let mut best: Option<(i64, usize)> = None;
            for k in start..self.open.len() {
                let c = &self.claims[self.open[k]];
                let after = c.used + requests;
                if !after.fits_in(&c.cheapest)
                    || (zone_sensitive && c.zones & zone_mask == 0)
                    || tried.contains(&k)
                {
                    continue;
                }
                let left = c.cheapest - after;
                // One millicore weighs as much as 4 MiB: a 1:4 vCPU:GiB shape.
                let score = left.cpu_millis + (left.memory_bytes >> 22);
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, k));
                }
            }
            let Some((_, k)) = best else { return false };
            let ci = self.open[k];
            if self.try_claim(pi, ci, strict, zone_mask) {
                if self.is_full(ci) {
                    self.open.remove(k);
                }
                return true;
            }
            tried.push(k);
        }
        false
    }

    /// The lowest claim id a pod with hostname anti-affinity or spread could join.
    fn first_claim(&mut self, pi: usize) -> usize {
        let mut first = 0;
        for c in &self.p.pods[pi].topo.host_constraints {
            let (group, threshold) = match *c {
                Constraint::AntiAffinity { group } => (group, 1),
                Constraint::Spread { group, max_skew } => (group, max_skew),
                Constraint::Affinity { .. } => continue,
            };
            let cursor = self.cursors.entry((group, threshold)).or_insert(0);
            while *cursor < self.claims.len()
                && self.claims[*cursor].host.members(group) >= threshold
            {
                *cursor += 1;
            }
            first = first.max(*cursor);
        }
        first
    }

    fn alternatives(&self, pi: usize, strict: bool) -> &[Requirements] {
        let pod = &self.p.pods[pi];
        if strict { &pod.strict } else { &pod.relaxed }
    }

    fn is_full(&self, ci: usize) -> bool {
        let c = &self.claims[ci];
        let free = c.cap_max - c.used;
        !Resources {
            pods: 1,
            ..self.smallest
        }
        .fits_in(&Resources {
            ephemeral_bytes: i64::MAX,
            gpus: i64::MAX,
            ..free
        })
    }

    fn try_node(&mut self, pi: usize, ni: usize, strict: bool, zone_mask: ZoneMask) -> bool {
        let pod = &self.p.pods[pi];
        let node = &self.p.nodes[ni];
        let spec = &self.input.nodes[node.input];
        if !(node.used + pod.requests).fits_in(&node.alloc)
            || ports_conflict(&node.ports, &pod.ports)
            || !self.p.groups.host_allows(&pod.topo, &node.host)
        {
            return false;
        }
        if pod.zone_sensitive && node.zone.is_none_or(|z| zone_mask & (1 << z) == 0) {
            return false;
        }
        if tolerates_all(&self.input.pods[pi].spec.tolerations, &spec.taints).is_err()
            || !self
                .alternatives(pi, strict)
                .iter()
                .any(|a| a.matches_labels(&spec.labels))
        {
            return false;
        }
        let (requests, ports) = (pod.requests, pod.ports.clone());
        let node = &mut self.p.nodes[ni];
        node.used += requests;
        node.ports.extend(ports);
        node.pods.push(pi);
        self.p
            .groups
            .record(&self.p.pods[pi].topo, node.zone, &mut node.host);
        true
    }

    /// Types of `from` that satisfy `alt`, are offered in `zones` as `ct`, hold `need`, and
    /// (with limits) whose capacity stays within `room`.
    fn filter_types(
        &self,
        from: &[u32],
        alt: Option<&Requirements>,
        zones: ZoneMask,
        ct: u8,
        need: &Resources,
        room: Option<&Resources>,
    ) -> Vec<u32> {
        from.iter()
            .copied()
            .filter(|&t| {
                let info = &self.p.types[t as usize];
                need.fits_in(&info.alloc)
                    && info.zones(ct) & zones != 0
                    && room.is_none_or(|r| {
                        info.capacity.cpu_millis <= r.cpu_millis
                            && info.capacity.memory_bytes <= r.memory_bytes
                    })
                    && alt.is_none_or(|a| type_matches(&self.input.instance_types[info.source], a))
            })
            .collect()
    }

    fn try_claim(&mut self, pi: usize, ci: usize, strict: bool, zone_mask: ZoneMask) -> bool {
        match self.fit_claim(pi, ci, strict, zone_mask) {
            Some((reqs, zones, types)) => {
                self.commit(pi, ci, reqs, zones, types);
                true
            }
            None => false,
        }
    }

    /// The claim's requirements, zones and types if the pod joined it.
    fn fit_claim(
        &self,
        pi: usize,
        ci: usize,
        strict: bool,
        zone_mask: ZoneMask,
    ) -> Option<(Option<Requirements>, ZoneMask, Vec<u32>)> {
        let pod = &self.p.pods[pi];
        let claim = &self.claims[ci];
        let need = claim.used + pod.requests;
        if (pod.zone_sensitive && claim.zones & zone_mask == 0)
            || !need.fits_in(&claim.cap_max)
            || !pod.tolerates[claim.prov]
            || ports_conflict(&claim.ports, &pod.ports)
            || !self.p.groups.host_allows(&pod.topo, &claim.host)
        {
            return None;
        }
        for alt in self.alternatives(pi, strict) {
            if compatible(&claim.reqs, alt).is_err() {
                continue;
            }
            let (reqs, zones) = if alt.is_empty() {
                (None, claim.zones)
            } else {
                let r = claim.reqs.intersect(alt);
                let z = self.p.zones.allowed(&r) & claim.zones;
                (Some(r), z)
            };
            let alt_filter = (!alt.is_empty()).then_some(alt);
            if pod.zone_sensitive {
                let reachable = self.reachable(&claim.types, claim.ct) & zones & zone_mask;
                for z in self.p.groups.zone_preference(&pod.topo, reachable) {
                    let types =
                        self.filter_types(&claim.types, alt_filter, 1 << z, claim.ct, &need, None);
                    if !types.is_empty() {
                        if reqs.is_none() && claim.zones == 1 << z {
                            return Some((None, 1 << z, types));
                        }
                        let mut reqs = reqs.unwrap_or_else(|| claim.reqs.clone());
                        reqs.add(
                            labels::ZONE,
                            KeyRequirement::in_values([self.p.zones.names[z].clone()]),
                        );
                        return Some((Some(reqs), 1 << z, types));
                    }
                }
            } else {
                let types =
                    self.filter_types(&claim.types, alt_filter, zones, claim.ct, &need, None);
                if !types.is_empty() {
                    return Some((reqs, zones, types));
                }
            }
        }
        None
    }

    fn reachable(&self, types: &[u32], ct: u8) -> ZoneMask {
        types
            .iter()
            .fold(0, |m, &t| m | self.p.types[t as usize].zones(ct))
    }

    fn commit(
        &mut self,
        pi: usize,
        ci: usize,
        reqs: Option<Requirements>,
        zones: ZoneMask,
        types: Vec<u32>,
    ) {
        let pod = &self.p.pods[pi];
        let ct = self.claims[ci].ct;
        let (cap_max, reserve, cheapest) = self.envelope(&types, zones, ct);
        let claim = &mut self.claims[ci];
        self.reserved[claim.prov] = self.reserved[claim.prov] - claim.reserve + reserve;
        if let Some(reqs) = reqs {
            claim.reqs = reqs;
        }
        claim.zones = zones;
        claim.types = types;
        claim.cap_max = cap_max;
        claim.reserve = reserve;
        claim.cheapest = cheapest;
        claim.used += pod.requests;
        claim.ports.extend(pod.ports.iter().cloned());
        claim.pods.push(pi);
        let zone = claim.zone();
        self.p.groups.record(&pod.topo, zone, &mut claim.host);
    }

    /// Componentwise maximum allocatable (for quick rejection), maximum capacity (for limits)
    /// and the cheapest type's allocatable.
    fn envelope(
        &self,
        types: &[u32],
        zones: ZoneMask,
        ct: u8,
    ) -> (Resources, Resources, Resources) {
        let mut best = (f64::INFINITY, Resources::default());
        let mut alloc = Resources::default();
        let mut capacity = Resources::default();
        for &t in types {
            let info = &self.p.types[t as usize];
            let price = info.price(zones, ct);
            if price < best.0 {
                best = (price, info.alloc);
            }
            alloc = alloc.max(&info.alloc);
            capacity = capacity.max(&info.capacity);
        }
        (alloc, capacity, best.1)
    }

    fn room(&self, prov: usize) -> Option<Resources> {
        self.p.provs[prov].headroom.map(|h| h - self.reserved[prov])
    }

    fn open_claim(&mut self, pi: usize, strict: bool, zone_mask: ZoneMask) -> bool {
        if self
            .p
            .groups
            .host_refusal(&self.p.pods[pi].topo, &HostCounts::default())
            .is_some()
        {
            return false;
        }
        for prov_i in 0..self.p.provs.len() {
            if self.p.provs[prov_i].error.is_some() || !self.p.pods[pi].tolerates[prov_i] {
                continue;
            }
            for attempt in 0..2 {
                if attempt == 1 && !self.tighten(prov_i) {
                    break;
                }
                if let Some(claim) = self.new_claim(pi, prov_i, strict, zone_mask) {
                    let ci = self.claims.len();
                    self.reserved[prov_i] += claim.reserve;
                    self.claims.push(claim);
                    let pod = &self.p.pods[pi];
                    let zone = self.claims[ci].zone();
                    self.p
                        .groups
                        .record(&pod.topo, zone, &mut self.claims[ci].host);
                    if !self.is_full(ci) {
                        self.open.push(ci);
                    }
                    return true;
                }
                if self.p.provs[prov_i].headroom.is_none() {
                    break;
                }
            }
        }
        false
    }

    fn new_claim(
        &self,
        pi: usize,
        prov_i: usize,
        strict: bool,
        zone_mask: ZoneMask,
    ) -> Option<Claim> {
        let pod = &self.p.pods[pi];
        let prov = &self.p.provs[prov_i];
        let need = prov.overhead + pod.requests;
        let room = self.room(prov_i);
        for alt in self.alternatives(pi, strict) {
            if compatible(&prov.reqs, alt).is_err() {
                continue;
            }
            let mut reqs = prov.reqs.intersect(alt);
            if reqs.first_unsatisfiable_key().is_some() {
                continue;
            }
            let allowed_ct = capacity_types(&reqs) & prov.ct;
            let zones = self.p.zones.allowed(&reqs) & prov.zones & zone_mask;
            if allowed_ct == 0 || zones == 0 {
                continue;
            }
            let alt_filter = (!alt.is_empty()).then_some(alt);
            let base = self.filter_types(
                &prov.types,
                alt_filter,
                zones,
                allowed_ct,
                &need,
                room.as_ref(),
            );
            // Spot when allowed and offered: the pod did not insist on on-demand.
            let ct = if allowed_ct & SPOT != 0
                && base
                    .iter()
                    .any(|&t| self.p.types[t as usize].zones(SPOT) & zones != 0)
            {
                SPOT
            } else {
                ON_DEMAND
            };
            // Pinned in the claim's requirements so that a pod insisting on the other capacity
            // type cannot join it later.
            let pinned = if ct == SPOT {
                labels::CAPACITY_TYPE_SPOT
            } else {
                labels::CAPACITY_TYPE_ON_DEMAND
            };
            reqs.add(labels::CAPACITY_TYPE, KeyRequirement::in_values([pinned]));
            let base: Vec<u32> = base
                .into_iter()
                .filter(|&t| self.p.types[t as usize].zones(ct) & zones != 0)
                .collect();
            if base.is_empty() {
                continue;
            }
            let (types, zones) = if pod.zone_sensitive {
                let reachable = self.reachable(&base, ct) & zones;
                let picked = self
                    .p
                    .groups
                    .zone_preference(&pod.topo, reachable)
                    .into_iter()
                    .find_map(|z| {
                        let t: Vec<u32> = base
                            .iter()
                            .copied()
                            .filter(|&t| self.p.types[t as usize].zones(ct) & (1 << z) != 0)
                            .collect();
                        (!t.is_empty()).then_some((t, z))
                    });
                let Some((t, z)) = picked else { continue };
                reqs.add(
                    labels::ZONE,
                    KeyRequirement::in_values([self.p.zones.names[z].clone()]),
                );
                (t, 1 << z)
            } else {
                (base, zones)
            };
            let types = self.best_value_types(types, zones, ct, &prov.overhead, &pod.requests);
            let (cap_max, reserve, cheapest) = self.envelope(&types, zones, ct);
            return Some(Claim {
                prov: prov_i,
                on_demand_ok: allowed_ct & ON_DEMAND != 0,
                reqs,
                zones,
                ct,
                types,
                cap_max,
                reserve,
                cheapest,
                used: need,
                ports: pod.ports.clone(),
                host: HostCounts::default(),
                pods: vec![pi],
            });
        }
        None
    }

    /// Keeps the type with the lowest price per packed pod and every type no larger than it (so
    /// the launcher keeps a wide choice of spot pools while the claim stops growing there). Packed pods
    /// are estimated as how many pods of the [`Sizing`]'s shape fit next to the daemonset
    /// overhead, capped by how many pods are waiting.
    fn best_value_types(
        &self,
        types: Vec<u32>,
        zones: ZoneMask,
        ct: u8,
        overhead: &Resources,
        opening: &Resources,
    ) -> Vec<u32> {
        let count = self.remaining_count.max(1);
        let (shape_cpu, shape_mem, whole) = match self.sizing {
            Sizing::WaitingAverage => (
                self.remaining_sum.cpu_millis / count,
                self.remaining_sum.memory_bytes / count,
                true,
            ),
            Sizing::OpeningPod => (opening.cpu_millis, opening.memory_bytes, false),
        };
        let per = |free: i64, shape: i64| {
            if shape <= 0 {
                f64::MAX
            } else if whole {
                (free / shape) as f64
            } else {
                free as f64 / shape as f64
            }
        };
        let mut best: Option<(f64, f64, f64, u32)> = None;
        for &t in &types {
            let info = &self.p.types[t as usize];
            let free = info.alloc - *overhead;
            let packed = per(free.cpu_millis, shape_cpu)
                .min(per(free.memory_bytes, shape_mem))
                .min(free.pods as f64)
                .clamp(1.0, count as f64);
            let price = info.price(zones, ct);
            let score = price / packed;
            let better = match best {
                None => true,
                Some((s, n, p, _)) => {
                    score < s || (score == s && (packed > n || (packed == n && price < p)))
                }
            };
            if better {
                best = Some((score, packed, price, t));
            }
        }
        let Some((_, _, _, target)) = best else {
            return types;
        };
        let bound = self.p.types[target as usize].alloc;
        types
            .into_iter()
            .filter(|&t| {
                let a = &self.p.types[t as usize].alloc;
                a.cpu_millis <= bound.cpu_millis && a.memory_bytes <= bound.memory_bytes
            })
            .collect()
    }

    /// Limits bind: shrink every open claim of the provisioner to its cheapest fitting type's
    /// size so their reservations free room. Returns whether anything was freed.
    fn tighten(&mut self, prov: usize) -> bool {
        let mut freed = false;
        for ci in 0..self.claims.len() {
            if self.claims[ci].prov != prov {
                continue;
            }
            let c = &self.claims[ci];
            let Some(&cheapest) = c.types.iter().min_by(|&&a, &&b| {
                let (pa, pb) = (
                    self.p.types[a as usize].price(c.zones, c.ct),
                    self.p.types[b as usize].price(c.zones, c.ct),
                );
                pa.total_cmp(&pb).then(a.cmp(&b))
            }) else {
                continue;
            };
            let cap = self.p.types[cheapest as usize].capacity;
            let kept: Vec<u32> = c
                .types
                .iter()
                .copied()
                .filter(|&t| {
                    let tc = &self.p.types[t as usize].capacity;
                    tc.cpu_millis <= cap.cpu_millis && tc.memory_bytes <= cap.memory_bytes
                })
                .collect();
            if kept.len() == c.types.len() {
                continue;
            }
            let (cap_max, reserve, cheapest) = self.envelope(&kept, c.zones, c.ct);
            let c = &mut self.claims[ci];
            self.reserved[prov] = self.reserved[prov] - c.reserve + reserve;
            c.types = kept;
            c.cap_max = cap_max;
            c.reserve = reserve;
            c.cheapest = cheapest;
            freed = true;
        }
        freed
    }

    fn plan(self, unschedulable: Vec<Unschedulable>) -> Plan {
        let existing = self
            .p
            .nodes
            .iter()
            .filter(|n| !n.pods.is_empty())
            .map(|n| ExistingPlacement {
                node: self.input.nodes[n.input].name.clone(),
                pods: n.pods.clone(),
            })
            .collect();
        let new_nodes = self.claims.iter().map(|c| self.new_node(c)).collect();
        Plan {
            existing,
            new_nodes,
            unschedulable,
        }
    }

    /// While pods were still arriving, the best-value bound kept the claim from growing past
    /// one size, which can drop a cheaper type with more of one resource (m5.large next to a
    /// c5.xlarge bound). The pods are final now: every type that holds them and stays within
    /// the claim's reservation (so limits still hold) is a valid choice, and the cheapest wins.
    fn final_types(&self, c: &Claim) -> Vec<u32> {
        let prov = &self.p.provs[c.prov];
        let mut types = self.filter_types(
            &prov.types,
            Some(&c.reqs),
            c.zones,
            c.ct,
            &c.used,
            Some(&c.reserve),
        );
        types.extend(c.types.iter().copied());
        types.sort_unstable();
        types.dedup();
        types
    }

    fn new_node(&self, c: &Claim) -> NewNode {
        let prov = &self.p.provs[c.prov];
        let mut options: Vec<InstanceTypeOption> = self
            .final_types(c)
            .iter()
            .map(|&t| {
                let info = &self.p.types[t as usize];
                InstanceTypeOption {
                    name: info.name.clone(),
                    price: info.price(c.zones, c.ct),
                    zones: self.p.zones.shared_list(info.zones(c.ct) & c.zones),
                }
            })
            .collect();
        options.sort_by(|a, b| {
            a.price
                .total_cmp(&b.price)
                .then_with(|| a.name.cmp(&b.name))
        });
        options.truncate(MAX_INSTANCE_TYPES);
        let capacity_type = if c.ct == SPOT {
            labels::CAPACITY_TYPE_SPOT
        } else {
            labels::CAPACITY_TYPE_ON_DEMAND
        };
        NewNode {
            provisioner: prov.name.clone(),
            requirements: c.reqs.clone(),
            capacity_type: capacity_type.to_string(),
            on_demand_fallback: c.ct == SPOT && c.on_demand_ok,
            instance_types: options,
            pods: c.pods.clone(),
            requests: c.used,
            labels: prov.labels.clone(),
            taints: prov.taints.clone(),
            startup_taints: prov.startup_taints.clone(),
        }
    }
}
