//! The instance catalog: every instance type the region offers, with its offerings and prices.
//! Pure data and pure derivations (name parsing, max pods, price estimates); the AWS adapter fills it.

use super::types::{Arch, CapacityType, Pool};
use std::collections::HashMap;
use std::time::SystemTime;

/// One (zone, capacity type) where an instance type can be launched, at `price` $/h.
#[derive(Clone, Debug, PartialEq)]
pub struct Offering {
    pub zone: String,
    pub capacity_type: CapacityType,
    pub price: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InstanceTypeInfo {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub arch: Arch,
    pub gpus: u32,
    /// Pods the node can run with the VPC CNI in its default (secondary IP) mode.
    pub max_pods: u32,
    /// "m5ad" for m5ad.large.
    pub family: String,
    /// Leading letters of the family: "m" for m5ad, "inf" for inf2, "u" for u-6tb1.
    pub category: String,
    /// First number in the family (5 for m5ad); 0 when the family has none.
    pub generation: u32,
    /// "large" for m5ad.large.
    pub size: String,
    pub burstable: bool,
    pub current_generation: bool,
    pub bare_metal: bool,
    pub offerings: Vec<Offering>,
}

impl InstanceTypeInfo {
    pub fn offering(&self, zone: &str, capacity_type: CapacityType) -> Option<&Offering> {
        self.offerings
            .iter()
            .find(|o| o.zone == zone && o.capacity_type == capacity_type)
    }

    pub fn pools(&self) -> impl Iterator<Item = Pool> + '_ {
        self.offerings
            .iter()
            .map(|o| Pool::new(&self.name, &o.zone, o.capacity_type))
    }
}

/// Where the prices of a catalog came from. An estimate means the API did not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceSource {
    Api,
    Estimate,
}

#[derive(Clone, Debug)]
pub struct Catalog {
    pub region: String,
    pub fetched_at: SystemTime,
    pub on_demand_prices: PriceSource,
    pub spot_prices: PriceSource,
    types: Vec<InstanceTypeInfo>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    pub fn new(
        region: impl Into<String>,
        fetched_at: SystemTime,
        on_demand_prices: PriceSource,
        spot_prices: PriceSource,
        mut types: Vec<InstanceTypeInfo>,
    ) -> Self {
        types.sort_by(|a, b| a.name.cmp(&b.name));
        let by_name = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Catalog {
            region: region.into(),
            fetched_at,
            on_demand_prices,
            spot_prices,
            types,
            by_name,
        }
    }

    /// Sorted by name.
    pub fn types(&self) -> &[InstanceTypeInfo] {
        &self.types
    }

    pub fn get(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.by_name.get(name).map(|&i| &self.types[i])
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// Family, category, generation and size of an instance type name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameParts {
    pub family: String,
    pub category: String,
    pub generation: u32,
    pub size: String,
}

pub fn parse_name(name: &str) -> NameParts {
    let (family, size) = name.split_once('.').unwrap_or((name, ""));
    let category: String = family
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    let generation = family
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    NameParts {
        family: family.to_string(),
        category,
        generation,
        size: size.to_string(),
    }
}

/// The EKS AMI's ENI-based limit: each ENI keeps its primary address for itself, and host-network
/// pods (aws-node, kube-proxy) need no address, hence `enis * (ips_per_eni - 1) + 2`.
pub fn eni_max_pods(max_enis: u32, ipv4_per_eni: u32) -> u32 {
    max_enis
        .saturating_mul(ipv4_per_eni.saturating_sub(1))
        .saturating_add(2)
}

/// Used when EC2 reports no network limits for a type: the kubelet's own default.
pub const DEFAULT_MAX_PODS: u32 = 110;

/// $/h for one vCPU, one GiB and one GPU, used only when the Pricing API cannot answer. Rough
/// us-east-1 general-purpose figures: good enough to order types, and flagged as an estimate.
const ESTIMATE_PER_VCPU: f64 = 0.034;
const ESTIMATE_PER_GIB: f64 = 0.0045;
const ESTIMATE_PER_GPU: f64 = 0.55;
/// An on-demand $/h from the shape alone.
pub fn estimate_on_demand_price(vcpus: u32, memory_mib: u64, gpus: u32) -> f64 {
    let gib = memory_mib as f64 / 1024.0;
    let raw = f64::from(vcpus) * ESTIMATE_PER_VCPU
        + gib * ESTIMATE_PER_GIB
        + f64::from(gpus) * ESTIMATE_PER_GPU;
    (raw * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_family_category_generation_and_size() {
        let p = parse_name("m5ad.large");
        assert_eq!(
            (
                p.family.as_str(),
                p.category.as_str(),
                p.generation,
                p.size.as_str()
            ),
            ("m5ad", "m", 5, "large")
        );
        let p = parse_name("inf2.xlarge");
        assert_eq!((p.category.as_str(), p.generation), ("inf", 2));
        let p = parse_name("u-6tb1.metal");
        assert_eq!(
            (
                p.family.as_str(),
                p.category.as_str(),
                p.generation,
                p.size.as_str()
            ),
            ("u-6tb1", "u", 6, "metal")
        );
        let p = parse_name("weird");
        assert_eq!(
            (p.category.as_str(), p.generation, p.size.as_str()),
            ("weird", 0, "")
        );
    }

    #[test]
    fn max_pods_follow_the_eni_formula() {
        // The EKS AMI's published values for m5.large (3 ENIs x 10 IPs) and t3.micro (2 x 2).
        assert_eq!(eni_max_pods(3, 10), 29);
        assert_eq!(eni_max_pods(2, 2), 4);
        assert_eq!(eni_max_pods(0, 0), 2);
    }

    #[test]
    fn estimates_grow_with_size_and_gpus() {
        let small = estimate_on_demand_price(2, 8192, 0);
        let big = estimate_on_demand_price(4, 16384, 0);
        let gpu = estimate_on_demand_price(4, 16384, 1);
        assert!(small > 0.0 && small < big && big < gpu);
    }

    #[test]
    fn a_catalog_finds_types_by_name_and_offerings_by_pool() {
        let t = InstanceTypeInfo {
            name: "m5.large".into(),
            vcpus: 2,
            memory_mib: 8192,
            arch: Arch::Amd64,
            gpus: 0,
            max_pods: 29,
            family: "m5".into(),
            category: "m".into(),
            generation: 5,
            size: "large".into(),
            burstable: false,
            current_generation: true,
            bare_metal: false,
            offerings: vec![Offering {
                zone: "a".into(),
                capacity_type: CapacityType::Spot,
                price: 0.03,
            }],
        };
        let c = Catalog::new(
            "r",
            SystemTime::UNIX_EPOCH,
            PriceSource::Api,
            PriceSource::Api,
            vec![t],
        );
        let found = c
            .get("m5.large")
            .map(|t| t.offering("a", CapacityType::Spot).is_some());
        assert_eq!(found, Some(true));
        assert!(c.get("m5.xlarge").is_none());
        assert_eq!(c.types()[0].pools().count(), 1);
    }
}
