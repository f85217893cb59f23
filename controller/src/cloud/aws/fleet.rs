//! CreateFleet `instant`: one instance, spot price-capacity-optimized or on-demand lowest-price,
//! one launch template config per template with its (type, subnet) overrides.

use super::AwsCloud;
use super::launch_templates::ec2_tags;
use super::sdk_error::from_sdk;
use crate::cloud::error::CloudError;
use crate::cloud::fleet::{FleetError, FleetRequest, FleetResult, LaunchedInstance};
use crate::cloud::types::{CapacityType, Pool};
use aws_sdk_ec2::types::{
    self as ec2, DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest,
    FleetOnDemandAllocationStrategy, FleetType, InstanceLifecycle, OnDemandOptionsRequest,
    ResourceType, SpotAllocationStrategy, SpotOptionsRequest, TagSpecification,
    TargetCapacitySpecificationRequest,
};

pub(super) fn launch_template_configs(
    request: &FleetRequest,
) -> Vec<FleetLaunchTemplateConfigRequest> {
    // Grouped in first-seen order so the cheapest template's config comes first.
    let mut groups: Vec<(&str, Vec<FleetLaunchTemplateOverridesRequest>)> = Vec::new();
    for o in &request.overrides {
        let item = FleetLaunchTemplateOverridesRequest::builder()
            .instance_type(ec2::InstanceType::from(o.instance_type.as_str()))
            .subnet_id(&o.subnet_id)
            .build();
        match groups
            .iter_mut()
            .find(|(name, _)| *name == o.launch_template_name)
        {
            Some((_, items)) => items.push(item),
            None => groups.push((&o.launch_template_name, vec![item])),
        }
    }
    groups
        .into_iter()
        .map(|(name, overrides)| {
            FleetLaunchTemplateConfigRequest::builder()
                .launch_template_specification(
                    FleetLaunchTemplateSpecificationRequest::builder()
                        .launch_template_name(name)
                        .version("$Latest")
                        .build(),
                )
                .set_overrides(Some(overrides))
                .build()
        })
        .collect()
}

fn lifecycle(l: Option<&InstanceLifecycle>, default: CapacityType) -> CapacityType {
    match l {
        Some(InstanceLifecycle::Spot) => CapacityType::Spot,
        Some(InstanceLifecycle::OnDemand) => CapacityType::OnDemand,
        _ => default,
    }
}

/// Reads CreateFleet's answer; zones and prices come from our request, because EC2 echoes only
/// type and subnet reliably.
pub(super) fn parse_response(
    request: &FleetRequest,
    out: &aws_sdk_ec2::operation::create_fleet::CreateFleetOutput,
) -> FleetResult {
    let mut result = FleetResult {
        fleet_id: out.fleet_id().map(String::from),
        ..FleetResult::default()
    };
    for e in out.errors() {
        let capacity_type = lifecycle(e.lifecycle(), request.capacity_type);
        let overrides = e
            .launch_template_and_overrides()
            .and_then(|l| l.overrides());
        let instance_type = overrides
            .and_then(|o| o.instance_type())
            .map(|t| t.as_str().to_string());
        let subnet_id = overrides.and_then(|o| o.subnet_id()).map(String::from);
        let zone = overrides
            .and_then(|o| o.availability_zone())
            .map(String::from)
            .or_else(|| {
                instance_type
                    .as_deref()
                    .and_then(|t| request.find_override(t, subnet_id.as_deref()))
                    .map(|o| o.zone.clone())
            });
        result.errors.push(FleetError {
            pool: instance_type
                .zip(zone)
                .map(|(t, z)| Pool::new(t, z, capacity_type)),
            subnet_id,
            code: e.error_code().unwrap_or("Unknown").to_string(),
            message: e.error_message().unwrap_or_default().to_string(),
        });
    }
    for i in out.instances() {
        let capacity_type = lifecycle(i.lifecycle(), request.capacity_type);
        let overrides = i
            .launch_template_and_overrides()
            .and_then(|l| l.overrides());
        let Some(instance_type) = i.instance_type().map(|t| t.as_str().to_string()) else {
            continue;
        };
        let subnet_id = overrides.and_then(|o| o.subnet_id());
        let ours = request.find_override(&instance_type, subnet_id);
        for id in i.instance_ids() {
            result.instances.push(LaunchedInstance {
                instance_id: id.clone(),
                instance_type: instance_type.clone(),
                zone: ours
                    .map(|o| o.zone.clone())
                    .or_else(|| {
                        overrides
                            .and_then(|o| o.availability_zone())
                            .map(String::from)
                    })
                    .unwrap_or_default(),
                subnet_id: subnet_id
                    .map(String::from)
                    .or_else(|| ours.map(|o| o.subnet_id.clone()))
                    .unwrap_or_default(),
                capacity_type,
                price: ours.map(|o| o.price).unwrap_or(0.0),
            });
        }
    }
    result
}

impl AwsCloud {
    pub(super) async fn create_instant_fleet(
        &self,
        request: &FleetRequest,
    ) -> Result<FleetResult, CloudError> {
        if request.overrides.is_empty() {
            return Err(CloudError::invalid_request(
                "CreateFleet needs at least one override",
            ));
        }
        let default_type = match request.capacity_type {
            CapacityType::Spot => DefaultTargetCapacityType::Spot,
            CapacityType::OnDemand => DefaultTargetCapacityType::OnDemand,
        };
        let tags = ec2_tags(&request.tags);
        let tag_spec = |r: ResourceType| {
            TagSpecification::builder()
                .resource_type(r)
                .set_tags(Some(tags.clone()))
                .build()
        };
        let out = self
            .ec2
            .create_fleet()
            .r#type(FleetType::Instant)
            .set_launch_template_configs(Some(launch_template_configs(request)))
            .target_capacity_specification(
                TargetCapacitySpecificationRequest::builder()
                    .total_target_capacity(1)
                    .default_target_capacity_type(default_type)
                    .build(),
            )
            .spot_options(
                SpotOptionsRequest::builder()
                    .allocation_strategy(SpotAllocationStrategy::PriceCapacityOptimized)
                    .build(),
            )
            .on_demand_options(
                OnDemandOptionsRequest::builder()
                    .allocation_strategy(FleetOnDemandAllocationStrategy::LowestPrice)
                    .build(),
            )
            .tag_specifications(tag_spec(ResourceType::Instance))
            .tag_specifications(tag_spec(ResourceType::Volume))
            .tag_specifications(tag_spec(ResourceType::Fleet))
            .send()
            .await
            .map_err(|e| from_sdk("CreateFleet", e))?;
        let result = parse_response(request, &out);
        for e in &result.errors {
            tracing::debug!(code = %e.code, pool = ?e.pool, message = %e.message, "CreateFleet pool error");
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::fleet::FleetOverride;
    use aws_sdk_ec2::operation::create_fleet::CreateFleetOutput;
    use aws_sdk_ec2::types::{
        CreateFleetError, CreateFleetInstance, FleetLaunchTemplateOverrides,
        LaunchTemplateAndOverridesResponse,
    };
    use std::collections::BTreeMap;

    fn request() -> FleetRequest {
        let o = |lt: &str, t: &str, s: &str, z: &str, p: f64| FleetOverride {
            launch_template_name: lt.into(),
            instance_type: t.into(),
            subnet_id: s.into(),
            zone: z.into(),
            price: p,
        };
        FleetRequest {
            capacity_type: CapacityType::Spot,
            overrides: vec![
                o("lt-amd", "c5.large", "subnet-a", "za", 0.02),
                o("lt-arm", "m6g.large", "subnet-a", "za", 0.025),
                o("lt-amd", "m5.large", "subnet-b", "zb", 0.03),
            ],
            tags: BTreeMap::new(),
        }
    }

    fn echo(t: &str, subnet: &str) -> LaunchTemplateAndOverridesResponse {
        LaunchTemplateAndOverridesResponse::builder()
            .overrides(
                FleetLaunchTemplateOverrides::builder()
                    .instance_type(ec2::InstanceType::from(t))
                    .subnet_id(subnet)
                    .build(),
            )
            .build()
    }

    #[test]
    fn overrides_are_grouped_per_template_in_price_order() {
        let configs = launch_template_configs(&request());
        let names: Vec<_> = configs
            .iter()
            .map(|c| {
                c.launch_template_specification()
                    .and_then(|s| s.launch_template_name())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(names, ["lt-amd", "lt-arm"]);
        assert_eq!(configs[0].overrides().len(), 2);
        assert_eq!(configs[0].overrides()[1].subnet_id(), Some("subnet-b"));
    }

    #[test]
    fn errors_and_instances_are_mapped_back_to_our_pools() {
        let out = CreateFleetOutput::builder()
            .fleet_id("fleet-1")
            .errors(
                CreateFleetError::builder()
                    .launch_template_and_overrides(echo("c5.large", "subnet-a"))
                    .lifecycle(InstanceLifecycle::Spot)
                    .error_code("InsufficientInstanceCapacity")
                    .error_message("no capacity")
                    .build(),
            )
            .instances(
                CreateFleetInstance::builder()
                    .launch_template_and_overrides(echo("m5.large", "subnet-b"))
                    .lifecycle(InstanceLifecycle::Spot)
                    .instance_type(ec2::InstanceType::M5Large)
                    .instance_ids("i-1")
                    .build(),
            )
            .build();
        let result = parse_response(&request(), &out);
        assert_eq!(
            result.errors[0].pool,
            Some(Pool::new("c5.large", "za", CapacityType::Spot))
        );
        assert_eq!(result.errors[0].code, "InsufficientInstanceCapacity");
        let i = &result.instances[0];
        assert_eq!(
            (
                i.instance_id.as_str(),
                i.zone.as_str(),
                i.subnet_id.as_str(),
                i.price
            ),
            ("i-1", "zb", "subnet-b", 0.03)
        );
    }
}
