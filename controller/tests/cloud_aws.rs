//! The AWS adapter and the launcher against the real local emulator (tests/awsemu: moto with
//! CreateFleet that honours offerings and price order, injectable capacity faults, deterministic
//! spot and Pricing API prices, and the EKS AMI SSM parameters). One emulator process per test.

#[path = "cloud_aws/emulator.rs"]
mod emulator;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use emulator::Emulator;
use karpenter_controller::cloud::launch::Fallback;
use karpenter_controller::cloud::{
    Arch, AwsCloud, AwsSettings, CapacityType, Catalog, CloudError, CloudProvider,
    InstanceTypeInfo, LaunchRequest, Launcher, NodeConfig, Pool, PriceSource, Selector, Subnet,
    UnavailableOfferings, tags,
};
use karpenter_core::bootstrap::AmiFamily;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REGION: &str = "ap-southeast-1";
const CLUSTER: &str = "cloud-test";
const DISCOVERY: &str = "karpenter.sh/discovery";
const ZONES: [&str; 3] = ["ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"];
const K8S: &str = "1.35";

type TestResult = Result<(), String>;

fn e<E: std::fmt::Display>(context: &str) -> impl FnOnce(E) -> String + '_ {
    move |err| format!("{context}: {err}")
}

struct World {
    emu: Emulator,
    sdk: SdkConfig,
    cloud: Arc<AwsCloud>,
    subnets: Vec<Subnet>,
    security_group: String,
}

async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// A VPC with one tagged subnet per zone, an untagged subnet, and a tagged security group.
async fn network(sdk: &SdkConfig) -> Result<String, String> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.40.0.0/16")
        .send()
        .await
        .map_err(e("CreateVpc"))?;
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or("no vpc id")?
        .to_string();
    for (i, zone) in ZONES.iter().enumerate() {
        ec2.create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.40.{i}.0/24"))
            .availability_zone(*zone)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Subnet)
                    .tags(tag(DISCOVERY, CLUSTER))
                    .build(),
            )
            .send()
            .await
            .map_err(e("CreateSubnet"))?;
    }
    ec2.create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.40.100.0/24")
        .availability_zone(ZONES[0])
        .send()
        .await
        .map_err(e("CreateSubnet (untagged)"))?;
    let sg = ec2
        .create_security_group()
        .group_name("nodes")
        .description("nodes")
        .vpc_id(&vpc_id)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(tag(DISCOVERY, CLUSTER))
                .build(),
        )
        .send()
        .await
        .map_err(e("CreateSecurityGroup"))?;
    Ok(sg.group_id().ok_or("no group id")?.to_string())
}

fn selector() -> Selector {
    Selector::from([(DISCOVERY.to_string(), CLUSTER.to_string())])
}

async fn world() -> Result<World, String> {
    let emu = Emulator::start()?;
    let sdk = sdk_config(&emu.endpoint()).await;
    let security_group = network(&sdk).await?;
    let cloud =
        Arc::new(AwsCloud::new(&sdk, AwsSettings::new(CLUSTER)).map_err(e("AwsCloud::new"))?);
    let subnets = cloud.subnets(&selector()).await.map_err(e("subnets"))?;
    Ok(World {
        emu,
        sdk,
        cloud,
        subnets,
        security_group,
    })
}

impl World {
    async fn launch_template(&self) -> Result<String, String> {
        let ami = self
            .cloud
            .ami(AmiFamily::Al2023, K8S, Arch::Amd64)
            .await
            .map_err(e("ami"))?;
        let config = NodeConfig {
            image_id: ami,
            security_group_ids: vec![self.security_group.clone()],
            ..NodeConfig::default()
        };
        Ok(self
            .cloud
            .ensure_launch_template(&config)
            .await
            .map_err(e("ensure_launch_template"))?
            .name)
    }

    /// Small general-purpose amd64 types (2 vCPUs, 4-8 GiB): what a handful of small pods fit.
    async fn candidates(&self) -> Result<Vec<InstanceTypeInfo>, String> {
        let catalog = self.cloud.catalog().await.map_err(e("catalog"))?;
        let types: Vec<InstanceTypeInfo> = catalog
            .types()
            .iter()
            .filter(|t| {
                t.arch == Arch::Amd64
                    && t.vcpus == 2
                    && (4096..=8192).contains(&t.memory_mib)
                    && t.gpus == 0
            })
            .cloned()
            .collect();
        if types.len() < 3 {
            return Err(format!(
                "only {} candidate types in the catalog",
                types.len()
            ));
        }
        Ok(types)
    }

    async fn request(
        &self,
        capacity_types: &[CapacityType],
        spot_quota_fallback: bool,
    ) -> Result<LaunchRequest, String> {
        Ok(LaunchRequest {
            instance_types: self.candidates().await?,
            launch_templates: BTreeMap::from([(Arch::Amd64, self.launch_template().await?)]),
            subnets: self.subnets.clone(),
            zones: None,
            capacity_types: capacity_types.iter().copied().collect(),
            spot_quota_fallback,
            tags: tags::instance_tags(CLUSTER, "default", &BTreeMap::new()),
        })
    }
}

fn launcher(cloud: &Arc<AwsCloud>) -> Launcher {
    Launcher::new(cloud.clone(), Arc::new(UnavailableOfferings::default()))
}

/// Pools of `capacity_type` among the candidates in zones that have a subnet, cheapest first
/// (ties by type then zone, as the launcher orders them).
fn pools_by_price(types: &[InstanceTypeInfo], capacity_type: CapacityType) -> Vec<(f64, Pool)> {
    let mut pools: Vec<(f64, Pool)> = types
        .iter()
        .flat_map(|t| {
            t.offerings
                .iter()
                .filter(|o| o.capacity_type == capacity_type && ZONES.contains(&o.zone.as_str()))
                .map(|o| (o.price, Pool::new(&t.name, &o.zone, capacity_type)))
        })
        .collect();
    pools.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    pools
}

#[tokio::test]
async fn the_catalog_loads_with_api_prices_that_match_the_emulator() -> TestResult {
    let w = world().await?;
    let started = Instant::now();
    let catalog: Arc<Catalog> = w.cloud.catalog().await.map_err(e("catalog"))?;
    eprintln!(
        "catalog: {} types fetched in {:?}",
        catalog.len(),
        started.elapsed()
    );
    assert!(catalog.len() > 100, "only {} types", catalog.len());
    assert_eq!(
        (catalog.on_demand_prices, catalog.spot_prices),
        (PriceSource::Api, PriceSource::Api)
    );

    let m5 = catalog.get("m5.large").ok_or("m5.large missing")?;
    assert_eq!(
        (m5.vcpus, m5.memory_mib, m5.arch, m5.max_pods),
        (2, 8192, Arch::Amd64, 29)
    );
    assert_eq!(
        (
            m5.family.as_str(),
            m5.category.as_str(),
            m5.generation,
            m5.size.as_str()
        ),
        ("m5", "m", 5, "large")
    );
    // moto's DescribeInstanceTypes (AWS's own data) lists m5 as previous generation, m7i as current.
    assert!(!m5.current_generation && !m5.burstable);
    assert!(
        catalog
            .get("m7i.large")
            .is_some_and(|t| t.current_generation)
    );
    assert!(catalog.get("t3.medium").is_some_and(|t| t.burstable));

    let truth = w.emu.prices(REGION, "m5.large")?;
    let od = m5
        .offering(ZONES[0], CapacityType::OnDemand)
        .map(|o| o.price);
    assert_eq!(od, truth["on_demand"].as_f64());
    for zone in ZONES {
        let spot = m5.offering(zone, CapacityType::Spot).map(|o| o.price);
        let want = truth["spot"][zone].as_f64();
        assert!(
            matches!((spot, want), (Some(a), Some(b)) if (a - b).abs() < 1e-6),
            "{zone}: {spot:?} vs {want:?}"
        );
        assert!(spot < od, "spot must be below on-demand in {zone}");
    }

    // Served from memory afterwards; a refresh swaps in a new catalog.
    let again = w.cloud.catalog().await.map_err(e("catalog"))?;
    assert!(Arc::ptr_eq(&catalog, &again));
    let started = Instant::now();
    let refreshed = w.cloud.refresh_catalog().await.map_err(e("refresh"))?;
    eprintln!("catalog refresh: {:?}", started.elapsed());
    assert!(!Arc::ptr_eq(&catalog, &refreshed));
    assert_eq!(refreshed.len(), catalog.len());
    Ok(())
}

#[tokio::test]
async fn subnets_security_groups_and_the_ami_are_found_by_selector_and_version() -> TestResult {
    let w = world().await?;
    let zones: BTreeSet<&str> = w.subnets.iter().map(|s| s.zone.as_str()).collect();
    assert_eq!(
        w.subnets.len(),
        3,
        "the untagged subnet must not match: {:?}",
        w.subnets
    );
    assert_eq!(zones, ZONES.into_iter().collect());
    let any_value = Selector::from([(DISCOVERY.to_string(), "*".to_string())]);
    assert_eq!(
        w.cloud
            .subnets(&any_value)
            .await
            .map_err(e("subnets"))?
            .len(),
        3
    );
    let by_id = Selector::from([("aws-ids".to_string(), w.subnets[0].id.clone())]);
    assert_eq!(
        w.cloud.subnets(&by_id).await.map_err(e("subnets"))?,
        vec![w.subnets[0].clone()]
    );
    let none = Selector::from([(DISCOVERY.to_string(), "other-cluster".to_string())]);
    assert!(
        w.cloud
            .subnets(&none)
            .await
            .map_err(e("subnets"))?
            .is_empty()
    );
    assert!(matches!(
        w.cloud.subnets(&Selector::new()).await,
        Err(CloudError::InvalidRequest(_))
    ));

    let groups = w
        .cloud
        .security_groups(&selector())
        .await
        .map_err(e("security groups"))?;
    assert_eq!(
        groups.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        [w.security_group.as_str()]
    );

    let amd = w
        .cloud
        .ami(AmiFamily::Al2023, K8S, Arch::Amd64)
        .await
        .map_err(e("ami"))?;
    let arm = w
        .cloud
        .ami(AmiFamily::Al2023, K8S, Arch::Arm64)
        .await
        .map_err(e("ami"))?;
    assert!(
        amd.starts_with("ami-") && arm.starts_with("ami-") && amd != arm,
        "{amd} {arm}"
    );
    let bottlerocket = w
        .cloud
        .ami(AmiFamily::Bottlerocket, K8S, Arch::Amd64)
        .await
        .map_err(e("ami"))?;
    assert!(
        bottlerocket.starts_with("ami-") && bottlerocket != amd,
        "{bottlerocket}"
    );
    let missing = w.cloud.ami(AmiFamily::Al2023, "1.9", Arch::Amd64).await;
    assert!(
        missing.as_ref().is_err_and(CloudError::is_not_found),
        "{missing:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_spot_launch_lands_in_the_cheapest_pool_with_our_tags() -> TestResult {
    let w = world().await?;
    let request = w
        .request(&[CapacityType::Spot, CapacityType::OnDemand], false)
        .await?;
    let cheapest = pools_by_price(&request.instance_types, CapacityType::Spot)[0]
        .1
        .clone();
    let launcher = launcher(&w.cloud);
    let started = Instant::now();
    let report = launcher.launch(&request).await;
    eprintln!("spot launch: {:?}", started.elapsed());
    let launched = report.result.map_err(e("launch"))?;
    assert_eq!(
        Pool::new(
            &launched.instance_type,
            &launched.zone,
            launched.capacity_type
        ),
        cheapest
    );
    assert_eq!(report.attempts.len(), 1);
    assert!(report.newly_unavailable.is_empty() && report.fallback.is_none());

    let instances = w.cloud.instances().await.map_err(e("instances"))?;
    let ours = instances
        .iter()
        .find(|i| i.id == launched.instance_id)
        .ok_or("launched instance not listed")?;
    assert_eq!(ours.capacity_type, CapacityType::Spot);
    assert_eq!(ours.provisioner.as_deref(), Some("default"));
    assert_eq!(
        ours.tags.get(tags::CLUSTER).map(String::as_str),
        Some(CLUSTER)
    );
    assert_eq!(
        ours.tags
            .get(&tags::kubernetes_cluster_key(CLUSTER))
            .map(String::as_str),
        Some("owned")
    );
    assert_eq!(
        ours.tags.get(tags::NAME).map(String::as_str),
        Some("cloud-test/default")
    );
    assert_eq!(ours.subnet_id.as_deref(), Some(launched.subnet_id.as_str()));
    Ok(())
}

#[tokio::test]
async fn with_the_cheapest_pool_dry_the_next_one_is_used_and_the_ice_cache_records_it() -> TestResult
{
    let w = world().await?;
    let request = w
        .request(&[CapacityType::Spot, CapacityType::OnDemand], false)
        .await?;
    let pools = pools_by_price(&request.instance_types, CapacityType::Spot);
    let (cheapest, next) = (pools[0].1.clone(), pools[1].1.clone());
    w.emu.fault(
        &cheapest.instance_type,
        &cheapest.zone,
        "spot",
        "InsufficientInstanceCapacity",
    )?;
    let launcher = launcher(&w.cloud);
    let report = launcher.launch(&request).await;
    let launched = report.result.map_err(e("launch"))?;
    assert_eq!(
        Pool::new(
            &launched.instance_type,
            &launched.zone,
            launched.capacity_type
        ),
        next
    );
    assert_eq!(report.newly_unavailable, vec![cheapest.clone()]);
    assert_eq!(
        report.attempts[0]
            .errors_by_code
            .get("InsufficientInstanceCapacity"),
        Some(&1)
    );
    assert!(launcher.ice().is_pool_unavailable(&cheapest));
    assert!(!launcher.ice().is_pool_unavailable(&next));
    Ok(())
}

#[tokio::test]
async fn with_every_spot_pool_dry_the_launch_falls_back_to_the_cheapest_on_demand_pool()
-> TestResult {
    let w = world().await?;
    w.emu
        .fault("*", "*", "spot", "InsufficientInstanceCapacity")?;
    let request = w
        .request(&[CapacityType::Spot, CapacityType::OnDemand], false)
        .await?;
    let cheapest_on_demand = pools_by_price(&request.instance_types, CapacityType::OnDemand)[0].0;
    let launcher = launcher(&w.cloud);
    let started = Instant::now();
    let report = launcher.launch(&request).await;
    eprintln!(
        "launch with spot exhausted: {:?} over {} attempts",
        started.elapsed(),
        report.attempts.len()
    );
    let launched = report.result.map_err(e("launch"))?;
    assert_eq!(launched.capacity_type, CapacityType::OnDemand);
    assert!(
        (launched.price - cheapest_on_demand).abs() < 1e-9,
        "{} vs {cheapest_on_demand}",
        launched.price
    );
    assert_eq!(report.fallback, Some(Fallback::SpotExhausted));
    assert_eq!(
        report.attempts.last().map(|a| a.capacity_type),
        Some(CapacityType::OnDemand)
    );
    let spot_pools = pools_by_price(&request.instance_types, CapacityType::Spot).len();
    assert_eq!(
        report.newly_unavailable.len(),
        spot_pools.min(60 * ZONES.len())
    );
    Ok(())
}

#[tokio::test]
async fn the_spot_quota_surfaces_as_its_own_error_and_is_not_an_ice() -> TestResult {
    let w = world().await?;
    w.emu
        .fault("*", "*", "spot", "MaxSpotInstanceCountExceeded")?;
    let request = w
        .request(&[CapacityType::Spot, CapacityType::OnDemand], false)
        .await?;
    let launcher = launcher(&w.cloud);
    let report = launcher.launch(&request).await;
    let err = report
        .result
        .err()
        .ok_or("the launch succeeded despite the quota")?;
    assert!(err.is_spot_quota_exceeded(), "{err}");
    assert_eq!(err.code(), Some("MaxSpotInstanceCountExceeded"));
    assert!(report.spot_quota_exceeded && report.attempts.len() == 1);
    assert!(launcher.ice().entries().is_empty());
    assert!(
        w.cloud
            .instances()
            .await
            .map_err(e("instances"))?
            .is_empty()
    );

    // With the fallback setting on, the same quota leads to on-demand, still reported.
    let mut request = request;
    request.spot_quota_fallback = true;
    let report = launcher.launch(&request).await;
    assert_eq!(
        report.result.map_err(e("launch"))?.capacity_type,
        CapacityType::OnDemand
    );
    assert_eq!(report.fallback, Some(Fallback::SpotQuotaExceeded));
    assert!(report.spot_quota_exceeded);
    Ok(())
}

#[tokio::test]
async fn terminating_twice_or_an_unknown_instance_is_fine() -> TestResult {
    let w = world().await?;
    let request = w.request(&[CapacityType::OnDemand], false).await?;
    let launched = launcher(&w.cloud)
        .launch(&request)
        .await
        .result
        .map_err(e("launch"))?;
    let id = launched.instance_id;
    w.cloud
        .terminate(std::slice::from_ref(&id))
        .await
        .map_err(e("terminate"))?;
    w.cloud
        .terminate(std::slice::from_ref(&id))
        .await
        .map_err(e("terminate again"))?;
    let unknown = "i-0123456789abcdef0".to_string();
    w.cloud
        .terminate(&[unknown, id.clone()])
        .await
        .map_err(e("terminate with an unknown id"))?;
    w.cloud
        .terminate(&[])
        .await
        .map_err(e("terminate nothing"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = w.cloud.instances().await.map_err(e("instances"))?;
        if live.iter().all(|i| i.id != id) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{id} still listed after terminate: {live:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test]
async fn launch_templates_are_created_once_per_configuration_and_deletable() -> TestResult {
    let w = world().await?;
    let ami = w
        .cloud
        .ami(AmiFamily::Al2023, K8S, Arch::Amd64)
        .await
        .map_err(e("ami"))?;
    let config = NodeConfig {
        image_id: ami.clone(),
        security_group_ids: vec![w.security_group.clone()],
        ..NodeConfig::default()
    };
    let first = w
        .cloud
        .ensure_launch_template(&config)
        .await
        .map_err(e("ensure"))?;
    let again = w
        .cloud
        .ensure_launch_template(&config)
        .await
        .map_err(e("ensure again"))?;
    assert_eq!(first.id, again.id);
    // A second controller process (no memory of the first) finds the same template.
    let other = AwsCloud::new(&w.sdk, AwsSettings::new(CLUSTER)).map_err(e("AwsCloud::new"))?;
    assert_eq!(
        other
            .ensure_launch_template(&config)
            .await
            .map_err(e("ensure elsewhere"))?
            .id,
        first.id
    );

    let changed = NodeConfig {
        user_data: Some("#!/bin/bash\necho changed".into()),
        ..config.clone()
    };
    let second = w
        .cloud
        .ensure_launch_template(&changed)
        .await
        .map_err(e("ensure changed"))?;
    assert_ne!(second.name, first.name);

    let listed = w.cloud.launch_templates().await.map_err(e("list"))?;
    let names: BTreeSet<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([first.name.as_str(), second.name.as_str()])
    );
    assert!(
        listed
            .iter()
            .all(|t| t.tags.get(tags::CLUSTER).map(String::as_str) == Some(CLUSTER))
    );
    // Another cluster's templates are not ours.
    let foreign =
        AwsCloud::new(&w.sdk, AwsSettings::new("another-cluster")).map_err(e("AwsCloud::new"))?;
    assert!(
        foreign
            .launch_templates()
            .await
            .map_err(e("list foreign"))?
            .is_empty()
    );

    w.cloud
        .delete_launch_template(&first.name)
        .await
        .map_err(e("delete"))?;
    w.cloud
        .delete_launch_template(&first.name)
        .await
        .map_err(e("delete again"))?;
    let left: Vec<String> = w
        .cloud
        .launch_templates()
        .await
        .map_err(e("list"))?
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(left, vec![second.name.clone()]);
    // Deleted means recreated on next use, not served from a stale memory.
    let recreated = w
        .cloud
        .ensure_launch_template(&config)
        .await
        .map_err(e("recreate"))?;
    assert_ne!(recreated.id, first.id);
    Ok(())
}

/// Runs in a child process (see the next test) so that the environment can be set without
/// touching this process's own.
#[tokio::test]
#[ignore = "run by aws_endpoint_url_in_the_environment_reaches_the_emulator in a child process"]
async fn child_from_env() -> TestResult {
    let settings = AwsSettings::new(CLUSTER);
    let sdk = AwsCloud::sdk_config(&settings).await;
    let cloud = AwsCloud::new(&sdk, settings).map_err(e("from the environment"))?;
    assert_eq!(cloud.region(), REGION);
    let ami = cloud
        .ami(AmiFamily::Al2023, K8S, Arch::Arm64)
        .await
        .map_err(e("ami"))?;
    assert!(ami.starts_with("ami-"));
    Ok(())
}

#[tokio::test]
async fn aws_endpoint_url_in_the_environment_reaches_the_emulator() -> TestResult {
    let emu = Emulator::start()?;
    let exe = std::env::current_exe().map_err(e("current_exe"))?;
    let output = std::process::Command::new(exe)
        .args(["--ignored", "--exact", "child_from_env", "--nocapture"])
        .env("AWS_ENDPOINT_URL", emu.endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .map_err(e("running the child"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child did not run the test:\n{stdout}"
    );
    Ok(())
}
