//! The instance catalog from EC2: types, where they are offered, and at what price; cached in
//! memory because DescribeInstanceTypes is large (one 5 MB page from moto, ~100 pages from AWS).

use super::AwsCloud;
use super::prices::{OnDemandPrices, SpotPrices};
use super::sdk_error::from_sdk;
use crate::cloud::catalog::{
    Catalog, DEFAULT_MAX_PODS, InstanceTypeInfo, Offering, PriceSource, eni_max_pods,
    estimate_on_demand_price, parse_name,
};
use crate::cloud::error::CloudError;
use crate::cloud::types::{Arch, CapacityType};
use aws_sdk_ec2::types::{self as ec2, LocationType, UsageClassType};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

#[derive(Default)]
pub struct CatalogCache {
    current: RwLock<Option<Arc<Catalog>>>,
    first: tokio::sync::Mutex<()>,
    // Whether the last fetch had to estimate; a warning is logged when this turns on, not on
    // every refresh.
    estimating_on_demand: AtomicBool,
    estimating_spot: AtomicBool,
}

impl CatalogCache {
    pub fn current(&self) -> Option<Arc<Catalog>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn store(&self, catalog: Arc<Catalog>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(catalog);
    }

    pub async fn first_fetch(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.first.lock().await
    }

    /// Logs once per change of state; returns nothing because callers only need the side effect.
    fn note_estimate(flag: &AtomicBool, estimating: bool, what: &str, detail: &str) {
        let was = flag.swap(estimating, Ordering::Relaxed);
        if estimating && !was {
            tracing::warn!(
                detail,
                "{what} prices are unavailable; using estimates until they return"
            );
        } else if !estimating && was {
            tracing::info!("{what} prices are available again");
        }
    }
}

/// The shape of one EC2 instance type, before offerings and prices are added.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Shape {
    pub info: InstanceTypeInfo,
    pub spot: bool,
    pub on_demand: bool,
}

/// None for types a Kubernetes node cannot be (no amd64/arm64 architecture, no vCPU data).
pub(super) fn shape(t: &ec2::InstanceTypeInfo) -> Option<Shape> {
    let name = t.instance_type()?.as_str().to_string();
    let arch = t
        .processor_info()?
        .supported_architectures()
        .iter()
        .find_map(|a| Arch::from_aws(a.as_str()))?;
    let vcpus = u32::try_from(t.v_cpu_info()?.default_v_cpus()?).ok()?;
    let memory_mib = u64::try_from(t.memory_info()?.size_in_mib()?).ok()?;
    let gpus = t
        .gpu_info()
        .map(|g| {
            g.gpus()
                .iter()
                .filter_map(|d| d.count())
                .map(|c| u32::try_from(c).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    let max_pods = t
        .network_info()
        .and_then(|n| {
            Some((
                n.maximum_network_interfaces()?,
                n.ipv4_addresses_per_interface()?,
            ))
        })
        .and_then(|(enis, ips)| {
            Some(eni_max_pods(
                u32::try_from(enis).ok()?,
                u32::try_from(ips).ok()?,
            ))
        })
        .unwrap_or(DEFAULT_MAX_PODS);
    let parts = parse_name(&name);
    let classes = t.supported_usage_classes();
    Some(Shape {
        spot: classes.contains(&UsageClassType::Spot),
        on_demand: classes.contains(&UsageClassType::OnDemand),
        info: InstanceTypeInfo {
            name,
            vcpus,
            memory_mib,
            arch,
            gpus,
            max_pods,
            family: parts.family,
            category: parts.category,
            generation: parts.generation,
            size: parts.size,
            burstable: t.burstable_performance_supported().unwrap_or(false),
            current_generation: t.current_generation().unwrap_or(false),
            bare_metal: t.bare_metal().unwrap_or(false),
            offerings: Vec::new(),
        },
    })
}

/// Joins shapes, zones and prices. A spot pool without a spot price is left out (EC2 publishes a
/// price for every pool it sells), unless spot prices as a whole are estimated.
pub(super) fn assemble(
    shapes: Vec<Shape>,
    zones: &BTreeMap<String, BTreeSet<String>>,
    on_demand: &OnDemandPrices,
    spot: &SpotPrices,
) -> (Vec<InstanceTypeInfo>, usize) {
    let mut estimated = 0;
    let mut out = Vec::with_capacity(shapes.len());
    for s in shapes {
        let Some(type_zones) = zones.get(&s.info.name) else {
            continue;
        };
        let mut info = s.info;
        let od_price = match on_demand.get(&info.name) {
            Some(p) => p,
            None => {
                estimated += 1;
                estimate_on_demand_price(info.vcpus, info.memory_mib, info.gpus)
            }
        };
        for zone in type_zones {
            if s.on_demand {
                info.offerings.push(Offering {
                    zone: zone.clone(),
                    capacity_type: CapacityType::OnDemand,
                    price: od_price,
                });
            }
            if s.spot {
                let price = match spot {
                    SpotPrices::Known(map) => map.get(&(info.name.clone(), zone.clone())).copied(),
                    SpotPrices::Unavailable => Some(od_price),
                };
                if let Some(price) = price {
                    info.offerings.push(Offering {
                        zone: zone.clone(),
                        capacity_type: CapacityType::Spot,
                        price,
                    });
                }
            }
        }
        if !info.offerings.is_empty() {
            out.push(info);
        }
    }
    (out, estimated)
}

impl AwsCloud {
    async fn describe_instance_types(&self) -> Result<Vec<ec2::InstanceTypeInfo>, CloudError> {
        let op = "DescribeInstanceTypes";
        self.ec2
            .describe_instance_types()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(op, e))
    }

    /// Instance type -> zones that offer it.
    async fn describe_offerings(&self) -> Result<BTreeMap<String, BTreeSet<String>>, CloudError> {
        let op = "DescribeInstanceTypeOfferings";
        let offerings = self
            .ec2
            .describe_instance_type_offerings()
            .location_type(LocationType::AvailabilityZone)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk(op, e))?;
        let mut zones: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for o in offerings {
            if let (Some(t), Some(zone)) = (o.instance_type(), o.location()) {
                zones
                    .entry(t.as_str().to_string())
                    .or_default()
                    .insert(zone.to_string());
            }
        }
        Ok(zones)
    }

    pub(super) async fn fetch_catalog(&self) -> Result<Catalog, CloudError> {
        let (types, zones, spot, on_demand) = tokio::join!(
            self.describe_instance_types(),
            self.describe_offerings(),
            self.spot_prices(),
            self.on_demand_prices(),
        );
        let shapes: Vec<Shape> = types?.iter().filter_map(shape).collect();
        let zones = zones?;
        let spot = match spot {
            Ok(map) => {
                CatalogCache::note_estimate(&self.catalog.estimating_spot, false, "spot", "");
                SpotPrices::Known(map)
            }
            Err(e) => {
                CatalogCache::note_estimate(
                    &self.catalog.estimating_spot,
                    true,
                    "spot",
                    &e.to_string(),
                );
                SpotPrices::Unavailable
            }
        };
        let on_demand = match on_demand {
            Ok(prices) => prices,
            Err(e) => {
                CatalogCache::note_estimate(
                    &self.catalog.estimating_on_demand,
                    true,
                    "on-demand",
                    &e.to_string(),
                );
                OnDemandPrices::default()
            }
        };
        let (types, estimated) = assemble(shapes, &zones, &on_demand, &spot);
        let on_demand_source = if estimated == 0 {
            CatalogCache::note_estimate(&self.catalog.estimating_on_demand, false, "on-demand", "");
            PriceSource::Api
        } else {
            let detail = format!(
                "{estimated} of {} instance types have no Pricing API price",
                types.len()
            );
            CatalogCache::note_estimate(
                &self.catalog.estimating_on_demand,
                true,
                "on-demand",
                &detail,
            );
            PriceSource::Estimate
        };
        let spot_source = match spot {
            SpotPrices::Known(_) => PriceSource::Api,
            SpotPrices::Unavailable => PriceSource::Estimate,
        };
        Ok(Catalog::new(
            self.region.clone(),
            SystemTime::now(),
            on_demand_source,
            spot_source,
            types,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn m5_large() -> ec2::InstanceTypeInfo {
        ec2::InstanceTypeInfo::builder()
            .instance_type(ec2::InstanceType::M5Large)
            .current_generation(true)
            .burstable_performance_supported(false)
            .supported_usage_classes(UsageClassType::OnDemand)
            .supported_usage_classes(UsageClassType::Spot)
            .processor_info(
                ec2::ProcessorInfo::builder()
                    .supported_architectures(ec2::ArchitectureType::X8664)
                    .build(),
            )
            .v_cpu_info(ec2::VCpuInfo::builder().default_v_cpus(2).build())
            .memory_info(ec2::MemoryInfo::builder().size_in_mib(8192).build())
            .network_info(
                ec2::NetworkInfo::builder()
                    .maximum_network_interfaces(3)
                    .ipv4_addresses_per_interface(10)
                    .build(),
            )
            .build()
    }

    #[test]
    fn an_ec2_type_becomes_a_catalog_shape() {
        let s = shape(&m5_large());
        let info = s.as_ref().map(|s| &s.info);
        assert_eq!(
            info.map(|i| (i.vcpus, i.memory_mib, i.max_pods, i.arch)),
            Some((2, 8192, 29, Arch::Amd64))
        );
        assert_eq!(
            info.map(|i| (i.family.as_str(), i.category.as_str(), i.generation)),
            Some(("m5", "m", 5))
        );
        assert!(s.is_some_and(|s| s.spot && s.on_demand));
    }

    #[test]
    fn a_mac_or_i386_only_type_is_not_a_node() {
        let mac = ec2::InstanceTypeInfo::builder()
            .instance_type(ec2::InstanceType::from("mac1.metal"))
            .processor_info(
                ec2::ProcessorInfo::builder()
                    .supported_architectures(ec2::ArchitectureType::X8664Mac)
                    .build(),
            )
            .v_cpu_info(ec2::VCpuInfo::builder().default_v_cpus(12).build())
            .memory_info(ec2::MemoryInfo::builder().size_in_mib(32768).build())
            .build();
        assert!(shape(&mac).is_none());
    }

    #[test]
    fn offerings_carry_prices_and_unpriced_spot_pools_are_dropped() {
        let shapes = vec![shape(&m5_large())].into_iter().flatten().collect();
        let zones = BTreeMap::from([(
            "m5.large".to_string(),
            BTreeSet::from(["a".to_string(), "b".to_string()]),
        )]);
        let od = OnDemandPrices::from_map(HashMap::from([("m5.large".to_string(), 0.096)]));
        let spot = SpotPrices::Known(HashMap::from([(
            ("m5.large".to_string(), "a".to_string()),
            0.03,
        )]));
        let (types, estimated) = assemble(shapes, &zones, &od, &spot);
        assert_eq!(estimated, 0);
        let t = &types[0];
        assert_eq!(
            t.offering("a", CapacityType::Spot).map(|o| o.price),
            Some(0.03)
        );
        assert!(t.offering("b", CapacityType::Spot).is_none());
        assert_eq!(
            t.offering("b", CapacityType::OnDemand).map(|o| o.price),
            Some(0.096)
        );
    }

    #[test]
    fn missing_prices_are_estimated_and_counted() {
        let shapes = vec![shape(&m5_large())].into_iter().flatten().collect();
        let zones = BTreeMap::from([("m5.large".to_string(), BTreeSet::from(["a".to_string()]))]);
        let (types, estimated) = assemble(
            shapes,
            &zones,
            &OnDemandPrices::default(),
            &SpotPrices::Unavailable,
        );
        assert_eq!(estimated, 1);
        let od = types[0]
            .offering("a", CapacityType::OnDemand)
            .map(|o| o.price);
        assert!(od.is_some_and(|p| p > 0.0));
        assert_eq!(
            types[0].offering("a", CapacityType::Spot).map(|o| o.price),
            od
        );
    }
}
