//! Fetches the instance-type catalog of the provider's region: shapes (DescribeInstanceTypes),
//! zones (DescribeInstanceTypeOfferings), spot prices (DescribeSpotPriceHistory) and on-demand
//! prices (Price List GetProducts).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter as Ec2Filter, LocationType, UsageClassType};
use aws_sdk_pricing::types::{Filter as PriceFilter, FilterType};

use super::selector::TypeInfo;
use crate::aws_context::AwsContext;
use crate::plugin::Diagnostics;
use crate::resources::aws::errors::{aws_error, sdk_error_text};

use karpenter_contract::pricing::{PRODUCT_FILTERS, on_demand_prices as price_list};

/// Every instance type offered in some zone of the region, without prices.
pub async fn shapes(aws: &AwsContext, diags: &mut Diagnostics) -> Option<Vec<TypeInfo>> {
    let ec2 = crate::resources::aws::ec2(aws);
    let mut zones: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pages = ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => {
                for o in p.instance_type_offerings() {
                    if let (Some(t), Some(z)) = (o.instance_type(), o.location()) {
                        zones
                            .entry(t.as_str().to_string())
                            .or_default()
                            .insert(z.to_string());
                    }
                }
            }
            Err(e) => {
                aws_error(
                    diags,
                    "ec2:DescribeInstanceTypeOfferings",
                    &aws.region,
                    &sdk_error_text(&e),
                );
                return None;
            }
        }
    }
    let mut out = Vec::new();
    let mut pages = ec2.describe_instance_types().into_paginator().send();
    while let Some(page) = pages.next().await {
        let p = match page {
            Ok(p) => p,
            Err(e) => {
                aws_error(
                    diags,
                    "ec2:DescribeInstanceTypes",
                    &aws.region,
                    &sdk_error_text(&e),
                );
                return None;
            }
        };
        for it in p.instance_types() {
            let Some(name) = it.instance_type().map(|t| t.as_str().to_string()) else {
                continue;
            };
            out.push(TypeInfo {
                vcpus: it
                    .v_cpu_info()
                    .and_then(|v| v.default_v_cpus())
                    .unwrap_or(0)
                    .into(),
                memory_mib: it.memory_info().and_then(|m| m.size_in_mib()).unwrap_or(0),
                architectures: it
                    .processor_info()
                    .map(|p| {
                        p.supported_architectures()
                            .iter()
                            .map(|a| a.as_str().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                gpus: it
                    .gpu_info()
                    .map(|g| {
                        g.gpus()
                            .iter()
                            .map(|d| i64::from(d.count().unwrap_or(0)))
                            .sum()
                    })
                    .unwrap_or(0),
                burstable: it.burstable_performance_supported().unwrap_or(false),
                current_generation: it.current_generation().unwrap_or(false),
                spot_supported: it.supported_usage_classes().contains(&UsageClassType::Spot),
                zones: zones.remove(&name).unwrap_or_default(),
                on_demand_price: None,
                spot_prices: Vec::new(),
                name,
            });
        }
    }
    Some(out)
}

/// Latest Linux spot price per (type, zone) for `types`.
pub async fn spot_prices(
    aws: &AwsContext,
    types: &[String],
    diags: &mut Diagnostics,
) -> Option<BTreeMap<String, Vec<(String, f64)>>> {
    let ec2 = crate::resources::aws::ec2(aws);
    let mut latest: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
    // The filter takes a bounded list of values; ask in chunks.
    for chunk in types.chunks(100) {
        let mut pages = ec2
            .describe_spot_price_history()
            .product_descriptions("Linux/UNIX")
            .start_time(aws_sdk_ec2::primitives::DateTime::from(
                std::time::SystemTime::now(),
            ))
            .filters(
                Ec2Filter::builder()
                    .name("instance-type")
                    .set_values(Some(chunk.to_vec()))
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let p = match page {
                Ok(p) => p,
                Err(e) => {
                    aws_error(
                        diags,
                        "ec2:DescribeSpotPriceHistory",
                        &aws.region,
                        &sdk_error_text(&e),
                    );
                    return None;
                }
            };
            for sp in p.spot_price_history() {
                let (Some(t), Some(z), Some(price)) = (
                    sp.instance_type(),
                    sp.availability_zone(),
                    sp.spot_price().and_then(|s| s.parse::<f64>().ok()),
                ) else {
                    continue;
                };
                let at = sp.timestamp().map(|d| d.secs()).unwrap_or(0);
                let key = (t.as_str().to_string(), z.to_string());
                if latest.get(&key).is_none_or(|(when, _)| at > *when) {
                    latest.insert(key, (at, price));
                }
            }
        }
    }
    let mut out: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for ((t, z), (_, p)) in latest {
        out.entry(t).or_default().push((z, p));
    }
    Some(out)
}

/// On-demand Linux, shared-tenancy hourly prices of the region, by instance type.
pub async fn on_demand_prices(
    aws: &AwsContext,
    diags: &mut Diagnostics,
) -> Option<BTreeMap<String, f64>> {
    let pricing = crate::resources::aws::pricing(aws);
    let term = |field: &str, value: &str| {
        PriceFilter::builder()
            .r#type(FilterType::TermMatch)
            .field(field)
            .value(value)
            .build()
    };
    let filters: Result<Vec<_>, _> = std::iter::once(("regionCode", aws.region.as_str()))
        .chain(PRODUCT_FILTERS)
        .map(|(field, value)| term(field, value))
        .collect();
    let filters = match filters {
        Ok(f) => f,
        Err(e) => {
            diags.error("Invalid pricing filter", e.to_string());
            return None;
        }
    };
    let mut docs = Vec::new();
    let mut pages = pricing
        .get_products()
        .service_code("AmazonEC2")
        .format_version("aws_v1")
        .set_filters(Some(filters))
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let p = match page {
            Ok(p) => p,
            Err(e) => {
                aws_error(
                    diags,
                    "pricing:GetProducts",
                    &format!("AmazonEC2 prices of {}", aws.region),
                    &sdk_error_text(&e),
                );
                return None;
            }
        };
        docs.extend(p.price_list().iter().cloned());
    }
    Some(price_list(docs.iter().map(String::as_str)))
}
