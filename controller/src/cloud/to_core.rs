//! The catalog as the scheduler sees it: karpenter-core's instance types, with each offering's
//! availability taken from the ICE cache at the moment of conversion.

use super::catalog::{Catalog, InstanceTypeInfo};
use super::ice::UnavailableOfferings;
use karpenter_core::api::labels;
use karpenter_core::scheduling::{InstanceType, Offering};

pub fn instance_type(
    info: &InstanceTypeInfo,
    ice: &UnavailableOfferings,
    ephemeral_storage_gib: u32,
) -> InstanceType {
    InstanceType {
        name: info.name.clone(),
        arch: info.arch.as_str().to_string(),
        os: labels::OS_LINUX.to_string(),
        vcpus: info.vcpus,
        memory_mib: info.memory_mib,
        gpus: info.gpus,
        max_pods: info.max_pods,
        ephemeral_storage_gib,
        family: info.family.clone(),
        category: info.category.clone(),
        generation: info.generation,
        size: info.size.clone(),
        offerings: info
            .offerings
            .iter()
            .map(|o| Offering {
                zone: o.zone.clone(),
                capacity_type: o.capacity_type.as_str().to_string(),
                price: o.price,
                available: !ice.is_unavailable(&info.name, &o.zone, o.capacity_type),
            })
            .collect(),
    }
}

/// Every catalog type; `ephemeral_storage_gib` is the root volume the launch template gives nodes.
pub fn instance_types(
    catalog: &Catalog,
    ice: &UnavailableOfferings,
    ephemeral_storage_gib: u32,
) -> Vec<InstanceType> {
    catalog
        .types()
        .iter()
        .map(|t| instance_type(t, ice, ephemeral_storage_gib))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::test_support;
    use crate::cloud::types::{CapacityType, Pool};

    #[test]
    fn an_ice_marked_pool_is_an_unavailable_offering_and_the_rest_stay_available() {
        let info = test_support::instance_type("m5.large", &[("a", 0.03), ("b", 0.04)]);
        let ice = UnavailableOfferings::default();
        ice.mark(
            Pool::new("m5.large", "a", CapacityType::Spot),
            "InsufficientInstanceCapacity",
        );
        let t = instance_type(&info, &ice, 20);
        assert_eq!(
            (t.name.as_str(), t.arch.as_str(), t.vcpus, t.max_pods),
            ("m5.large", "amd64", 2, 29)
        );
        let availability: Vec<(&str, &str, bool)> = t
            .offerings
            .iter()
            .map(|o| (o.zone.as_str(), o.capacity_type.as_str(), o.available))
            .collect();
        assert_eq!(
            availability,
            [
                ("a", "spot", false),
                ("b", "spot", true),
                ("a", "on-demand", true),
                ("b", "on-demand", true)
            ]
        );
    }
}
