//! CreateFleet as the seam sees it: the request (one capacity type, priced overrides) and the
//! result (instances plus per-pool errors), and the pure classification of those errors.

use super::error::{CloudError, codes};
use super::types::{CapacityType, Pool};
use std::collections::BTreeMap;

/// One (instance type, subnet) the fleet may launch in. `price` is our catalog's $/h, kept so the
/// result can say what the node costs; EC2 orders by its own prices.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetOverride {
    /// Overrides of one template become one LaunchTemplateConfig (templates differ by arch/AMI).
    pub launch_template_name: String,
    pub instance_type: String,
    pub subnet_id: String,
    pub zone: String,
    pub price: f64,
}

impl FleetOverride {
    pub fn pool(&self, capacity_type: CapacityType) -> Pool {
        Pool::new(&self.instance_type, &self.zone, capacity_type)
    }
}

/// An `instant` fleet for one instance of one capacity type.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetRequest {
    pub capacity_type: CapacityType,
    /// Cheapest first; at most [`super::overrides::MAX_INSTANCE_TYPES`] types.
    pub overrides: Vec<FleetOverride>,
    /// Applied to the instance, its volumes and the fleet.
    pub tags: BTreeMap<String, String>,
}

impl FleetRequest {
    /// The override a launched instance or an error refers to; EC2 echoes type and subnet.
    pub fn find_override(
        &self,
        instance_type: &str,
        subnet_id: Option<&str>,
    ) -> Option<&FleetOverride> {
        self.overrides.iter().find(|o| {
            o.instance_type == instance_type && subnet_id.is_none_or(|s| s == o.subnet_id)
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LaunchedInstance {
    pub instance_id: String,
    pub instance_type: String,
    pub zone: String,
    pub subnet_id: String,
    pub capacity_type: CapacityType,
    pub price: f64,
}

/// One entry of CreateFleet's `Errors`.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetError {
    /// Absent when EC2 did not say which override failed.
    pub pool: Option<Pool>,
    pub subnet_id: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct FleetResult {
    pub fleet_id: Option<String>,
    pub instances: Vec<LaunchedInstance>,
    pub errors: Vec<FleetError>,
}

impl FleetResult {
    /// Pools that reported a capacity error, whether or not the fleet launched elsewhere: the
    /// caller marks them unavailable either way.
    pub fn capacity_failures(&self) -> Vec<(Pool, &str)> {
        let mut out: Vec<(Pool, &str)> = self
            .errors
            .iter()
            .filter(|e| codes::is_capacity(&e.code))
            .filter_map(|e| e.pool.clone().map(|p| (p, e.code.as_str())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Count of errors by AWS code, for metrics and the launch report.
    pub fn errors_by_code(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for e in &self.errors {
            *out.entry(e.code.clone()).or_insert(0) += 1;
        }
        out
    }

    /// The launched instance, or the error that explains why there is none. The spot quota wins
    /// over capacity errors (it is account-wide and needs a human), capacity errors over the rest
    /// (they are the ones a retry elsewhere can fix).
    pub fn into_outcome(self) -> Result<LaunchedInstance, CloudError> {
        if let Some(instance) = self.instances.into_iter().next() {
            return Ok(instance);
        }
        if let Some(e) = self
            .errors
            .iter()
            .find(|e| e.code == codes::MAX_SPOT_INSTANCE_COUNT_EXCEEDED)
        {
            return Err(CloudError::spot_quota_exceeded(e.message.clone()));
        }
        let capacity: Vec<&FleetError> = self
            .errors
            .iter()
            .filter(|e| codes::is_capacity(&e.code))
            .collect();
        if let Some(first) = capacity.first() {
            let mut pools: Vec<Pool> = capacity.iter().filter_map(|e| e.pool.clone()).collect();
            pools.sort();
            pools.dedup();
            return Err(CloudError::insufficient_capacity(first.code.clone(), pools));
        }
        match self.errors.into_iter().next() {
            Some(e) => Err(CloudError::from_code("CreateFleet", &e.code, &e.message)),
            None => Err(CloudError::aws(
                "CreateFleet",
                None,
                "the fleet launched no instance and reported no error",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(t: &str, zone: &str, ct: CapacityType, code: &str) -> FleetError {
        FleetError {
            pool: Some(Pool::new(t, zone, ct)),
            subnet_id: Some(format!("subnet-{zone}")),
            code: code.into(),
            message: format!("{code} for {t}"),
        }
    }

    fn launched() -> LaunchedInstance {
        LaunchedInstance {
            instance_id: "i-1".into(),
            instance_type: "m5.large".into(),
            zone: "b".into(),
            subnet_id: "subnet-b".into(),
            capacity_type: CapacityType::Spot,
            price: 0.03,
        }
    }

    #[test]
    fn a_launch_after_failed_pools_succeeds_and_still_names_the_failed_pools() {
        let result = FleetResult {
            fleet_id: Some("fleet-1".into()),
            instances: vec![launched()],
            errors: vec![
                error(
                    "c5.large",
                    "a",
                    CapacityType::Spot,
                    codes::INSUFFICIENT_INSTANCE_CAPACITY,
                ),
                error("c5.large", "b", CapacityType::Spot, "Unsupported"),
            ],
        };
        let failures = result.capacity_failures();
        assert_eq!(
            failures,
            vec![(
                Pool::new("c5.large", "a", CapacityType::Spot),
                codes::INSUFFICIENT_INSTANCE_CAPACITY
            )]
        );
        assert_eq!(result.errors_by_code().get("Unsupported"), Some(&1));
        assert_eq!(
            result.into_outcome().map(|i| i.instance_id),
            Ok("i-1".to_string())
        );
    }

    #[test]
    fn every_capacity_code_marks_its_pool() {
        let result = FleetResult {
            errors: vec![
                error(
                    "a.large",
                    "z1",
                    CapacityType::Spot,
                    codes::INSUFFICIENT_INSTANCE_CAPACITY,
                ),
                error(
                    "b.large",
                    "z1",
                    CapacityType::Spot,
                    codes::UNFULFILLABLE_CAPACITY,
                ),
                error(
                    "c.large",
                    "z2",
                    CapacityType::OnDemand,
                    codes::INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET,
                ),
                error("d.large", "z2", CapacityType::Spot, "VcpuLimitExceeded"),
            ],
            ..FleetResult::default()
        };
        assert_eq!(result.capacity_failures().len(), 3);
        let err = result.into_outcome().err();
        assert!(
            err.as_ref()
                .is_some_and(CloudError::is_insufficient_capacity),
            "{err:?}"
        );
        assert_eq!(err.map(|e| e.pools().len()), Some(3));
    }

    #[test]
    fn the_spot_quota_is_reported_as_its_own_error_even_beside_capacity_errors() {
        let result = FleetResult {
            errors: vec![
                error(
                    "a.large",
                    "z1",
                    CapacityType::Spot,
                    codes::INSUFFICIENT_INSTANCE_CAPACITY,
                ),
                error(
                    "b.large",
                    "z1",
                    CapacityType::Spot,
                    codes::MAX_SPOT_INSTANCE_COUNT_EXCEEDED,
                ),
            ],
            ..FleetResult::default()
        };
        let err = result.into_outcome().err();
        assert!(
            err.as_ref().is_some_and(CloudError::is_spot_quota_exceeded),
            "{err:?}"
        );
        assert_eq!(
            err.as_ref().and_then(CloudError::code),
            Some("MaxSpotInstanceCountExceeded")
        );
    }

    #[test]
    fn other_errors_keep_their_code_and_an_empty_result_is_still_an_error() {
        let result = FleetResult {
            errors: vec![error(
                "a.large",
                "z1",
                CapacityType::Spot,
                "VcpuLimitExceeded",
            )],
            ..FleetResult::default()
        };
        let err = result.into_outcome().err();
        assert_eq!(
            err.as_ref().and_then(CloudError::code),
            Some("VcpuLimitExceeded")
        );
        assert!(FleetResult::default().into_outcome().is_err());
    }
}
