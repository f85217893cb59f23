//! Turns a `SchedulingInput` into indexed, pre-parsed state the solver can check quickly: zones
//! as bit masks, instance types with per-zone prices, provisioners with their defaults, pods with
//! their requests, requirement alternatives and topology groups.

use super::input::SchedulingInput;
use super::instance_type::InstanceType;
use super::pod::{Pod, tolerates_all};
use super::requirements::{KeyRequirement, Requirements};
use super::resources::Resources;
use super::topology::{Constraint, Groups, HostCounts, PodTopology, ZoneMask};
use crate::api::{NodeSelectorRequirement, Provisioner, Quantity, Taint, labels};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const SPOT: u8 = 1;
pub const ON_DEMAND: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolveError {
    #[error("{0} zones are known; the scheduler handles at most 64")]
    TooManyZones(usize),
}

#[derive(Default)]
pub struct Zones {
    pub names: Vec<String>,
    shared: Vec<Arc<str>>,
    index: HashMap<String, usize>,
}

impl Zones {
    fn add(&mut self, name: &str) {
        if !self.index.contains_key(name) {
            self.index.insert(name.to_string(), self.names.len());
            self.names.push(name.to_string());
            self.shared.push(Arc::from(name));
        }
    }

    pub fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The known zones a requirement set allows.
    pub fn allowed(&self, reqs: &Requirements) -> ZoneMask {
        let mut m = 0;
        for (i, z) in self.names.iter().enumerate() {
            if reqs.allows(labels::ZONE, Some(z)) {
                m |= 1 << i;
            }
        }
        m
    }

    pub fn list(&self, mask: ZoneMask) -> Vec<String> {
        (0..self.names.len())
            .filter(|z| mask & (1 << z) != 0)
            .map(|z| self.names[z].clone())
            .collect()
    }

    pub fn shared_list(&self, mask: ZoneMask) -> Vec<Arc<str>> {
        (0..self.names.len())
            .filter(|z| mask & (1 << z) != 0)
            .map(|z| self.shared[z].clone())
            .collect()
    }
}

pub struct TypeInfo {
    pub name: Arc<str>,
    /// Index of the type in the input's instance types.
    pub source: usize,
    pub alloc: Resources,
    pub capacity: Resources,
    spot_zones: ZoneMask,
    on_demand_zones: ZoneMask,
    spot_price: Vec<f64>,
    on_demand_price: Vec<f64>,
}

impl TypeInfo {
    /// Zones with an available offering of the capacity types in `ct`.
    pub fn zones(&self, ct: u8) -> ZoneMask {
        let mut m = 0;
        if ct & SPOT != 0 {
            m |= self.spot_zones;
        }
        if ct & ON_DEMAND != 0 {
            m |= self.on_demand_zones;
        }
        m
    }

    /// Cheapest available price over `zones` for capacity types `ct`.
    pub fn price(&self, zones: ZoneMask, ct: u8) -> f64 {
        let mut best = f64::INFINITY;
        for (z, (&s, &o)) in self
            .spot_price
            .iter()
            .zip(&self.on_demand_price)
            .enumerate()
        {
            if zones & (1 << z) == 0 {
                continue;
            }
            if ct & SPOT != 0 {
                best = best.min(s);
            }
            if ct & ON_DEMAND != 0 {
                best = best.min(o);
            }
        }
        best
    }
}

/// Whether a type's own labels satisfy the instance-type keys of a requirement set.
pub fn type_matches(it: &InstanceType, reqs: &Requirements) -> bool {
    reqs.iter().all(|(k, r)| {
        k == labels::ZONE
            || k == labels::CAPACITY_TYPE
            || !labels::is_instance_type_key(k)
            || r.allows(it.label(k).as_deref())
    })
}

pub fn capacity_types(reqs: &Requirements) -> u8 {
    let mut m = 0;
    if reqs.allows(labels::CAPACITY_TYPE, Some(labels::CAPACITY_TYPE_SPOT)) {
        m |= SPOT;
    }
    if reqs.allows(labels::CAPACITY_TYPE, Some(labels::CAPACITY_TYPE_ON_DEMAND)) {
        m |= ON_DEMAND;
    }
    m
}

/// Whether pod requirements can hold on a node of a provisioner (or a claim) with `node` reqs.
/// A key the node side does not define can only be satisfied if the instance type supplies it
/// or the pod accepts the label being absent.
pub fn compatible(node: &Requirements, pod: &Requirements) -> Result<(), String> {
    node.compatible(pod).map_err(|c| {
        format!(
            "{} {} (pod) conflicts with {} (provisioner)",
            c.key, c.right, c.left
        )
    })?;
    for (k, r) in pod.iter() {
        if !node.contains_key(k) && !labels::is_instance_type_key(k) && !r.may_be_absent() {
            return Err(format!(
                "label {k:?} is not set on its nodes (add it to the provisioner's labels or requirements)"
            ));
        }
    }
    Ok(())
}

pub struct ProvInfo {
    pub name: String,
    pub reqs: Requirements,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    pub ct: u8,
    pub zones: ZoneMask,
    /// Types whose labels and offerings the provisioner allows.
    pub types: Vec<u32>,
    /// Input instance type index -> its entry in `Prepared::types` for this provisioner.
    pub type_index: Vec<u32>,
    pub overhead: Resources,
    /// cpu and memory headroom under the limits (other dimensions unlimited); None: no limits.
    pub headroom: Option<Resources>,
    pub error: Option<String>,
}

pub struct PodInfo {
    pub requests: Resources,
    pub error: Option<String>,
    /// Required alternatives (node affinity terms ORed) each intersected with the nodeSelector.
    pub relaxed: Vec<Requirements>,
    /// The same, also satisfying preferred node affinity, strongest preference first.
    pub strict: Vec<Requirements>,
    pub ports: Vec<(i32, String)>,
    pub topo: PodTopology,
    pub zone_sensitive: bool,
    /// Zones the pod could reach at all: spread skew is measured over these.
    pub universe: ZoneMask,
    /// Per provisioner: whether the pod tolerates its taints.
    pub tolerates: Vec<bool>,
}

pub struct NodeState {
    pub input: usize,
    pub zone: Option<usize>,
    pub alloc: Resources,
    pub used: Resources,
    pub ports: Vec<(i32, String)>,
    pub host: HostCounts,
    pub pods: Vec<usize>,
}

pub struct Prepared {
    pub zones: Zones,
    pub types: Vec<TypeInfo>,
    /// Sorted by weight, heaviest first, then by name.
    pub provs: Vec<ProvInfo>,
    pub pods: Vec<PodInfo>,
    pub nodes: Vec<NodeState>,
    pub groups: Groups,
}

const UNLIMITED: i64 = i64::MAX / 4;

pub fn prepare(input: &SchedulingInput) -> Result<Prepared, SolveError> {
    let mut zones = Zones::default();
    for it in &input.instance_types {
        for o in &it.offerings {
            zones.add(&o.zone);
        }
    }
    for n in &input.nodes {
        if let Some(z) = n.labels.get(labels::ZONE) {
            zones.add(z);
        }
    }
    let zc = zones.names.len();
    if zc > 64 {
        return Err(SolveError::TooManyZones(zc));
    }
    let mut types: Vec<TypeInfo> = input
        .instance_types
        .iter()
        .enumerate()
        .map(|(i, it)| type_info(it, &zones, it.allocatable(), i))
        .collect();

    let mut provs: Vec<(i32, ProvInfo)> = Vec::with_capacity(input.provisioners.len());
    for p in &input.provisioners {
        // A kubeletConfiguration changes what nodes hold: that provisioner gets its own copies.
        let type_index: Vec<u32> = match &p.spec.kubelet_configuration {
            None => (0..input.instance_types.len() as u32).collect(),
            Some(cfg) => {
                let start = types.len() as u32;
                for (i, it) in input.instance_types.iter().enumerate() {
                    let alloc = crate::scheduling::kubelet::allocatable(it, Some(cfg));
                    types.push(type_info(it, &zones, alloc, i));
                }
                (start..types.len() as u32).collect()
            }
        };
        let info = prov_info(p, input, &zones, &types, type_index);
        provs.push((p.spec.weight.unwrap_or(0), info));
    }
    provs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let provs: Vec<ProvInfo> = provs.into_iter().map(|(_, p)| p).collect();

    let mut groups = Groups::new(zc);
    let pending: Vec<_> = input
        .pods
        .iter()
        .map(|p| groups.constraints_of(p))
        .collect();
    let running: Vec<Vec<_>> = input
        .nodes
        .iter()
        .map(|n| n.pods.iter().map(|p| groups.constraints_of(p)).collect())
        .collect();

    let mut node_zones: ZoneMask = 0;
    let mut nodes = Vec::with_capacity(input.nodes.len());
    for (i, n) in input.nodes.iter().enumerate() {
        let zone = n.labels.get(labels::ZONE).and_then(|z| zones.get(z));
        if let Some(z) = zone {
            node_zones |= 1 << z;
        }
        let known: BTreeMap<_, _> = n
            .allocatable
            .iter()
            .filter(|(k, _)| SCHEDULED_RESOURCES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let alloc = Resources::from_quantities(&known).unwrap_or_default();
        let mut state = NodeState {
            input: i,
            zone,
            alloc,
            used: Resources::default(),
            ports: Vec::new(),
            host: HostCounts::default(),
            pods: Vec::new(),
        };
        for (p, (cons, owned)) in n.pods.iter().zip(&running[i]) {
            // A running pod with a request we cannot read still occupies its slot.
            state.used += p.requests().unwrap_or(Resources {
                pods: 1,
                ..Resources::default()
            });
            state.ports.extend(p.host_ports());
            let t = groups.topology_of(p, cons, owned);
            groups.record(&t, zone, &mut state.host);
        }
        nodes.push(state);
    }

    let pods = input
        .pods
        .iter()
        .zip(&pending)
        .map(|(p, (cons, owned))| {
            let topo = groups.topology_of(p, cons, owned);
            pod_info(p, topo, &provs, &zones, node_zones)
        })
        .collect();

    Ok(Prepared {
        zones,
        types,
        provs,
        pods,
        nodes,
        groups,
    })
}

const SCHEDULED_RESOURCES: [&str; 5] = [
    labels::RESOURCE_CPU,
    labels::RESOURCE_MEMORY,
    labels::RESOURCE_EPHEMERAL_STORAGE,
    labels::RESOURCE_PODS,
    labels::RESOURCE_NVIDIA_GPU,
];

fn type_info(it: &InstanceType, zones: &Zones, alloc: Resources, source: usize) -> TypeInfo {
    let n = zones.names.len();
    let mut t = TypeInfo {
        name: Arc::from(it.name.as_str()),
        source,
        alloc,
        capacity: it.capacity(),
        spot_zones: 0,
        on_demand_zones: 0,
        spot_price: vec![f64::INFINITY; n],
        on_demand_price: vec![f64::INFINITY; n],
    };
    for o in it
        .offerings
        .iter()
        .filter(|o| o.available && o.price.is_finite())
    {
        let Some(z) = zones.get(&o.zone) else {
            continue;
        };
        match o.capacity_type.as_str() {
            labels::CAPACITY_TYPE_SPOT => {
                t.spot_zones |= 1 << z;
                t.spot_price[z] = t.spot_price[z].min(o.price);
            }
            labels::CAPACITY_TYPE_ON_DEMAND => {
                t.on_demand_zones |= 1 << z;
                t.on_demand_price[z] = t.on_demand_price[z].min(o.price);
            }
            _ => {}
        }
    }
    t
}

/// A provisioner's effective requirements: its own, its labels, its name, and the anchor's
/// defaults for keys it leaves open (on-demand, amd64, linux).
pub fn provisioner_requirements(p: &Provisioner) -> Result<Requirements, String> {
    let mut reqs =
        Requirements::from_node_selector(&p.spec.requirements).map_err(|e| e.to_string())?;
    reqs = reqs.intersect(&Requirements::from_labels(&p.spec.labels));
    reqs.add(
        labels::PROVISIONER_NAME,
        KeyRequirement::in_values([p.name().to_string()]),
    );
    for (key, default) in [
        (labels::CAPACITY_TYPE, labels::CAPACITY_TYPE_ON_DEMAND),
        (labels::ARCH, labels::ARCH_AMD64),
        (labels::OS, labels::OS_LINUX),
    ] {
        if !reqs.contains_key(key) {
            reqs.add(key, KeyRequirement::in_values([default]));
        }
    }
    if let Some(k) = reqs.first_unsatisfiable_key() {
        return Err(format!("its requirements on {k:?} contradict each other"));
    }
    Ok(reqs)
}

fn prov_info(
    p: &Provisioner,
    input: &SchedulingInput,
    zones: &Zones,
    types: &[TypeInfo],
    type_index: Vec<u32>,
) -> ProvInfo {
    let mut info = ProvInfo {
        name: p.name().to_string(),
        reqs: Requirements::new(),
        labels: p.spec.labels.clone(),
        taints: p.spec.taints.clone(),
        startup_taints: p.spec.startup_taints.clone(),
        ct: 0,
        zones: 0,
        types: Vec::new(),
        type_index,
        overhead: Resources::default(),
        headroom: None,
        error: None,
    };
    info.labels
        .insert(labels::PROVISIONER_NAME.to_string(), info.name.clone());
    match provisioner_requirements(p) {
        Ok(r) => info.reqs = r,
        Err(e) => {
            info.error = Some(e);
            return info;
        }
    }
    info.ct = capacity_types(&info.reqs);
    info.zones = zones.allowed(&info.reqs);
    info.types = input
        .instance_types
        .iter()
        .zip(&info.type_index)
        .filter(|(it, t)| {
            types[**t as usize].zones(info.ct) & info.zones != 0 && type_matches(it, &info.reqs)
        })
        .map(|(_, t)| *t)
        .collect();
    for ds in &input.daemonsets {
        let tolerated = tolerates_all(&ds.spec.tolerations, &info.taints).is_ok();
        let fits = required_alternatives(ds)
            .is_ok_and(|alts| alts.iter().any(|a| compatible(&info.reqs, a).is_ok()));
        if tolerated && fits {
            info.overhead += ds.requests().unwrap_or_default();
        }
    }
    match headroom(p) {
        Ok(h) => info.headroom = h,
        Err(e) => info.error = Some(format!("its limits or status cannot be read: {e}")),
    }
    info
}

/// The pod's required node constraints as alternatives: nodeSelector AND (term1 OR term2 ...).
pub fn required_alternatives(p: &Pod) -> Result<Vec<Requirements>, String> {
    let base = Requirements::from_labels(&p.spec.node_selector);
    let terms: Vec<&Vec<NodeSelectorRequirement>> = p
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.required.as_ref())
        .map(|r| {
            r.node_selector_terms
                .iter()
                .map(|t| &t.match_expressions)
                .collect()
        })
        .unwrap_or_default();
    if terms.is_empty() {
        return Ok(vec![base]);
    }
    let mut out = Vec::new();
    let mut last_err = None;
    for t in terms {
        match Requirements::from_node_selector(t) {
            Ok(r) => out.push(base.intersect(&r)),
            Err(e) => last_err = Some(e.to_string()),
        }
    }
    match (out.is_empty(), last_err) {
        (true, Some(e)) => Err(format!("its node affinity is invalid: {e}")),
        _ => Ok(out),
    }
}

fn pod_info(
    p: &Pod,
    topo: PodTopology,
    provs: &[ProvInfo],
    zones: &Zones,
    node_zones: ZoneMask,
) -> PodInfo {
    let mut error = None;
    let requests = match p.requests() {
        Ok(r) => r,
        Err(e) => {
            error = Some(format!("its resource requests cannot be used: {e}"));
            Resources::default()
        }
    };
    let relaxed = match required_alternatives(p) {
        Ok(r) => r,
        Err(e) => {
            error = error.or(Some(e));
            Vec::new()
        }
    };
    let mut prefs: Vec<(i32, Requirements)> = p
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .map(|n| &n.preferred[..])
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            Requirements::from_node_selector(&t.preference.match_expressions)
                .ok()
                .map(|r| (t.weight, r))
        })
        .collect();
    prefs.sort_by_key(|p| std::cmp::Reverse(p.0));
    let strict = prefs
        .iter()
        .flat_map(|(_, pref)| relaxed.iter().map(move |alt| alt.intersect(pref)))
        .filter(|r| r.first_unsatisfiable_key().is_none())
        .collect();
    let tolerates: Vec<bool> = provs
        .iter()
        .map(|pr| tolerates_all(&p.spec.tolerations, &pr.taints).is_ok())
        .collect();
    let mut universe: ZoneMask = 0;
    for alt in &relaxed {
        let allowed = zones.allowed(alt);
        universe |= allowed & node_zones;
        for (pr, ok) in provs.iter().zip(&tolerates) {
            if *ok && pr.error.is_none() && compatible(&pr.reqs, alt).is_ok() {
                universe |= allowed & pr.zones;
            }
        }
    }
    let zone_sensitive = topo.zone_sensitive();
    PodInfo {
        requests,
        error,
        relaxed,
        strict,
        ports: p.host_ports(),
        topo,
        zone_sensitive,
        universe,
        tolerates,
    }
}

/// Whether a pod has constraints that later placements can unlock (affinity to pods placed
/// later, spread whose minimum rises): only those are worth another pass.
pub fn may_succeed_later(t: &PodTopology) -> bool {
    t.zone_constraints
        .iter()
        .chain(&t.host_constraints)
        .any(|c| matches!(c, Constraint::Affinity { .. } | Constraint::Spread { .. }))
}

/// cpu and memory left under the provisioner's limits, counting what its nodes already use.
fn headroom(p: &Provisioner) -> Result<Option<Resources>, String> {
    let Some(limits) = &p.spec.limits else {
        return Ok(None);
    };
    let clamp = |v: i128| i64::try_from(v).unwrap_or(UNLIMITED);
    let millis = |q: Option<&Quantity>| -> Result<Option<i64>, String> {
        q.map(|q| {
            q.non_negative_millis()
                .map(clamp)
                .map_err(|e| e.to_string())
        })
        .transpose()
    };
    let bytes = |q: Option<&Quantity>| -> Result<Option<i64>, String> {
        q.map(|q| {
            q.non_negative_millis()
                .and_then(|_| q.units_ceil())
                .map(clamp)
                .map_err(|e| e.to_string())
        })
        .transpose()
    };
    let empty = BTreeMap::new();
    let used = p.status.as_ref().map_or(&empty, |s| &s.resources);
    let cpu = millis(limits.resources.get(labels::RESOURCE_CPU))?.unwrap_or(UNLIMITED);
    let mem = bytes(limits.resources.get(labels::RESOURCE_MEMORY))?.unwrap_or(UNLIMITED);
    let used_cpu = millis(used.get(labels::RESOURCE_CPU))?.unwrap_or(0);
    let used_mem = bytes(used.get(labels::RESOURCE_MEMORY))?.unwrap_or(0);
    Ok(Some(Resources {
        cpu_millis: cpu.saturating_sub(used_cpu).max(0),
        memory_bytes: mem.saturating_sub(used_mem).max(0),
        ephemeral_bytes: UNLIMITED,
        pods: UNLIMITED,
        gpus: UNLIMITED,
    }))
}
