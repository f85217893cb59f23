//! Termination: the `karpenter.sh/termination` node finalizer.
//!
//! # Layout
//! - [`drain`]: pure: which pods to evict, in which order, which to wait for; the 429 backoff.
//! - [`evict`]: the seam to the cluster (pods on a node, one Eviction API call, its answer
//!   sorted). [`drain_step`]: one pass of evictions over a node's pods (shared with the IMDS
//!   monitor). [`node`]: ownership, instance, pool,
//!   cordon and "terminate this node for this reason", node events (shared with disruption and
//!   interruption).
//! - [`controller`]: the finalizer loop: cordon -> drain step by step -> terminate -> finalizer off.
//! - [`provisioner_gone`]: a deleted Provisioner's nodes are deleted (and so drained).
//! - [`metrics`]: drain duration, evictions by outcome, errors.

pub mod controller;
pub mod drain;
pub mod drain_step;
pub mod evict;
pub mod metrics;
pub mod node;
pub mod provisioner_gone;

pub use controller::{Termination, TerminationError};
