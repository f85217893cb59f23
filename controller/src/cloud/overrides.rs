//! Which (instance type, subnet) pools one CreateFleet call offers EC2: the cheapest fitting types
//! first, at most 60 of them, one subnet per zone, never a pool the ICE cache holds.

use super::catalog::InstanceTypeInfo;
use super::fleet::FleetOverride;
use super::ice::UnavailableOfferings;
use super::types::{Arch, CapacityType, Subnet};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// EC2 accepts more, but past 60 types the tail is never cheaper and the request only grows
/// (the anchor caps at the same number).
pub const MAX_INSTANCE_TYPES: usize = 60;

/// The inputs of one selection.
pub struct Candidates<'a> {
    /// Types the scheduler found to fit; any order.
    pub instance_types: &'a [InstanceTypeInfo],
    pub subnets: &'a [Subnet],
    /// Allowed zones; `None` allows every zone that has a subnet.
    pub zones: Option<&'a BTreeSet<String>>,
    /// Launch template per architecture; types of an arch without one are left out.
    pub launch_templates: &'a BTreeMap<Arch, String>,
}

/// Per zone, the subnet with the most free addresses (ties to the lowest id), so one dry subnet
/// does not hide a zone.
pub fn subnet_per_zone<'a>(
    subnets: &'a [Subnet],
    zones: Option<&BTreeSet<String>>,
) -> BTreeMap<&'a str, &'a Subnet> {
    let mut out: BTreeMap<&str, &Subnet> = BTreeMap::new();
    for s in subnets {
        if zones.is_some_and(|z| !z.contains(&s.zone)) {
            continue;
        }
        out.entry(s.zone.as_str())
            .and_modify(|best| {
                if (s.available_ips, std::cmp::Reverse(&s.id))
                    > (best.available_ips, std::cmp::Reverse(&best.id))
                {
                    *best = s;
                }
            })
            .or_insert(s);
    }
    out
}

fn by_price(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Overrides sorted cheapest first (ties by type, then zone); empty when nothing is left.
pub fn select(
    c: &Candidates<'_>,
    capacity_type: CapacityType,
    ice: &UnavailableOfferings,
) -> Vec<FleetOverride> {
    let subnets = subnet_per_zone(c.subnets, c.zones);
    let mut per_type: Vec<(f64, &InstanceTypeInfo, Vec<FleetOverride>)> = Vec::new();
    for t in c.instance_types {
        let Some(template) = c.launch_templates.get(&t.arch) else {
            continue;
        };
        let overrides: Vec<FleetOverride> = t
            .offerings
            .iter()
            .filter(|o| o.capacity_type == capacity_type)
            .filter(|o| !ice.is_unavailable(&t.name, &o.zone, capacity_type))
            .filter_map(|o| {
                subnets.get(o.zone.as_str()).map(|s| FleetOverride {
                    launch_template_name: template.clone(),
                    instance_type: t.name.clone(),
                    subnet_id: s.id.clone(),
                    zone: o.zone.clone(),
                    price: o.price,
                })
            })
            .collect();
        let cheapest = overrides
            .iter()
            .map(|o| o.price)
            .min_by(|a, b| by_price(*a, *b));
        if let Some(cheapest) = cheapest {
            per_type.push((cheapest, t, overrides));
        }
    }
    per_type.sort_by(|a, b| by_price(a.0, b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    per_type.dedup_by(|a, b| a.1.name == b.1.name);
    let mut out: Vec<FleetOverride> = per_type
        .into_iter()
        .take(MAX_INSTANCE_TYPES)
        .flat_map(|(_, _, overrides)| overrides)
        .collect();
    out.sort_by(|a, b| {
        by_price(a.price, b.price)
            .then_with(|| a.instance_type.cmp(&b.instance_type))
            .then_with(|| a.zone.cmp(&b.zone))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::test_support::{instance_type, subnet};
    use crate::cloud::types::Pool;

    fn templates() -> BTreeMap<Arch, String> {
        BTreeMap::from([(Arch::Amd64, "lt-amd64".to_string())])
    }

    #[test]
    fn the_cheapest_pools_come_first() {
        let types = vec![
            instance_type("m5.xlarge", &[("a", 0.08), ("b", 0.07)]),
            instance_type("m5.large", &[("a", 0.04), ("b", 0.05)]),
        ];
        let subnets = vec![subnet("subnet-a", "a", 100), subnet("subnet-b", "b", 100)];
        let t = templates();
        let c = Candidates {
            instance_types: &types,
            subnets: &subnets,
            zones: None,
            launch_templates: &t,
        };
        let got: Vec<(String, String)> =
            select(&c, CapacityType::Spot, &UnavailableOfferings::default())
                .into_iter()
                .map(|o| (o.instance_type, o.zone))
                .collect();
        let want = [
            ("m5.large", "a"),
            ("m5.large", "b"),
            ("m5.xlarge", "b"),
            ("m5.xlarge", "a"),
        ];
        assert_eq!(got, want.map(|(t, z)| (t.to_string(), z.to_string())));
    }

    #[test]
    fn at_most_sixty_types_are_offered_and_they_are_the_cheapest_sixty() {
        let types: Vec<InstanceTypeInfo> = (0..100)
            .map(|i| instance_type(&format!("t{i:03}.large"), &[("a", 1.0 + f64::from(99 - i))]))
            .collect();
        let subnets = vec![subnet("subnet-a", "a", 10)];
        let t = templates();
        let c = Candidates {
            instance_types: &types,
            subnets: &subnets,
            zones: None,
            launch_templates: &t,
        };
        let got = select(&c, CapacityType::Spot, &UnavailableOfferings::default());
        assert_eq!(got.len(), MAX_INSTANCE_TYPES);
        assert_eq!(got[0].instance_type, "t099.large");
        assert_eq!(got[59].instance_type, "t040.large");
    }

    #[test]
    fn pools_in_the_ice_cache_are_left_out_and_other_zones_stay() {
        let types = vec![instance_type("m5.large", &[("a", 0.04), ("b", 0.05)])];
        let subnets = vec![subnet("subnet-a", "a", 100), subnet("subnet-b", "b", 100)];
        let ice = UnavailableOfferings::default();
        ice.mark(
            Pool::new("m5.large", "a", CapacityType::Spot),
            "InsufficientInstanceCapacity",
        );
        let t = templates();
        let c = Candidates {
            instance_types: &types,
            subnets: &subnets,
            zones: None,
            launch_templates: &t,
        };
        let got = select(&c, CapacityType::Spot, &ice);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].zone, "b");
        // The on-demand pool in the same zone is a different pool.
        assert_eq!(select(&c, CapacityType::OnDemand, &ice).len(), 2);
    }

    #[test]
    fn zones_subnets_and_architectures_narrow_the_pools() {
        let mut arm = instance_type("m6g.large", &[("a", 0.01)]);
        arm.arch = Arch::Arm64;
        let types = vec![
            arm,
            instance_type("m5.large", &[("a", 0.04), ("b", 0.05), ("c", 0.01)]),
        ];
        // Zone c has no subnet; zone b is excluded by the requirement; a has two subnets.
        let subnets = vec![
            subnet("subnet-a1", "a", 5),
            subnet("subnet-a2", "a", 50),
            subnet("subnet-b", "b", 100),
        ];
        let zones = BTreeSet::from(["a".to_string()]);
        let t = templates();
        let c = Candidates {
            instance_types: &types,
            subnets: &subnets,
            zones: Some(&zones),
            launch_templates: &t,
        };
        let got = select(&c, CapacityType::Spot, &UnavailableOfferings::default());
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].instance_type.as_str(), got[0].subnet_id.as_str()),
            ("m5.large", "subnet-a2")
        );
        assert_eq!(got[0].launch_template_name, "lt-amd64");
    }
}
