//! A test double of the cloud seam: records every call and answers from a scripted EC2 whose pools
//! can be faulted, for unit tests of the logic above the seam (the launcher here; provisioning and
//! termination elsewhere). The AWS adapter is proven against the emulator, never with this.

use super::catalog::Catalog;
use super::error::CloudError;
use super::fleet::{FleetError, FleetRequest, FleetResult, LaunchedInstance};
use super::launch_template::{LaunchTemplate, NodeConfig};
use super::provider::{CloudProvider, EksCluster, Selector};
use super::types::{Arch, Instance, InstanceState, Pool, SecurityGroup, Subnet};
use async_trait::async_trait;
use karpenter_core::bootstrap::AmiFamily;
use karpenter_core::bootstrap::ami_selector::{Image, ImageQuery};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Catalog,
    Subnets(Selector),
    SecurityGroups(Selector),
    Ami(AmiFamily, String, Arch),
    Cluster,
    Images(ImageQuery),
    EnsureLaunchTemplate(NodeConfig),
    LaunchTemplates,
    DeleteLaunchTemplate(String),
    CreateFleet(FleetRequest),
    Instances,
    Terminate(Vec<String>),
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    faults: HashMap<Pool, String>,
    fleet_error: Option<CloudError>,
    templates: BTreeMap<String, LaunchTemplate>,
    instances: BTreeMap<String, Instance>,
    next_id: u64,
}

/// EC2 as the double plays it: CreateFleet walks the overrides in the order given (the launcher
/// sends them cheapest first), reports each faulted pool in `Errors` and launches in the first
/// pool that is not faulted.
pub struct RecordingCloud {
    catalog: Option<Arc<Catalog>>,
    subnets: Vec<Subnet>,
    security_groups: Vec<SecurityGroup>,
    state: Mutex<State>,
}

impl RecordingCloud {
    pub fn new(
        catalog: Option<Arc<Catalog>>,
        subnets: Vec<Subnet>,
        security_groups: Vec<SecurityGroup>,
    ) -> Self {
        RecordingCloud {
            catalog,
            subnets,
            security_groups,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every launch in `pool` fails with `code` until cleared.
    pub fn fault(&self, pool: Pool, code: &str) {
        self.state().faults.insert(pool, code.to_string());
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// The next CreateFleet call fails as a whole with `error`.
    pub fn fail_next_fleet(&self, error: CloudError) {
        self.state().fleet_error = Some(error);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    pub fn fleet_requests(&self) -> Vec<FleetRequest> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::CreateFleet(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn record(&self, call: Call) {
        self.state().calls.push(call);
    }
}

fn matches(selector: &Selector, id: &str, tags: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| {
        if k == super::provider::SELECTOR_IDS_KEY {
            return v.split(',').any(|x| x.trim() == id);
        }
        tags.get(k).is_some_and(|have| {
            v == super::provider::SELECTOR_ANY_VALUE || v.split(',').any(|x| x.trim() == have)
        })
    })
}

#[async_trait]
impl CloudProvider for RecordingCloud {
    async fn catalog(&self) -> Result<Arc<Catalog>, CloudError> {
        self.record(Call::Catalog);
        self.catalog.clone().ok_or_else(|| {
            CloudError::aws("DescribeInstanceTypes", None, "the double has no catalog")
        })
    }

    async fn subnets(&self, selector: &Selector) -> Result<Vec<Subnet>, CloudError> {
        self.record(Call::Subnets(selector.clone()));
        if selector.is_empty() {
            return Err(CloudError::invalid_request("empty subnet selector"));
        }
        Ok(self
            .subnets
            .iter()
            .filter(|s| matches(selector, &s.id, &s.tags))
            .cloned()
            .collect())
    }

    async fn security_groups(&self, selector: &Selector) -> Result<Vec<SecurityGroup>, CloudError> {
        self.record(Call::SecurityGroups(selector.clone()));
        if selector.is_empty() {
            return Err(CloudError::invalid_request("empty security group selector"));
        }
        Ok(self
            .security_groups
            .iter()
            .filter(|s| matches(selector, &s.id, &s.tags))
            .cloned()
            .collect())
    }

    async fn ami(
        &self,
        family: AmiFamily,
        kubernetes_version: &str,
        arch: Arch,
    ) -> Result<String, CloudError> {
        self.record(Call::Ami(family, kubernetes_version.to_string(), arch));
        Ok(format!(
            "ami-{}-{}-{}",
            family.as_str().to_ascii_lowercase(),
            kubernetes_version.replace('.', ""),
            arch.aws_name()
        ))
    }

    /// One image per architecture, whatever the query.
    async fn images(&self, query: &ImageQuery) -> Result<Vec<Image>, CloudError> {
        self.record(Call::Images(query.clone()));
        Ok(["x86_64", "arm64"]
            .map(|arch| Image {
                id: format!("ami-selected-{arch}"),
                architecture: arch.to_string(),
                creation_date: "2026-01-01T00:00:00.000Z".to_string(),
            })
            .to_vec())
    }

    /// A cluster as EKS describes one that is active.
    async fn cluster(&self) -> Result<EksCluster, CloudError> {
        self.record(Call::Cluster);
        Ok(EksCluster {
            endpoint: Some("https://CLUSTER.gr7.ap-southeast-1.eks.amazonaws.com".into()),
            ca_bundle: Some("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==".into()),
            service_cidr: Some("10.100.0.0/16".into()),
        })
    }

    async fn ensure_launch_template(
        &self,
        config: &NodeConfig,
    ) -> Result<LaunchTemplate, CloudError> {
        self.record(Call::EnsureLaunchTemplate(config.clone()));
        let name = config.template_name("double");
        let mut state = self.state();
        let next = state.templates.len();
        Ok(state
            .templates
            .entry(name.clone())
            .or_insert_with(|| LaunchTemplate {
                id: format!("lt-{next:017}"),
                name,
                created_at: None,
                tags: config.tags.clone(),
            })
            .clone())
    }

    async fn launch_templates(&self) -> Result<Vec<LaunchTemplate>, CloudError> {
        self.record(Call::LaunchTemplates);
        Ok(self.state().templates.values().cloned().collect())
    }

    async fn delete_launch_template(&self, name: &str) -> Result<(), CloudError> {
        self.record(Call::DeleteLaunchTemplate(name.to_string()));
        self.state().templates.remove(name);
        Ok(())
    }

    async fn create_fleet(&self, request: &FleetRequest) -> Result<FleetResult, CloudError> {
        self.record(Call::CreateFleet(request.clone()));
        let mut state = self.state();
        if let Some(e) = state.fleet_error.take() {
            return Err(e);
        }
        let mut result = FleetResult {
            fleet_id: Some(format!("fleet-{}", state.calls.len())),
            ..FleetResult::default()
        };
        for o in &request.overrides {
            let pool = o.pool(request.capacity_type);
            if let Some(code) = state.faults.get(&pool) {
                result.errors.push(FleetError {
                    pool: Some(pool),
                    subnet_id: Some(o.subnet_id.clone()),
                    code: code.clone(),
                    message: format!("{code} in {}", o.zone),
                });
                continue;
            }
            state.next_id += 1;
            let id = format!("i-{:017x}", state.next_id);
            state.instances.insert(
                id.clone(),
                Instance {
                    id: id.clone(),
                    instance_type: o.instance_type.clone(),
                    zone: o.zone.clone(),
                    subnet_id: Some(o.subnet_id.clone()),
                    capacity_type: request.capacity_type,
                    state: InstanceState::Running,
                    image_id: None,
                    private_dns_name: None,
                    launch_time: None,
                    provisioner: request.tags.get(super::tags::PROVISIONER_NAME).cloned(),
                    tags: request.tags.clone(),
                },
            );
            result.instances.push(LaunchedInstance {
                instance_id: id,
                instance_type: o.instance_type.clone(),
                zone: o.zone.clone(),
                subnet_id: o.subnet_id.clone(),
                capacity_type: request.capacity_type,
                price: o.price,
            });
            break;
        }
        Ok(result)
    }

    async fn instances(&self) -> Result<Vec<Instance>, CloudError> {
        self.record(Call::Instances);
        Ok(self.state().instances.values().cloned().collect())
    }

    async fn terminate(&self, instance_ids: &[String]) -> Result<(), CloudError> {
        self.record(Call::Terminate(instance_ids.to_vec()));
        let mut state = self.state();
        for id in instance_ids {
            state.instances.remove(id);
        }
        Ok(())
    }
}
