//! karpenter-controller: the in-cluster controller of karpenter-rs.
//!
//! # Layout
//! - [`settings`]: the settings ConfigMap merged with flags and environment.
//! - [`telemetry`]: JSON logs. [`metrics`]: Prometheus families. [`http`]: /metrics, /healthz, /readyz.
//! - [`leader`]: leader election over a coordination.k8s.io Lease; only the leader acts.
//! - [`state`]: the shared caches (one watch per kind) and change streams every controller uses.
//! - [`crd`]: the Provisioner custom resource and its CRD; [`manifests`] prints them as YAML.
//! - [`cloud`]: the cloud seam (`CloudProvider`), its AWS adapter, the ICE cache and the launcher.
//! - [`provisioning`]: unschedulable pods -> batch -> scheduling -> launch -> Node objects;
//!   [`controllers`]: what the leader runs.
//! - [`termination`] (node finalizer), [`disruption`]
//!   (emptiness, expiry), [`interruption`] (queue processor), [`gc`] (orphaned instances, templates),
//!   [`adopt`] (a new leader records what the previous one launched but did not).
//! - [`runtime`]: `karpenter-controller run`: builds the parts and runs them until a signal.
//! - [`imds_monitor`]: `karpenter-controller imds-monitor`: the per-node IMDS watcher.
#![forbid(unsafe_code)]

pub mod adopt;
pub mod clock;
pub mod cloud;
pub mod controllers;
pub use karpenter_contract::crd;
pub mod disruption;
pub mod gc;
pub mod http;
pub mod imds_monitor;
pub mod interruption;
pub mod leader;
pub mod manifests;
pub mod metrics;
pub mod provisioning;
pub mod runtime;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod termination;
