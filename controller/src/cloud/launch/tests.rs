use super::*;
use crate::clock::ManualClock;
use crate::cloud::catalog::{Catalog, PriceSource};
use crate::cloud::double::RecordingCloud;
use crate::cloud::error::codes;
use crate::cloud::test_support::{instance_type, subnet};
use std::time::{Duration, SystemTime};

struct Fixture {
    cloud: Arc<RecordingCloud>,
    launcher: Launcher,
    clock: ManualClock,
    request: LaunchRequest,
}

/// Three types in zones a and b: c5.large is cheapest (a then b), then m5.large, then m5.xlarge.
fn fixture(capacity_types: &[CapacityType], spot_quota_fallback: bool) -> Fixture {
    let types = vec![
        instance_type("m5.xlarge", &[("a", 0.09), ("b", 0.08)]),
        instance_type("c5.large", &[("a", 0.02), ("b", 0.03)]),
        instance_type("m5.large", &[("a", 0.05), ("b", 0.04)]),
    ];
    let subnets = vec![subnet("subnet-a", "a", 100), subnet("subnet-b", "b", 100)];
    let catalog = Catalog::new(
        "test",
        SystemTime::UNIX_EPOCH,
        PriceSource::Api,
        PriceSource::Api,
        types.clone(),
    );
    let cloud = Arc::new(RecordingCloud::new(
        Some(Arc::new(catalog)),
        subnets.clone(),
        Vec::new(),
    ));
    let clock = ManualClock::new();
    let ice = Arc::new(UnavailableOfferings::new(
        Duration::from_secs(180),
        Arc::new(clock.clone()),
    ));
    let launcher = Launcher::new(cloud.clone(), ice);
    let request = LaunchRequest {
        instance_types: types,
        launch_templates: BTreeMap::from([(Arch::Amd64, "lt".to_string())]),
        subnets,
        zones: None,
        capacity_types: capacity_types.iter().copied().collect(),
        spot_quota_fallback,
        tags: BTreeMap::from([(
            "karpenter.sh/provisioner-name".to_string(),
            "default".to_string(),
        )]),
    };
    Fixture {
        cloud,
        launcher,
        clock,
        request,
    }
}

fn pool(t: &str, zone: &str, ct: CapacityType) -> Pool {
    Pool::new(t, zone, ct)
}

const BOTH: [CapacityType; 2] = [CapacityType::Spot, CapacityType::OnDemand];

#[tokio::test]
async fn spot_is_tried_first_with_the_cheapest_pool_leading_the_overrides() {
    let f = fixture(&BOTH, false);
    let report = f.launcher.launch(&f.request).await;
    let launched = report.result.clone().ok();
    assert_eq!(
        launched
            .as_ref()
            .map(|i| (i.instance_type.as_str(), i.zone.as_str())),
        Some(("c5.large", "a"))
    );
    assert_eq!(launched.map(|i| i.capacity_type), Some(CapacityType::Spot));
    let requests = f.cloud.fleet_requests();
    assert_eq!(requests.len(), 1);
    let order: Vec<(&str, &str)> = requests[0]
        .overrides
        .iter()
        .map(|o| (o.instance_type.as_str(), o.zone.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("c5.large", "a"),
            ("c5.large", "b"),
            ("m5.large", "b"),
            ("m5.large", "a"),
            ("m5.xlarge", "b"),
            ("m5.xlarge", "a")
        ]
    );
    assert_eq!(
        requests[0]
            .tags
            .get("karpenter.sh/provisioner-name")
            .map(String::as_str),
        Some("default")
    );
    assert!(report.fallback.is_none() && report.newly_unavailable.is_empty());
}

#[tokio::test]
async fn a_dry_cheapest_pool_is_skipped_marked_and_left_out_of_the_next_launch() {
    let f = fixture(&BOTH, false);
    f.cloud.fault(
        pool("c5.large", "a", CapacityType::Spot),
        codes::INSUFFICIENT_INSTANCE_CAPACITY,
    );
    let report = f.launcher.launch(&f.request).await;
    assert_eq!(
        report.result.as_ref().ok().map(|i| i.zone.as_str()),
        Some("b")
    );
    assert_eq!(
        report.newly_unavailable,
        vec![pool("c5.large", "a", CapacityType::Spot)]
    );
    assert_eq!(
        report.attempts[0]
            .errors_by_code
            .get(codes::INSUFFICIENT_INSTANCE_CAPACITY),
        Some(&1)
    );
    assert!(
        f.launcher
            .ice()
            .is_unavailable("c5.large", "a", CapacityType::Spot)
    );

    f.launcher.launch(&f.request).await;
    let second = &f.cloud.fleet_requests()[1];
    assert!(
        second
            .overrides
            .iter()
            .all(|o| !(o.instance_type == "c5.large" && o.zone == "a"))
    );
    assert_eq!(second.overrides.len(), 5);
}

#[tokio::test]
async fn every_spot_pool_dry_falls_back_to_on_demand() {
    let f = fixture(&BOTH, false);
    for t in ["c5.large", "m5.large", "m5.xlarge"] {
        for z in ["a", "b"] {
            f.cloud.fault(
                pool(t, z, CapacityType::Spot),
                codes::UNFULFILLABLE_CAPACITY,
            );
        }
    }
    let report = f.launcher.launch(&f.request).await;
    assert_eq!(
        report.result.as_ref().ok().map(|i| i.capacity_type),
        Some(CapacityType::OnDemand)
    );
    assert_eq!(
        report
            .result
            .as_ref()
            .ok()
            .map(|i| i.instance_type.as_str()),
        Some("c5.large")
    );
    assert_eq!(report.fallback, Some(Fallback::SpotExhausted));
    assert_eq!(report.newly_unavailable.len(), 6);
    let kinds: Vec<CapacityType> = report.attempts.iter().map(|a| a.capacity_type).collect();
    assert_eq!(kinds, [CapacityType::Spot, CapacityType::OnDemand]);
}

#[tokio::test]
async fn without_on_demand_an_exhausted_spot_market_is_an_insufficient_capacity_error() {
    let f = fixture(&[CapacityType::Spot], false);
    f.cloud.fault(
        pool("c5.large", "a", CapacityType::Spot),
        codes::INSUFFICIENT_INSTANCE_CAPACITY,
    );
    f.cloud.fault(
        pool("c5.large", "b", CapacityType::Spot),
        codes::INSUFFICIENT_INSTANCE_CAPACITY,
    );
    let mut request = f.request.clone();
    request.instance_types.retain(|t| t.name == "c5.large");
    let report = f.launcher.launch(&request).await;
    let err = report.result.err();
    assert!(
        err.as_ref()
            .is_some_and(CloudError::is_insufficient_capacity),
        "{err:?}"
    );
    assert_eq!(err.map(|e| e.pools().len()), Some(2));
    assert!(report.fallback.is_none());
    assert!(
        f.cloud
            .fleet_requests()
            .iter()
            .all(|r| r.capacity_type == CapacityType::Spot)
    );
}

#[tokio::test]
async fn a_launch_retries_at_once_with_the_pools_beyond_the_first_sixty() {
    let mut f = fixture(&[CapacityType::Spot], false);
    f.request.instance_types = (0..61)
        .map(|i| instance_type(&format!("x{i:02}.large"), &[("a", 0.01 * f64::from(i + 1))]))
        .collect();
    for i in 0..60 {
        f.cloud.fault(
            pool(&format!("x{i:02}.large"), "a", CapacityType::Spot),
            codes::INSUFFICIENT_INSTANCE_CAPACITY,
        );
    }
    let report = f.launcher.launch(&f.request).await;
    assert_eq!(
        report
            .result
            .as_ref()
            .ok()
            .map(|i| i.instance_type.as_str()),
        Some("x60.large")
    );
    let sizes: Vec<usize> = f
        .cloud
        .fleet_requests()
        .iter()
        .map(|r| r.overrides.len())
        .collect();
    assert_eq!(sizes, [60, 1]);
}

#[tokio::test]
async fn the_spot_quota_stops_the_launch_when_fallback_is_off() {
    let f = fixture(&BOTH, false);
    f.cloud.fault(
        pool("c5.large", "a", CapacityType::Spot),
        codes::MAX_SPOT_INSTANCE_COUNT_EXCEEDED,
    );
    for t in ["c5.large", "m5.large", "m5.xlarge"] {
        for z in ["a", "b"] {
            f.cloud.fault(
                pool(t, z, CapacityType::Spot),
                codes::MAX_SPOT_INSTANCE_COUNT_EXCEEDED,
            );
        }
    }
    let report = f.launcher.launch(&f.request).await;
    let err = report.result.err();
    assert!(
        err.as_ref().is_some_and(CloudError::is_spot_quota_exceeded),
        "{err:?}"
    );
    assert!(report.spot_quota_exceeded);
    assert_eq!(f.cloud.fleet_requests().len(), 1);
    // The quota is not a pool problem: nothing goes into the ICE cache.
    assert!(f.launcher.ice().entries().is_empty());
}

#[tokio::test]
async fn the_spot_quota_falls_back_to_on_demand_when_allowed_and_still_reports_it() {
    let f = fixture(&BOTH, true);
    f.cloud.fail_next_fleet(CloudError::spot_quota_exceeded(
        "Max spot instance count exceeded",
    ));
    let report = f.launcher.launch(&f.request).await;
    assert_eq!(
        report.result.as_ref().ok().map(|i| i.capacity_type),
        Some(CapacityType::OnDemand)
    );
    assert_eq!(report.fallback, Some(Fallback::SpotQuotaExceeded));
    assert!(report.spot_quota_exceeded);
    assert_eq!(report.attempts.len(), 2);
}

#[tokio::test]
async fn an_error_that_is_not_about_capacity_ends_the_launch_at_once() {
    let f = fixture(&BOTH, true);
    f.cloud.fail_next_fleet(CloudError::unauthorized(
        "CreateFleet",
        "UnauthorizedOperation",
        "no",
    ));
    let report = f.launcher.launch(&f.request).await;
    assert!(
        report
            .result
            .as_ref()
            .err()
            .is_some_and(CloudError::is_unauthorized)
    );
    assert_eq!(report.attempts.len(), 1);
}

#[tokio::test]
async fn only_on_demand_allowed_never_asks_for_spot() {
    let f = fixture(&[CapacityType::OnDemand], false);
    let report = f.launcher.launch(&f.request).await;
    assert_eq!(
        report.result.as_ref().ok().map(|i| i.capacity_type),
        Some(CapacityType::OnDemand)
    );
    assert!(
        f.cloud
            .fleet_requests()
            .iter()
            .all(|r| r.capacity_type == CapacityType::OnDemand)
    );
    assert!(report.fallback.is_none());
}

#[tokio::test]
async fn a_dry_pool_comes_back_after_the_ttl() {
    let f = fixture(&[CapacityType::Spot], false);
    f.cloud.fault(
        pool("c5.large", "a", CapacityType::Spot),
        codes::INSUFFICIENT_INSTANCE_CAPACITY,
    );
    f.launcher.launch(&f.request).await;
    f.cloud.clear_faults();
    f.clock.advance(Duration::from_secs(179));
    let report = f.launcher.launch(&f.request).await;
    assert_eq!(
        report.result.as_ref().ok().map(|i| i.zone.as_str()),
        Some("b")
    );
    f.clock.advance(Duration::from_secs(1));
    let report = f.launcher.launch(&f.request).await;
    assert_eq!(
        report
            .result
            .as_ref()
            .ok()
            .map(|i| (i.instance_type.as_str(), i.zone.as_str())),
        Some(("c5.large", "a"))
    );
}

#[tokio::test]
async fn no_allowed_capacity_type_is_an_invalid_request_without_any_call() {
    let f = fixture(&[], false);
    let report = f.launcher.launch(&f.request).await;
    assert!(matches!(report.result, Err(CloudError::InvalidRequest(_))));
    assert!(f.cloud.calls().is_empty());
}
