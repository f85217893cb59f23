//! Garbage collection of what the cloud holds and the cluster no longer knows:
//! - an instance tagged for the cluster with no Node naming it, older than the registration
//!   timeout, is terminated (a crash between CreateFleet and the Node's creation leaves one);
//! - a launch template of ours that no live instance was launched from, older than
//!   [`TEMPLATE_MIN_AGE`], is deleted (provisioning creates it again when a launch needs it).
//!
//! The choices are pure functions; [`run`] applies them periodically.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::Store;

use crate::cloud::{CloudProvider, Instance, InstanceState, LaunchTemplate};
use crate::termination::node as ournode;

pub const PERIOD: Duration = Duration::from_secs(60);
/// A template younger than this may be in the middle of its first launch.
pub const TEMPLATE_MIN_AGE: Duration = Duration::from_secs(10 * 60);
/// EC2 tags every instance launched from a template with the template's id.
pub const TEMPLATE_ID_TAG: &str = "aws:ec2launchtemplate:id";

fn older_than(t: Option<SystemTime>, age: Duration, now: SystemTime) -> bool {
    t.and_then(|t| now.duration_since(t).ok())
        .is_some_and(|d| d >= age)
}

/// Instances no Node names, launched at least `timeout` ago and not already on their way out.
pub fn orphaned_instances(
    instances: &[Instance],
    node_instances: &HashSet<String>,
    now: SystemTime,
    timeout: Duration,
) -> Vec<String> {
    instances
        .iter()
        .filter(|i| {
            !matches!(
                i.state,
                InstanceState::ShuttingDown | InstanceState::Terminated
            )
        })
        .filter(|i| !node_instances.contains(&i.id))
        .filter(|i| older_than(i.launch_time, timeout, now))
        .map(|i| i.id.clone())
        .collect()
}

/// Templates no live instance was launched from, older than [`TEMPLATE_MIN_AGE`].
pub fn unused_templates(
    templates: &[LaunchTemplate],
    instances: &[Instance],
    now: SystemTime,
) -> Vec<String> {
    let used: HashSet<&str> = instances
        .iter()
        .filter(|i| !matches!(i.state, InstanceState::Terminated))
        .filter_map(|i| i.tags.get(TEMPLATE_ID_TAG).map(String::as_str))
        .collect();
    templates
        .iter()
        .filter(|t| !used.contains(t.id.as_str()))
        .filter(|t| older_than(t.created_at, TEMPLATE_MIN_AGE, now))
        .map(|t| t.name.clone())
        .collect()
}

/// One collection pass; errors are logged, the next pass tries again.
pub async fn collect(
    cloud: &dyn CloudProvider,
    nodes: &Store<Node>,
    registration_timeout: Duration,
) {
    let instances = match cloud.instances().await {
        Ok(i) => i,
        Err(error) => {
            tracing::warn!(%error, "garbage collection: could not list instances");
            return;
        }
    };
    let known: HashSet<String> = nodes
        .state()
        .iter()
        .filter_map(|n| ournode::instance_id(n).map(str::to_string))
        .collect();
    let now = SystemTime::now();
    let orphans = orphaned_instances(&instances, &known, now, registration_timeout);
    if !orphans.is_empty() {
        tracing::warn!(instances = ?orphans, "garbage collection: terminating instances no Node names");
        if let Err(error) = cloud.terminate(&orphans).await {
            tracing::warn!(%error, "garbage collection: could not terminate orphaned instances");
        }
    }
    match cloud.launch_templates().await {
        Ok(templates) => {
            for name in unused_templates(&templates, &instances, now) {
                tracing::info!(template = %name, "garbage collection: deleting an unused launch template");
                if let Err(error) = cloud.delete_launch_template(&name).await {
                    tracing::warn!(%error, template = %name, "could not delete a launch template");
                }
            }
        }
        Err(error) => tracing::warn!(%error, "garbage collection: could not list launch templates"),
    }
}

pub async fn run(
    cloud: Arc<dyn CloudProvider>,
    nodes: Store<Node>,
    registration_timeout: Duration,
) {
    if nodes.wait_until_ready().await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        tick.tick().await;
        collect(cloud.as_ref(), &nodes, registration_timeout).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::CapacityType;
    use std::collections::BTreeMap;

    fn instance(
        id: &str,
        age_secs: u64,
        state: InstanceState,
        template: Option<&str>,
        now: SystemTime,
    ) -> Instance {
        Instance {
            id: id.into(),
            instance_type: "m5.large".into(),
            zone: "a".into(),
            subnet_id: None,
            capacity_type: CapacityType::Spot,
            state,
            image_id: None,
            private_dns_name: None,
            launch_time: now.checked_sub(Duration::from_secs(age_secs)),
            provisioner: Some("p".into()),
            tags: template
                .map(|t| BTreeMap::from([(TEMPLATE_ID_TAG.to_string(), t.to_string())]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn only_old_instances_without_a_node_are_orphans() {
        let now = SystemTime::now();
        let timeout = Duration::from_secs(900);
        let instances = [
            instance("i-old", 1000, InstanceState::Running, None, now),
            instance("i-young", 10, InstanceState::Running, None, now),
            instance("i-known", 1000, InstanceState::Running, None, now),
            instance("i-dying", 1000, InstanceState::ShuttingDown, None, now),
        ];
        let known = HashSet::from(["i-known".to_string()]);
        assert_eq!(
            orphaned_instances(&instances, &known, now, timeout),
            ["i-old"]
        );
    }

    #[test]
    fn templates_in_use_or_young_are_kept() {
        let now = SystemTime::now();
        let t = |id: &str, name: &str, age: u64| LaunchTemplate {
            id: id.into(),
            name: name.into(),
            created_at: now.checked_sub(Duration::from_secs(age)),
            tags: BTreeMap::new(),
        };
        let templates = [
            t("lt-1", "used", 3600),
            t("lt-2", "unused", 3600),
            t("lt-3", "fresh", 60),
        ];
        let instances = [instance(
            "i-1",
            10,
            InstanceState::Running,
            Some("lt-1"),
            now,
        )];
        assert_eq!(unused_templates(&templates, &instances, now), ["unused"]);
    }
}
