//! Topology bookkeeping: which pods count for which spread / (anti-)affinity term, per zone and per
//! node, and which zones a pod may still go to.
//!
//! A group is one (topology key, namespaces, label selector) triple. For every group we count the
//! placed pods the selector matches ("members") and the placed pods that own an anti-affinity term
//! of that group ("owners", for the symmetric half of anti-affinity) per zone; per node the same
//! counts live on the node itself.

use super::pod::{LabelSelector, Pod};
use crate::api::labels;
use std::collections::{BTreeSet, HashMap};

pub type GroupId = usize;
/// A pod's own constraints and the anti-affinity groups it owns, by domain.
pub type OwnConstraints = (Vec<(Domain, Constraint)>, Vec<(Domain, GroupId)>);
pub type ZoneMask = u64;
pub const ALL_ZONES: ZoneMask = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    Zone,
    Hostname,
}

impl Domain {
    pub fn from_key(key: &str) -> Option<Domain> {
        match key {
            labels::ZONE => Some(Domain::Zone),
            labels::HOSTNAME => Some(Domain::Hostname),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GroupKey {
    domain: Domain,
    namespaces: BTreeSet<String>,
    selector: LabelSelector,
}

/// A pod's hard topology constraint, resolved to its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    Spread {
        group: GroupId,
        max_skew: u32,
    },
    Affinity {
        group: GroupId,
        matches_itself: bool,
    },
    AntiAffinity {
        group: GroupId,
    },
}

impl Constraint {
    pub fn group(&self) -> GroupId {
        match *self {
            Constraint::Spread { group, .. }
            | Constraint::Affinity { group, .. }
            | Constraint::AntiAffinity { group } => group,
        }
    }
}

/// Per-node counts for hostname groups: (group, members, owners), few entries per node.
#[derive(Clone, Debug, Default)]
pub struct HostCounts(Vec<(GroupId, u32, u32)>);

impl HostCounts {
    pub fn members(&self, g: GroupId) -> u32 {
        self.0.iter().find(|e| e.0 == g).map_or(0, |e| e.1)
    }

    pub fn owners(&self, g: GroupId) -> u32 {
        self.0.iter().find(|e| e.0 == g).map_or(0, |e| e.2)
    }

    fn bump(&mut self, g: GroupId, member: u32, owner: u32) {
        match self.0.iter_mut().find(|e| e.0 == g) {
            Some(e) => {
                e.1 += member;
                e.2 += owner;
            }
            None => self.0.push((g, member, owner)),
        }
    }
}

/// How one pod relates to the groups: what it must satisfy and what it counts towards.
#[derive(Clone, Debug, Default)]
pub struct PodTopology {
    pub zone_constraints: Vec<Constraint>,
    pub host_constraints: Vec<Constraint>,
    pub zone_member_of: Vec<GroupId>,
    pub host_member_of: Vec<GroupId>,
    pub zone_owner_of: Vec<GroupId>,
    pub host_owner_of: Vec<GroupId>,
    /// Anti-affinity groups whose selector matches this pod: their owners repel it.
    pub zone_repelled_by: Vec<GroupId>,
    pub host_repelled_by: Vec<GroupId>,
}

impl PodTopology {
    /// Whether the pod's zone must be known exactly when it is placed.
    pub fn zone_sensitive(&self) -> bool {
        !(self.zone_constraints.is_empty()
            && self.zone_member_of.is_empty()
            && self.zone_owner_of.is_empty()
            && self.zone_repelled_by.is_empty())
    }
}

#[derive(Default)]
pub struct Groups {
    keys: Vec<GroupKey>,
    index: HashMap<GroupKey, GroupId>,
    zone_members: Vec<Vec<u32>>,
    zone_owners: Vec<Vec<u32>>,
    total_members: Vec<u32>,
    anti: Vec<bool>,
    by_label: HashMap<String, HashMap<String, Vec<GroupId>>>,
    unindexed: Vec<GroupId>,
    zone_count: usize,
}

impl Groups {
    pub fn new(zone_count: usize) -> Self {
        Groups {
            zone_count,
            ..Groups::default()
        }
    }

    fn intern(
        &mut self,
        domain: Domain,
        namespaces: BTreeSet<String>,
        selector: LabelSelector,
        anti: bool,
    ) -> GroupId {
        let key = GroupKey {
            domain,
            namespaces,
            selector,
        };
        if let Some(&g) = self.index.get(&key) {
            self.anti[g] |= anti;
            return g;
        }
        self.anti.push(anti);
        let g = self.keys.len();
        // Index by one required label so that matching a pod looks only at groups that can
        // select it; selectors without matchLabels are checked for every pod.
        match key.selector.match_labels.iter().next() {
            Some((k, v)) => self
                .by_label
                .entry(k.clone())
                .or_default()
                .entry(v.clone())
                .or_default()
                .push(g),
            None => self.unindexed.push(g),
        }
        self.keys.push(key.clone());
        self.index.insert(key, g);
        self.zone_members.push(vec![0; self.zone_count]);
        self.zone_owners.push(vec![0; self.zone_count]);
        self.total_members.push(0);
        g
    }

    /// Registers the groups a pod's own constraints name. Topology keys other than zone and
    /// hostname are ignored, and so are ScheduleAnyway spreads (they are preferences).
    pub fn constraints_of(&mut self, pod: &Pod) -> OwnConstraints {
        let own_ns = || BTreeSet::from([pod.namespace().to_string()]);
        let mut constraints = Vec::new();
        let mut owned = Vec::new();
        for c in &pod.spec.topology_spread_constraints {
            if c.when_unsatisfiable != "DoNotSchedule" {
                continue;
            }
            let (Some(domain), Some(sel)) = (Domain::from_key(&c.topology_key), &c.label_selector)
            else {
                continue;
            };
            let group = self.intern(domain, own_ns(), sel.clone(), false);
            let max_skew = c.max_skew.max(1) as u32;
            constraints.push((domain, Constraint::Spread { group, max_skew }));
        }
        if let Some(aff) = &pod.spec.affinity {
            let term_ns = |t: &super::pod::PodAffinityTerm| {
                if t.namespaces.is_empty() {
                    own_ns()
                } else {
                    t.namespaces.iter().cloned().collect()
                }
            };
            for t in aff.pod_affinity.iter().flat_map(|a| &a.required) {
                let (Some(domain), Some(sel)) =
                    (Domain::from_key(&t.topology_key), &t.label_selector)
                else {
                    continue;
                };
                let ns = term_ns(t);
                let matches_itself =
                    ns.contains(pod.namespace()) && sel.matches(&pod.metadata.labels);
                let group = self.intern(domain, ns, sel.clone(), false);
                constraints.push((
                    domain,
                    Constraint::Affinity {
                        group,
                        matches_itself,
                    },
                ));
            }
            for t in aff.pod_anti_affinity.iter().flat_map(|a| &a.required) {
                let (Some(domain), Some(sel)) =
                    (Domain::from_key(&t.topology_key), &t.label_selector)
                else {
                    continue;
                };
                let group = self.intern(domain, term_ns(t), sel.clone(), true);
                constraints.push((domain, Constraint::AntiAffinity { group }));
                owned.push((domain, group));
            }
        }
        (constraints, owned)
    }

    /// Full relation of a pod to all groups; call after every pod's constraints are registered.
    pub fn topology_of(
        &self,
        pod: &Pod,
        constraints: &[(Domain, Constraint)],
        owned: &[(Domain, GroupId)],
    ) -> PodTopology {
        let mut t = PodTopology::default();
        for &(d, c) in constraints {
            match d {
                Domain::Zone => t.zone_constraints.push(c),
                Domain::Hostname => t.host_constraints.push(c),
            }
        }
        for &(d, g) in owned {
            match d {
                Domain::Zone => t.zone_owner_of.push(g),
                Domain::Hostname => t.host_owner_of.push(g),
            }
        }
        let mut candidates: Vec<GroupId> = self.unindexed.clone();
        for (k, v) in &pod.metadata.labels {
            if let Some(gs) = self.by_label.get(k).and_then(|m| m.get(v)) {
                candidates.extend(gs);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        for g in candidates {
            let key = &self.keys[g];
            if !(key.namespaces.contains(pod.namespace())
                && key.selector.matches(&pod.metadata.labels))
            {
                continue;
            }
            let is_anti = self.is_anti_group(g, constraints, owned);
            match key.domain {
                Domain::Zone => {
                    t.zone_member_of.push(g);
                    if is_anti {
                        t.zone_repelled_by.push(g);
                    }
                }
                Domain::Hostname => {
                    t.host_member_of.push(g);
                    if is_anti {
                        t.host_repelled_by.push(g);
                    }
                }
            }
        }
        t
    }

    fn is_anti_group(
        &self,
        g: GroupId,
        _c: &[(Domain, Constraint)],
        _o: &[(Domain, GroupId)],
    ) -> bool {
        self.anti[g]
    }

    /// Counts a placed pod in its zone (None: the node has no zone label) and on its node.
    pub fn record(&mut self, t: &PodTopology, zone: Option<usize>, host: &mut HostCounts) {
        for &g in &t.zone_member_of {
            self.total_members[g] += 1;
            if let Some(z) = zone {
                self.zone_members[g][z] += 1;
            }
        }
        if let Some(z) = zone {
            for &g in &t.zone_owner_of {
                self.zone_owners[g][z] += 1;
            }
        }
        for &g in &t.host_member_of {
            self.total_members[g] += 1;
            host.bump(g, 1, 0);
        }
        for &g in &t.host_owner_of {
            host.bump(g, 0, 1);
        }
    }

    /// Zones the pod may go to now, given every placement so far; `universe` is the set of zones
    /// the pod could reach at all (spread skew is measured over it).
    pub fn allowed_zones(&self, t: &PodTopology, universe: ZoneMask) -> Result<ZoneMask, String> {
        let mut allowed = ALL_ZONES;
        let zones = || (0..self.zone_count).filter(move |z| universe & (1 << z) != 0);
        for c in &t.zone_constraints {
            let counts = &self.zone_members[c.group()];
            match *c {
                Constraint::Spread { max_skew, .. } => {
                    let min = zones().map(|z| counts[z]).min().unwrap_or(0);
                    let mut ok = 0;
                    for z in zones() {
                        if counts[z] + 1 - min <= max_skew {
                            ok |= 1 << z;
                        }
                    }
                    allowed &= ok;
                }
                Constraint::Affinity {
                    group,
                    matches_itself,
                } => {
                    if self.total_members[group] == 0 {
                        if !matches_itself {
                            return Err("no pod matching its zone pod affinity exists yet".into());
                        }
                    } else {
                        allowed &= mask_where(counts, |n| n > 0);
                    }
                }
                Constraint::AntiAffinity { .. } => allowed &= mask_where(counts, |n| n == 0),
            }
        }
        for &g in &t.zone_repelled_by {
            allowed &= mask_where(&self.zone_owners[g], |n| n == 0);
        }
        if t.zone_constraints
            .iter()
            .any(|c| matches!(c, Constraint::Spread { .. }))
        {
            allowed &= universe;
        }
        if allowed == 0 {
            return Err("its zone topology spread and pod (anti-)affinity leave no zone".into());
        }
        Ok(allowed)
    }

    /// Whether the pod may join a node with these counts (a new node has all counts zero).
    /// Hostname spread assumes the emptiest node has zero matching pods: a new node can always
    /// be opened, and the rule is then never looser than the kube-scheduler's.
    pub fn host_allows(&self, t: &PodTopology, host: &HostCounts) -> bool {
        self.host_refusal(t, host).is_none()
    }

    pub fn host_refusal(&self, t: &PodTopology, host: &HostCounts) -> Option<&'static str> {
        for c in &t.host_constraints {
            match *c {
                Constraint::Spread { group, max_skew } => {
                    if host.members(group) + 1 > max_skew {
                        return Some("hostname topology spread");
                    }
                }
                Constraint::Affinity {
                    group,
                    matches_itself,
                } => {
                    let here = host.members(group) > 0;
                    let nowhere = self.total_members[group] == 0;
                    if !(here || (nowhere && matches_itself)) {
                        return Some("hostname pod affinity");
                    }
                }
                Constraint::AntiAffinity { group } => {
                    if host.members(group) > 0 {
                        return Some("hostname pod anti-affinity");
                    }
                }
            }
        }
        if t.host_repelled_by.iter().any(|&g| host.owners(g) > 0) {
            return Some("another pod's hostname anti-affinity");
        }
        None
    }

    /// Candidate zones in the order a pod should try them: emptiest first for its first spread.
    pub fn zone_preference(&self, t: &PodTopology, allowed: ZoneMask) -> Vec<usize> {
        let mut zones: Vec<usize> = (0..self.zone_count)
            .filter(|z| allowed & (1 << z) != 0)
            .collect();
        if let Some(Constraint::Spread { group, .. }) = t
            .zone_constraints
            .iter()
            .find(|c| matches!(c, Constraint::Spread { .. }))
        {
            let counts = &self.zone_members[*group];
            zones.sort_by_key(|&z| (counts[z], z));
        }
        zones
    }
}

fn mask_where(counts: &[u32], pred: impl Fn(u32) -> bool) -> ZoneMask {
    let mut m = 0;
    for (z, &n) in counts.iter().enumerate() {
        if pred(n) {
            m |= 1 << z;
        }
    }
    m
}
