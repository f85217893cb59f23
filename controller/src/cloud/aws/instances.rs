//! Our instances: found by the cluster tag, terminated idempotently.

use super::AwsCloud;
use super::network::tag_map;
use super::sdk_error::from_sdk;
use crate::cloud::error::CloudError;
use crate::cloud::tags;
use crate::cloud::types::{CapacityType, Instance, InstanceState};
use aws_sdk_ec2::types::{self as ec2, Filter, InstanceLifecycleType};
use std::time::SystemTime;

/// Every state but terminated: a stopping or shutting-down instance still costs or still exists.
const LIVE_STATES: [&str; 5] = ["pending", "running", "stopping", "stopped", "shutting-down"];

/// TerminateInstances takes at most 1000 ids; stay well below.
const TERMINATE_BATCH: usize = 500;

fn from_ec2(i: &ec2::Instance) -> Option<Instance> {
    let tags = tag_map(i.tags());
    Some(Instance {
        id: i.instance_id()?.to_string(),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_string(),
        subnet_id: i.subnet_id().map(String::from),
        capacity_type: match i.instance_lifecycle() {
            Some(InstanceLifecycleType::Spot) => CapacityType::Spot,
            _ => CapacityType::OnDemand,
        },
        state: InstanceState::parse(
            i.state()
                .and_then(|s| s.name())
                .map(|n| n.as_str())
                .unwrap_or("unknown"),
        ),
        image_id: i.image_id().map(String::from),
        private_dns_name: i
            .private_dns_name()
            .filter(|n| !n.is_empty())
            .map(String::from),
        launch_time: i.launch_time().and_then(|t| SystemTime::try_from(*t).ok()),
        provisioner: tags.get(tags::PROVISIONER_NAME).cloned(),
        tags,
    })
}

impl AwsCloud {
    pub(super) async fn describe_our_instances(&self) -> Result<Vec<Instance>, CloudError> {
        let reservations = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name(format!("tag:{}", tags::CLUSTER))
                    .values(&self.settings.cluster_name)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(LIVE_STATES.map(String::from).to_vec()))
                    .build(),
            )
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk("DescribeInstances", e))?;
        let mut out: Vec<Instance> = reservations
            .iter()
            .flat_map(|r| r.instances())
            .filter_map(from_ec2)
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn terminate_batch(&self, ids: &[String]) -> Result<(), CloudError> {
        match self
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(from_sdk("TerminateInstances", e)),
        }
    }

    pub(super) async fn terminate_instances(&self, ids: &[String]) -> Result<(), CloudError> {
        for batch in ids.chunks(TERMINATE_BATCH) {
            match self.terminate_batch(batch).await {
                Ok(()) => {}
                // EC2 refuses the whole batch when one id is unknown; settle each id on its own so
                // the gone ones count as done and the rest are still terminated.
                Err(e) if e.is_not_found() => {
                    for id in batch {
                        match self.terminate_batch(std::slice::from_ref(id)).await {
                            Ok(()) => {}
                            Err(e) if e.is_not_found() => {
                                tracing::debug!(instance = %id, "already gone")
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if !ids.is_empty() {
            tracing::info!(count = ids.len(), "terminated instances");
        }
        Ok(())
    }
}
