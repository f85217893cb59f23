//! Plan-time check that the instance types and zones a Provisioner asks for exist in the
//! provider's region, using EC2 (DescribeAvailabilityZones, DescribeInstanceTypeOfferings).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, LocationType};
use karpenter_core::api::{ProvisionerSpec, labels};

use super::checks::allowed;
use crate::aws_context::AwsContext;
use crate::plugin::{AttributePath, Diagnostics};
use crate::resources::aws::errors::sdk_error_text;

/// What the region offers: zone names and, per instance type asked about, the zones offering it.
struct Offered {
    zones: BTreeSet<String>,
    types: BTreeMap<String, BTreeSet<String>>,
}

async fn fetch(ec2: &aws_sdk_ec2::Client, types: &[String]) -> Result<Offered, String> {
    let az = ec2
        .describe_availability_zones()
        .send()
        .await
        .map_err(|e| sdk_error_text(&e))?;
    let zones = az
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name().map(str::to_string))
        .collect();
    let mut offered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if !types.is_empty() {
        let mut pages = ec2
            .describe_instance_type_offerings()
            .location_type(LocationType::AvailabilityZone)
            .filters(
                Filter::builder()
                    .name("instance-type")
                    .set_values(Some(types.to_vec()))
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error_text(&e))?;
            for o in page.instance_type_offerings() {
                if let (Some(t), Some(z)) = (o.instance_type(), o.location()) {
                    offered
                        .entry(t.as_str().to_string())
                        .or_default()
                        .insert(z.to_string());
                }
            }
        }
    }
    Ok(Offered {
        zones,
        types: offered,
    })
}

/// Warns about requested instance types or zones the region does not offer. A failing EC2 call
/// becomes a warning saying the check was skipped: it must never block a plan.
pub async fn check(aws: &AwsContext, spec: &ProvisionerSpec, diags: &mut Diagnostics) {
    let types = allowed(spec, labels::INSTANCE_TYPE);
    let zones = allowed(spec, labels::ZONE);
    if types.is_none() && zones.is_none() {
        return;
    }
    let ec2 = aws_sdk_ec2::Client::new(&aws.sdk);
    let asked: Vec<String> = types.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
    let offered = match fetch(&ec2, &asked).await {
        Ok(o) => o,
        Err(e) => {
            diags.warning(
                "Instance type and zone offerings not checked",
                format!("EC2 could not be asked what {} offers ({e}); the plan goes on without this check.", aws.region),
            );
            return;
        }
    };
    if let Some((i, zs)) = &zones {
        let missing: Vec<&String> = zs.iter().filter(|z| !offered.zones.contains(*z)).collect();
        if !missing.is_empty() {
            diags.warning_at(
                AttributePath::attr("requirement")
                    .push_index(*i)
                    .push_attr("values"),
                "Zones not in the region",
                format!(
                    "{} {} not in {} (zones there: {}); no node can launch there.",
                    join(&missing),
                    if missing.len() == 1 { "is" } else { "are" },
                    aws.region,
                    offered.zones.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
    if let Some((i, ts)) = &types {
        let wanted_zones: Option<BTreeSet<&String>> =
            zones.as_ref().map(|(_, z)| z.iter().collect());
        let mut problems = Vec::new();
        for t in ts {
            match offered.types.get(t) {
                None => problems.push(format!("{t} is not offered in {}", aws.region)),
                Some(in_zones) => {
                    if let Some(w) = &wanted_zones
                        && !w.iter().any(|z| in_zones.contains(*z))
                    {
                        problems.push(format!("{t} is offered in none of the requested zones"));
                    }
                }
            }
        }
        if !problems.is_empty() {
            diags.warning_at(
                AttributePath::attr("requirement")
                    .push_index(*i)
                    .push_attr("values"),
                "Instance types not offered",
                format!(
                    "{}. Those types can never be launched by this provisioner.",
                    problems.join("; ")
                ),
            );
        }
    }
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}
