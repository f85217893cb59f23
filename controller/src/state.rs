//! The cluster as every controller sees it: one watch per kind (nodes, pods, Provisioners,
//! DaemonSets, PodDisruptionBudgets), cached once and shared, and for the two kinds whose changes
//! start work, their change streams (kube's shared reflectors): nodes for the termination
//! finalizer, pods for provisioning. Each watch logs `watch started` with its kind once.
//!
//! A change stream must be consumed: a shared reflector waits for its slowest subscriber.

use std::fmt::Debug;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::reflector::{self, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use crate::crd::Provisioner;

/// How many changes a change stream holds for a subscriber that is behind.
const CHANGE_BUFFER: usize = 1024;

/// The caches every controller reads.
#[derive(Clone)]
pub struct ClusterState {
    pub nodes: Store<Node>,
    pub pods: Store<Pod>,
    pub provisioners: Store<Provisioner>,
    pub daemonsets: Store<DaemonSet>,
    pub budgets: Store<PodDisruptionBudget>,
}

/// The change streams; each must be handed to a consumer.
pub struct Changes {
    pub nodes: ReflectHandle<Node>,
    pub pods: ReflectHandle<Pod>,
}

#[derive(Debug, thiserror::Error)]
#[error("the {0} watch ended before its cache was ready")]
pub struct WatchEnded(pub String);

trait Watched:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}
impl<K> Watched for K where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
}

/// Drives a watch into `writer` for the life of the process, logging its errors (the watcher
/// retries with backoff).
fn drive<K: Watched>(client: &kube::Client, writer: reflector::store::Writer<K>) {
    tracing::info!(kind = %K::kind(&()), "watch started");
    let stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect_shared(writer);
    tokio::spawn(stream.for_each(|event| async move {
        if let Err(error) = event {
            tracing::warn!(%error, kind = %K::kind(&()), "watch error; retrying");
        }
    }));
}

async fn synced<K: Watched>(store: &Store<K>) -> Result<(), WatchEnded> {
    store
        .wait_until_ready()
        .await
        .map_err(|_| WatchEnded(K::kind(&()).into_owned()))
}

fn cached<K: Watched>(client: &kube::Client) -> Store<K> {
    let (reader, writer) = reflector::store();
    drive(client, writer);
    reader
}

fn cached_with_changes<K: Watched>(client: &kube::Client) -> (Store<K>, ReflectHandle<K>) {
    let (reader, writer) = reflector::store_shared(CHANGE_BUFFER);
    let changes = writer
        .subscribe()
        .expect("a store made by store_shared always has a dispatcher");
    drive(client, writer);
    (reader, changes)
}

impl ClusterState {
    /// Starts one watch per kind.
    pub fn watch(client: &kube::Client) -> (ClusterState, Changes) {
        let (nodes, node_changes) = cached_with_changes(client);
        let (pods, pod_changes) = cached_with_changes(client);
        let state = ClusterState {
            nodes,
            pods,
            provisioners: cached(client),
            daemonsets: cached(client),
            budgets: cached(client),
        };
        let changes = Changes {
            nodes: node_changes,
            pods: pod_changes,
        };
        (state, changes)
    }

    /// Waits until every cache has its first full list. Done once, before any controller starts:
    /// a store's readiness wakes only the last task that polled it, so controllers must not wait
    /// on the same store side by side.
    pub async fn ready(&self) -> Result<(), WatchEnded> {
        synced(&self.nodes).await?;
        synced(&self.pods).await?;
        synced(&self.provisioners).await?;
        synced(&self.daemonsets).await?;
        synced(&self.budgets).await
    }
}
