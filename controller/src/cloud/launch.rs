//! Launching one node: CreateFleet with the cheapest pools left, marking dry pools in the ICE cache
//! and retrying at once with what remains, spot first and on-demand when spot is exhausted.
//!
//! The launcher decides nothing about pods: the caller says which capacity types the pods allow
//! and whether an exhausted spot quota may fall back. It returns what happened (every attempt and
//! its errors by code) so the caller emits the events, metrics and log lines.

use super::catalog::InstanceTypeInfo;
use super::error::CloudError;
use super::fleet::{FleetRequest, LaunchedInstance};
use super::ice::UnavailableOfferings;
use super::overrides::{self, Candidates};
use super::provider::CloudProvider;
use super::types::{Arch, CapacityType, Pool, Subnet};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A code of ours (not AWS's) for "every pool that fits is in the ICE cache or has no subnet".
pub const NO_AVAILABLE_OFFERING: &str = "NoAvailableOffering";

#[derive(Clone, Debug)]
pub struct LaunchRequest {
    pub instance_types: Vec<InstanceTypeInfo>,
    pub launch_templates: BTreeMap<Arch, String>,
    pub subnets: Vec<Subnet>,
    pub zones: Option<BTreeSet<String>>,
    /// Allowed capacity types; spot is tried first whenever it is allowed.
    pub capacity_types: BTreeSet<CapacityType>,
    /// Whether MaxSpotInstanceCountExceeded may fall back to on-demand (when on-demand is allowed).
    pub spot_quota_fallback: bool,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub capacity_type: CapacityType,
    pub overrides: usize,
    pub errors_by_code: BTreeMap<String, u32>,
    /// The call's own failure, or why this attempt launched nothing.
    pub error: Option<CloudError>,
    pub launched: bool,
}

/// Why the launch moved from spot to on-demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    SpotExhausted,
    SpotQuotaExceeded,
}

#[derive(Clone, Debug)]
pub struct LaunchReport {
    pub result: Result<LaunchedInstance, CloudError>,
    pub attempts: Vec<Attempt>,
    /// Pools this launch put into the ICE cache.
    pub newly_unavailable: Vec<Pool>,
    pub fallback: Option<Fallback>,
    /// True when any attempt hit the spot quota, even if on-demand then succeeded: the quota alarm
    /// must fire either way.
    pub spot_quota_exceeded: bool,
}

pub struct Launcher {
    cloud: Arc<dyn CloudProvider>,
    ice: Arc<UnavailableOfferings>,
    max_attempts: usize,
}

/// Each attempt removes at least one pool or ends the capacity type, so this only bounds the
/// pathological case of an EC2 that keeps failing without naming pools.
pub const DEFAULT_MAX_ATTEMPTS: usize = 12;

impl Launcher {
    pub fn new(cloud: Arc<dyn CloudProvider>, ice: Arc<UnavailableOfferings>) -> Self {
        Launcher {
            cloud,
            ice,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    pub fn with_max_attempts(mut self, max_attempts: usize) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    pub fn ice(&self) -> &Arc<UnavailableOfferings> {
        &self.ice
    }

    pub async fn launch(&self, req: &LaunchRequest) -> LaunchReport {
        let order: Vec<CapacityType> = [CapacityType::Spot, CapacityType::OnDemand]
            .into_iter()
            .filter(|c| req.capacity_types.contains(c))
            .collect();
        let mut report = LaunchReport {
            result: Err(CloudError::invalid_request("no capacity type allowed")),
            attempts: Vec::new(),
            newly_unavailable: Vec::new(),
            fallback: None,
            spot_quota_exceeded: false,
        };
        let mut last_error: Option<CloudError> = None;
        let candidates = Candidates {
            instance_types: &req.instance_types,
            subnets: &req.subnets,
            zones: req.zones.as_ref(),
            launch_templates: &req.launch_templates,
        };
        let mut index = 0;
        while index < order.len() && report.attempts.len() < self.max_attempts {
            let capacity_type = order[index];
            let chosen = overrides::select(&candidates, capacity_type, &self.ice);
            if chosen.is_empty() {
                index += 1;
                if capacity_type == CapacityType::Spot
                    && report.fallback.is_none()
                    && index < order.len()
                {
                    report.fallback = Some(Fallback::SpotExhausted);
                }
                continue;
            }
            let request = FleetRequest {
                capacity_type,
                overrides: chosen,
                tags: req.tags.clone(),
            };
            let mut attempt = Attempt {
                capacity_type,
                overrides: request.overrides.len(),
                errors_by_code: BTreeMap::new(),
                error: None,
                launched: false,
            };
            let outcome = match self.cloud.create_fleet(&request).await {
                Ok(result) => {
                    attempt.errors_by_code = result.errors_by_code();
                    let mut marked_any = false;
                    for (pool, code) in result.capacity_failures() {
                        if self.ice.mark(pool.clone(), code) {
                            report.newly_unavailable.push(pool);
                        }
                        marked_any = true;
                    }
                    result.into_outcome().map_err(|e| (e, marked_any))
                }
                Err(e) => Err((e, false)),
            };
            match outcome {
                Ok(instance) => {
                    attempt.launched = true;
                    report.attempts.push(attempt);
                    report.result = Ok(instance);
                    return report;
                }
                Err((e, marked_any)) => {
                    attempt.error = Some(e.clone());
                    report.attempts.push(attempt);
                    if e.is_spot_quota_exceeded() && capacity_type == CapacityType::Spot {
                        report.spot_quota_exceeded = true;
                        if !req.spot_quota_fallback {
                            report.result = Err(e);
                            return report;
                        }
                        index += 1;
                        if index < order.len() {
                            report.fallback = Some(Fallback::SpotQuotaExceeded);
                        }
                    } else if e.is_insufficient_capacity() {
                        // Named pools are now excluded, so the next round offers what is left;
                        // without names, the same request would fail again.
                        if !marked_any {
                            index += 1;
                        }
                    } else {
                        report.result = Err(e);
                        return report;
                    }
                    last_error = Some(e);
                }
            }
        }
        report.result = Err(match last_error {
            Some(e) => e,
            None if order.is_empty() => CloudError::invalid_request("no capacity type allowed"),
            None => CloudError::insufficient_capacity(NO_AVAILABLE_OFFERING, Vec::new()),
        });
        report
    }
}

#[cfg(test)]
mod tests;
