//! Everything that ends nodes, started together by the leader: the termination finalizer, the
//! deleted-provisioner sweep, emptiness and expiry, the interruption queue processor and the
//! cloud garbage collector. Each runs until its watch ends; one failing does not stop the others.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::ReflectHandle;

use crate::clock::SystemClock;
use crate::cloud::{CloudProvider, UnavailableOfferings};
use crate::disruption::Disruption;
use crate::interruption::act::{Handler, REPLACEMENT_TIMEOUT};
use crate::interruption::metrics::InterruptionMetrics;
use crate::interruption::processor::{DEFAULT_WORKERS, Processor};
use crate::interruption::queue::{Queue, SqsQueue};
use crate::metrics::Metrics;
use crate::provisioning::NominatedNodes;
use crate::settings::Settings;
use crate::state::ClusterState;

use super::Termination;

/// Number of queue workers: `INTERRUPTION_WORKERS` or [`DEFAULT_WORKERS`].
fn workers() -> usize {
    std::env::var("INTERRUPTION_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(DEFAULT_WORKERS)
}

/// Runs every node-ending controller on the shared caches until all of them stop.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    client: kube::Client,
    settings: Settings,
    metrics: Metrics,
    cloud: Arc<dyn CloudProvider>,
    ice: Arc<UnavailableOfferings>,
    nominated: NominatedNodes,
    state: ClusterState,
    node_changes: ReflectHandle<Node>,
) {
    let ClusterState {
        nodes,
        pods,
        provisioners,
        ..
    } = state;
    let mut tasks = tokio::task::JoinSet::new();

    let termination = Arc::new(Termination::new(
        client.clone(),
        cloud.clone(),
        metrics.clone(),
    ));
    tasks.spawn(termination.run(nodes.clone(), node_changes));
    tasks.spawn(super::provisioner_gone::run(
        client.clone(),
        nodes.clone(),
        provisioners.clone(),
    ));
    // Karpenter's window: twice the longest batch, at least 10 s.
    let window = (settings.batch_max_duration * 2).max(Duration::from_secs(10));
    let disruption = Disruption::new(client.clone(), &metrics, Arc::new(SystemClock))
        .with_nominations(nominated, window);
    tasks.spawn(disruption.run(nodes.clone(), pods, provisioners));
    tasks.spawn(crate::gc::run(
        cloud,
        nodes.clone(),
        settings.registration_timeout,
    ));

    match &settings.interruption_queue {
        None => tracing::info!("no interruption queue configured; interruption handling is off"),
        Some(queue) => {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            match SqsQueue::connect(&sdk, queue).await {
                Err(error) => {
                    tracing::error!(%error, "interruption queue unreachable; interruption handling is off")
                }
                Ok(q) => {
                    let workers = workers();
                    tracing::info!(queue = %q.url(), workers, "interruption: polling the queue");
                    let im = InterruptionMetrics::register(&metrics);
                    let handler = Arc::new(Handler::new(
                        client.clone(),
                        nodes.clone(),
                        ice,
                        im.clone(),
                        REPLACEMENT_TIMEOUT,
                    ));
                    let queue: Arc<dyn Queue> = Arc::new(q);
                    let processor = Arc::new(Processor::new(
                        queue,
                        handler,
                        settings.interruption_actions,
                        im,
                    ));
                    tasks.spawn(processor.run(workers));
                }
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}
