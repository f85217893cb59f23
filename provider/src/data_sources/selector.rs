//! Pure instance-type selection in the spirit of ec2-instance-selector: filters over the catalog
//! and ordering by price. No I/O: `catalog` fetches, this decides.

use std::collections::BTreeSet;

/// One instance type with what the filters and the output need.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeInfo {
    pub name: String,
    pub vcpus: i64,
    pub memory_mib: i64,
    pub architectures: Vec<String>,
    pub gpus: i64,
    pub burstable: bool,
    pub current_generation: bool,
    pub spot_supported: bool,
    pub zones: BTreeSet<String>,
    pub on_demand_price: Option<f64>,
    /// Cheapest spot price per zone, by zone.
    pub spot_prices: Vec<(String, f64)>,
}

impl TypeInfo {
    pub fn memory_gib(&self) -> f64 {
        self.memory_mib as f64 / 1024.0
    }
    /// Family letters and generation: `m5` of `m5.large`.
    pub fn family(&self) -> &str {
        self.name.split('.').next().unwrap_or(&self.name)
    }
    /// Cheapest spot price over the zones kept.
    pub fn spot_price(&self) -> Option<f64> {
        self.spot_prices
            .iter()
            .filter(|(z, _)| self.zones.contains(z))
            .map(|(_, p)| *p)
            .min_by(f64::total_cmp)
    }
    pub fn price(&self, capacity: Capacity) -> Option<f64> {
        match capacity {
            Capacity::OnDemand => self.on_demand_price,
            Capacity::Spot => self.spot_price(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Capacity {
    #[default]
    OnDemand,
    Spot,
}

#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub min_vcpus: Option<i64>,
    pub max_vcpus: Option<i64>,
    pub min_memory_gib: Option<f64>,
    pub max_memory_gib: Option<f64>,
    pub min_gpus: Option<i64>,
    pub max_gpus: Option<i64>,
    pub cpu_architecture: Option<String>,
    pub capacity: Capacity,
    pub exclude_burstable: bool,
    pub max_price_per_hour: Option<f64>,
    pub current_generation: Option<bool>,
    pub zones: BTreeSet<String>,
    pub families: BTreeSet<String>,
}

/// Everything but price: decides which types need prices fetched at all.
pub fn matches_shape(t: &TypeInfo, f: &Filters) -> bool {
    let within = |v: i64, lo: Option<i64>, hi: Option<i64>| {
        lo.is_none_or(|l| v >= l) && hi.is_none_or(|h| v <= h)
    };
    let mem = t.memory_gib();
    within(t.vcpus, f.min_vcpus, f.max_vcpus)
        && within(t.gpus, f.min_gpus, f.max_gpus)
        && f.min_memory_gib.is_none_or(|l| mem >= l)
        && f.max_memory_gib.is_none_or(|h| mem <= h)
        && f.cpu_architecture
            .as_ref()
            .is_none_or(|a| t.architectures.iter().any(|x| x == a))
        && !(f.exclude_burstable && t.burstable)
        && f.current_generation
            .is_none_or(|c| t.current_generation == c)
        && (f.capacity == Capacity::OnDemand || t.spot_supported)
        && (f.families.is_empty() || f.families.contains(t.family()))
        && (f.zones.is_empty() || t.zones.iter().any(|z| f.zones.contains(z)))
        && !t.zones.is_empty()
}

/// The types that pass every filter, zones narrowed to the requested ones, cheapest first for
/// the requested capacity type (types without a price last), then by name.
pub fn select(types: Vec<TypeInfo>, f: &Filters) -> Vec<TypeInfo> {
    let mut out: Vec<TypeInfo> = types
        .into_iter()
        .filter(|t| matches_shape(t, f))
        .map(|mut t| {
            if !f.zones.is_empty() {
                t.zones.retain(|z| f.zones.contains(z));
            }
            t
        })
        .filter(|t| match f.max_price_per_hour {
            Some(max) => t.price(f.capacity).is_some_and(|p| p <= max),
            None => true,
        })
        .collect();
    out.sort_by(|a, b| {
        let (pa, pb) = (a.price(f.capacity), b.price(f.capacity));
        match (pa, pb) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.name.cmp(&b.name))
    });
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(name: &str, vcpus: i64, gib: i64, od: f64, spot: &[(&str, f64)]) -> TypeInfo {
        TypeInfo {
            name: name.into(),
            vcpus,
            memory_mib: gib * 1024,
            architectures: vec![
                if name.contains("g.") {
                    "arm64"
                } else {
                    "x86_64"
                }
                .into(),
            ],
            gpus: if name.starts_with('g') { 1 } else { 0 },
            burstable: name.starts_with('t'),
            current_generation: !name.starts_with("m4"),
            spot_supported: true,
            zones: ["z-a", "z-b"].iter().map(|s| s.to_string()).collect(),
            on_demand_price: Some(od),
            spot_prices: spot.iter().map(|(z, p)| (z.to_string(), *p)).collect(),
        }
    }

    fn catalog() -> Vec<TypeInfo> {
        vec![
            t("m5.large", 2, 8, 0.096, &[("z-a", 0.03), ("z-b", 0.04)]),
            t("m6g.large", 2, 8, 0.077, &[("z-a", 0.035)]),
            t("c5.xlarge", 4, 8, 0.17, &[("z-b", 0.05)]),
            t("t3.medium", 2, 4, 0.042, &[("z-a", 0.012)]),
            t("m4.large", 2, 8, 0.1, &[]),
            t("g4dn.xlarge", 4, 16, 0.5, &[("z-a", 0.2)]),
        ]
    }

    fn names(v: &[TypeInfo]) -> Vec<&str> {
        v.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn on_demand_is_ordered_by_price_and_filters_combine() {
        let f = Filters {
            min_vcpus: Some(2),
            max_vcpus: Some(2),
            exclude_burstable: true,
            current_generation: Some(true),
            ..Default::default()
        };
        assert_eq!(names(&select(catalog(), &f)), ["m6g.large", "m5.large"]);
        let f = Filters {
            cpu_architecture: Some("x86_64".into()),
            min_gpus: Some(1),
            ..Default::default()
        };
        assert_eq!(names(&select(catalog(), &f)), ["g4dn.xlarge"]);
    }

    #[test]
    fn spot_price_is_the_cheapest_of_the_requested_zones() {
        let f = Filters {
            capacity: Capacity::Spot,
            zones: ["z-b".to_string()].into(),
            max_price_per_hour: Some(0.045),
            ..Default::default()
        };
        // Only m5.large (0.04 in z-b) is cheap enough in z-b; m6g and t3 have no z-b spot price.
        let got = select(catalog(), &f);
        assert_eq!(names(&got), ["m5.large"]);
        assert_eq!(got[0].spot_price(), Some(0.04));
        assert_eq!(got[0].zones, ["z-b".to_string()].into());
    }

    #[test]
    fn families_filter_by_the_part_before_the_dot() {
        let f = Filters {
            families: ["m5".to_string(), "c5".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(names(&select(catalog(), &f)), ["m5.large", "c5.xlarge"]);
    }

    proptest! {
        #[test]
        fn selection_is_sorted_and_respects_bounds(min in 0i64..6, span in 0i64..6, max_price in 0.0f64..1.0) {
            let f = Filters { min_vcpus: Some(min), max_vcpus: Some(min + span), max_price_per_hour: Some(max_price), ..Default::default() };
            let got = select(catalog(), &f);
            for w in got.windows(2) {
                prop_assert!(w[0].on_demand_price <= w[1].on_demand_price);
            }
            for x in &got {
                prop_assert!(x.vcpus >= min && x.vcpus <= min + span);
                prop_assert!(x.on_demand_price.unwrap() <= max_price);
            }
            let expected = catalog().iter().filter(|x| x.vcpus >= min && x.vcpus <= min + span && x.on_demand_price.unwrap() <= max_price).count();
            prop_assert_eq!(got.len(), expected);
        }
    }
}
