//! The cluster as every controller sees it: one watch per kind (nodes, pods, Provisioners,
//! DaemonSets, PodDisruptionBudgets), cached once and shared, and for the two kinds whose changes
//! start work, their change streams ([`ChangeStream`]): nodes for the termination finalizer, pods
//! for provisioning. Each watch logs `watch started` with its kind once.

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use crate::crd::Provisioner;

/// The objects a watch changed (applied, listed again or deleted), in order, for one consumer.
///
/// Not kube's `ReflectHandle`: in kube-runtime 5.0 its stream answers `Pending` without arming
/// a waker when the changed object is already gone from the cache (a pod deleted right after it
/// changed, as consolidation's placeholders are). Its consumer then never runs again, the shared
/// buffer fills, and the watch itself stops: the cache froze and pending pods went unseen for
/// good (found in the consolidation benchmark). This channel is unbounded and carries the objects
/// themselves, so neither a deleted object nor a slow consumer can stop a watch.
pub type ChangeStream<K> = UnboundedReceiver<Arc<K>>;

/// The caches every controller reads.
#[derive(Clone)]
pub struct ClusterState {
    pub nodes: Store<Node>,
    pub pods: Store<Pod>,
    pub provisioners: Store<Provisioner>,
    pub daemonsets: Store<DaemonSet>,
    pub budgets: Store<PodDisruptionBudget>,
}

/// The change streams, one consumer each.
pub struct Changes {
    pub nodes: ChangeStream<Node>,
    pub pods: ChangeStream<Pod>,
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
/// retries with backoff), and sends every changed object to `changes` when given.
fn drive<K: Watched>(
    client: &kube::Client,
    writer: reflector::store::Writer<K>,
    changes: Option<UnboundedSender<Arc<K>>>,
) {
    tracing::info!(kind = %K::kind(&()), "watch started");
    let stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer);
    tokio::spawn(stream.for_each(move |event| {
        match event {
            Err(error) => {
                tracing::warn!(%error, kind = %K::kind(&()), "watch error; retrying");
            }
            Ok(Event::Apply(obj) | Event::InitApply(obj) | Event::Delete(obj)) => {
                if let Some(tx) = &changes {
                    // Fails only once the consumer is gone, when nobody needs the change.
                    let _ = tx.unbounded_send(Arc::new(obj));
                }
            }
            Ok(Event::Init | Event::InitDone) => {}
        }
        std::future::ready(())
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
    drive(client, writer, None);
    reader
}

fn cached_with_changes<K: Watched>(client: &kube::Client) -> (Store<K>, ChangeStream<K>) {
    let (reader, writer) = reflector::store();
    let (tx, rx) = unbounded();
    drive(client, writer, Some(tx));
    (reader, rx)
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
