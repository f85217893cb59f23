//! Builders for unit tests of the cloud module.

use super::catalog::{InstanceTypeInfo, Offering, parse_name};
use super::types::{Arch, CapacityType, Subnet};
use std::collections::BTreeMap;

/// An amd64 type with 2 vCPUs and 8 GiB, spot offerings at the given (zone, price) and on-demand
/// offerings in the same zones at three times the price.
pub fn instance_type(name: &str, spot: &[(&str, f64)]) -> InstanceTypeInfo {
    let parts = parse_name(name);
    let mut offerings: Vec<Offering> = spot
        .iter()
        .map(|&(zone, price)| Offering {
            zone: zone.into(),
            capacity_type: CapacityType::Spot,
            price,
        })
        .collect();
    offerings.extend(spot.iter().map(|&(zone, price)| Offering {
        zone: zone.into(),
        capacity_type: CapacityType::OnDemand,
        price: price * 3.0,
    }));
    InstanceTypeInfo {
        name: name.into(),
        vcpus: 2,
        memory_mib: 8192,
        arch: Arch::Amd64,
        gpus: 0,
        max_pods: 29,
        family: parts.family,
        category: parts.category,
        generation: parts.generation,
        size: parts.size,
        burstable: false,
        current_generation: true,
        bare_metal: false,
        offerings,
    }
}

pub fn subnet(id: &str, zone: &str, available_ips: i32) -> Subnet {
    Subnet {
        id: id.into(),
        zone: zone.into(),
        available_ips,
        tags: BTreeMap::new(),
    }
}
