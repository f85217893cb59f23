//! Destroy of `karpenter_controller`: remove every provisioner's capacity before the controller
//! goes, and clean up after a controller that is no longer running, so nothing is orphaned.
//!
//! Order: delete Provisioners -> (controller alive) wait for its finalizers to drain and terminate
//! their nodes -> terminate whatever EC2 instance still carries the cluster tag -> delete the
//! cluster's launch templates -> drop finalizers nobody will remove and delete our Node objects.
//! What cannot be removed is returned as a list; the caller fails destroy with it.

use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use karpenter_core::api::labels;
use serde_json::json;

use crate::kube::objects::{self, ObjectRef, error_text};
use crate::plugin::CallContext;
use crate::resources::aws::errors::sdk_error_text;
use crate::resources::aws::retry::{Stopped, wait_until};

use karpenter_contract::tags::CLUSTER as CLUSTER_TAG;

/// Whether a controller holds and renews the leader Lease: alive when its record changes within
/// one lease duration (15 s) plus slack. Compares the record, not clocks, like the controller does.
pub async fn controller_alive(
    ctx: &CallContext,
    client: &kube::Client,
    namespace: &str,
    lease: &str,
) -> bool {
    let r = ObjectRef::new("coordination.k8s.io/v1", "Lease", Some(namespace), lease);
    let record = |o: Option<serde_json::Value>| {
        o.map(|l| {
            (
                l["spec"]["holderIdentity"].clone(),
                l["spec"]["renewTime"].clone(),
            )
        })
    };
    let Ok(Some(first)) = objects::get(client, &r).await.map(record) else {
        return false;
    };
    if first.0.is_null() {
        return false;
    }
    let changed = wait_until(ctx, Duration::from_secs(20), || {
        let r = r.clone();
        let first = first.clone();
        async move {
            match objects::get(client, &r).await.map(record) {
                Ok(Some(now)) if now != first => Some(()),
                _ => None,
            }
        }
    })
    .await;
    matches!(changed, Ok(()))
}

/// `controller_alive` for the leader Lease in whatever namespace the controller was installed in.
pub async fn controller_alive_anywhere(ctx: &CallContext, client: &kube::Client) -> bool {
    let lease = super::objects::LEASE_NAME;
    let Ok(leases) = objects::list(client, "coordination.k8s.io/v1", "Lease", None).await else {
        return false;
    };
    for l in leases.iter().filter(|l| l["metadata"]["name"] == lease) {
        if let Some(ns) = l["metadata"]["namespace"].as_str()
            && controller_alive(ctx, client, ns, lease).await
        {
            return true;
        }
    }
    false
}

async fn provisioner_names(client: &kube::Client) -> Result<Vec<String>, kube::Error> {
    let crd = ObjectRef::new(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        None,
        karpenter_contract::crd::CRD_NAME,
    );
    if objects::get(client, &crd).await?.is_none() {
        return Ok(Vec::new());
    }
    let list = objects::list(
        client,
        karpenter_core::api::provisioner::API_VERSION,
        karpenter_core::api::provisioner::KIND,
        None,
    )
    .await?;
    Ok(list
        .iter()
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
        .collect())
}

async fn our_nodes(client: &kube::Client) -> Result<Vec<String>, kube::Error> {
    let list = objects::list(client, "v1", "Node", Some(labels::PROVISIONER_NAME)).await?;
    Ok(list
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
        .collect())
}

fn cluster_filter(cluster: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{CLUSTER_TAG}"))
        .values(cluster)
        .build()
}

/// Ids of instances tagged for the cluster that are not terminated yet.
async fn live_instances(ec2: &aws_sdk_ec2::Client, cluster: &str) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    let mut pages = ec2
        .describe_instances()
        .filters(cluster_filter(cluster))
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(
                    ["pending", "running", "stopping", "stopped", "shutting-down"]
                        .map(String::from)
                        .to_vec(),
                ))
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error_text(&e))?;
        for r in page.reservations() {
            ids.extend(
                r.instances()
                    .iter()
                    .filter_map(|i| i.instance_id().map(str::to_string)),
            );
        }
    }
    Ok(ids)
}

async fn launch_templates(
    ec2: &aws_sdk_ec2::Client,
    cluster: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_launch_templates()
        .filters(cluster_filter(cluster))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error_text(&e))?;
        for t in page.launch_templates() {
            if let Some(id) = t.launch_template_id() {
                out.push((
                    id.to_string(),
                    t.launch_template_name().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    Ok(out)
}

/// How long destroy waits for the controller's drain before asking again whether it still runs.
const DRAIN_ROUND: Duration = Duration::from_secs(30);

/// How a wait for the controller's drain ended.
#[derive(Debug, PartialEq, Eq)]
pub enum DrainEnd {
    Done,
    /// The controller stopped renewing its Lease mid-wait (crashed, evicted, killed): what it
    /// did not drain is destroy's to remove.
    ControllerStopped,
    TimedOut,
    Cancelled,
}

/// Waits until `done` holds, for at most `timeout`, and no longer than the controller (its Lease
/// in `namespace`, or in any namespace) stays alive, so a controller that stops mid-destroy does
/// not hold destroy for the whole timeout.
pub async fn wait_for_controller<F, Fut>(
    ctx: &CallContext,
    client: &kube::Client,
    namespace: Option<&str>,
    timeout: Duration,
    mut done: F,
) -> DrainEnd
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let round =
            DRAIN_ROUND.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        if round.is_zero() {
            return DrainEnd::TimedOut;
        }
        match wait_until(ctx, round, || {
            let check = done();
            async move { check.await.then_some(()) }
        })
        .await
        {
            Ok(()) => return DrainEnd::Done,
            Err(Stopped::Cancelled) => return DrainEnd::Cancelled,
            Err(Stopped::TimedOut) => {}
        }
        let alive = match namespace {
            Some(ns) => controller_alive(ctx, client, ns, super::objects::LEASE_NAME).await,
            None => controller_alive_anywhere(ctx, client).await,
        };
        if !alive {
            tracing::warn!(
                "the controller stopped while draining; destroy removes the rest itself"
            );
            return DrainEnd::ControllerStopped;
        }
    }
}

/// Removes all capacity of the cluster, waiting for the controller's own drain when
/// `controller_namespace` names where a live one runs. Returns what is left (empty on success).
pub async fn remove_capacity(
    ctx: &CallContext,
    client: &kube::Client,
    ec2: &aws_sdk_ec2::Client,
    cluster: &str,
    controller_namespace: Option<&str>,
    timeout: Duration,
) -> Vec<String> {
    let mut left = Vec::new();
    // 1. Provisioners: the controller's finalizers drain and terminate their nodes.
    match provisioner_names(client).await {
        Ok(names) => {
            for n in &names {
                if let Err(e) = objects::delete(client, &ObjectRef::provisioner(n)).await {
                    left.push(format!(
                        "Provisioner {n}: delete failed: {}",
                        error_text(&e)
                    ));
                }
            }
            if let Some(namespace) = controller_namespace
                && !names.is_empty()
            {
                tracing::info!(
                    count = names.len(),
                    "waiting for the controller to drain provisioners"
                );
                wait_for_controller(ctx, client, Some(namespace), timeout, || async {
                    matches!(
                        (provisioner_names(client).await, our_nodes(client).await),
                        (Ok(p), Ok(n)) if p.is_empty() && n.is_empty()
                    )
                })
                .await;
            }
        }
        Err(e) => left.push(format!("Provisioners: cannot list: {}", error_text(&e))),
    }
    // 2. Instances the controller did not (or could not) terminate.
    match live_instances(ec2, cluster).await {
        Ok(ids) if !ids.is_empty() => {
            tracing::info!(
                count = ids.len(),
                "terminating instances tagged for the cluster"
            );
            if let Err(e) = ec2
                .terminate_instances()
                .set_instance_ids(Some(ids.clone()))
                .send()
                .await
            {
                left.push(format!(
                    "ec2:TerminateInstances {ids:?} failed: {}",
                    sdk_error_text(&e)
                ));
            }
            let gone = wait_until(ctx, timeout, || async {
                live_instances(ec2, cluster)
                    .await
                    .ok()
                    .filter(Vec::is_empty)
                    .map(|_| ())
            })
            .await;
            if !matches!(gone, Ok(())) {
                let still = live_instances(ec2, cluster).await.unwrap_or(ids);
                left.extend(still.iter().map(|i| {
                    format!("EC2 instance {i} (tag {CLUSTER_TAG}={cluster}) not terminated")
                }));
            }
        }
        Ok(_) => {}
        Err(e) => left.push(format!("ec2:DescribeInstances failed: {e}")),
    }
    // 3. Launch templates, once no instance uses them.
    match launch_templates(ec2, cluster).await {
        Ok(lts) => {
            for (id, name) in lts {
                if let Err(e) = ec2
                    .delete_launch_template()
                    .launch_template_id(&id)
                    .send()
                    .await
                {
                    left.push(format!(
                        "launch template {name} ({id}): {}",
                        sdk_error_text(&e)
                    ));
                }
            }
        }
        Err(e) => left.push(format!("ec2:DescribeLaunchTemplates failed: {e}")),
    }
    // 4. With the instances gone, finalizers only a running controller would remove are dropped.
    let unfinalize = json!({"metadata": {"finalizers": null}});
    if let Ok(nodes) = our_nodes(client).await {
        for n in nodes {
            let r = ObjectRef::new("v1", "Node", None, &n);
            let done = objects::merge_patch(client, &r, &unfinalize)
                .await
                .and(objects::delete(client, &r).await.map(|_| ()));
            if let Err(e) = done {
                left.push(format!("Node {n}: {}", error_text(&e)));
            }
        }
    }
    if let Ok(names) = provisioner_names(client).await {
        for n in names {
            if let Err(e) =
                objects::merge_patch(client, &ObjectRef::provisioner(&n), &unfinalize).await
            {
                left.push(format!(
                    "Provisioner {n}: cannot remove finalizers: {}",
                    error_text(&e)
                ));
            }
        }
    }
    left.extend(leftovers(ctx, client, ec2, cluster).await);
    left.sort();
    left.dedup();
    left
}

/// What still exists of the cluster's capacity, after giving deletions a moment to finish.
async fn leftovers(
    ctx: &CallContext,
    client: &kube::Client,
    ec2: &aws_sdk_ec2::Client,
    cluster: &str,
) -> Vec<String> {
    let check = || async {
        let mut v = Vec::new();
        match provisioner_names(client).await {
            Ok(p) => v.extend(p.into_iter().map(|n| format!("Provisioner {n}"))),
            Err(e) => v.push(format!("Provisioners: cannot list: {}", error_text(&e))),
        }
        match our_nodes(client).await {
            Ok(n) => v.extend(n.into_iter().map(|n| format!("Node {n}"))),
            Err(e) => v.push(format!("Nodes: cannot list: {}", error_text(&e))),
        }
        match live_instances(ec2, cluster).await {
            Ok(i) => v.extend(i.into_iter().map(|i| format!("EC2 instance {i}"))),
            Err(e) => v.push(format!("ec2:DescribeInstances failed: {e}")),
        }
        match launch_templates(ec2, cluster).await {
            Ok(l) => v.extend(
                l.into_iter()
                    .map(|(id, name)| format!("launch template {name} ({id})")),
            ),
            Err(e) => v.push(format!("ec2:DescribeLaunchTemplates failed: {e}")),
        }
        v
    };
    match wait_until(ctx, Duration::from_secs(30), || async {
        let v = check().await;
        v.is_empty().then_some(())
    })
    .await
    {
        Ok(()) => Vec::new(),
        _ => check().await,
    }
}
