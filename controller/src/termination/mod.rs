//! Termination: the `karpenter.sh/termination` node finalizer.
//!
//! # Layout
//! - [`drain`]: pure: which pods to evict, in which order, which to wait for; the 429 backoff.
//!   [`budgets`]: which PodDisruptionBudgets protect a pod (named when an eviction is refused).
//! - [`ops`]: the seam to the API server that termination, interruption and disruption act
//!   through (`NodeOps`: get, cordon, annotate, request termination, remove the finalizer,
//!   events; `PodOps`: pods on a node, one Eviction API call sorted, replacement placeholders).
//!   [`drain_step`]: one pass of evictions over a node's pods (shared with the IMDS monitor).
//!   [`node`]: ownership, instance, pool, cordon and "terminate this node for this reason",
//!   node events.
//! - [`controller`]: the finalizer loop: cordon -> drain step by step -> terminate -> finalizer off.
//! - [`provisioner_gone`]: a deleted Provisioner's nodes are deleted (and so drained).
//! - [`replacement`]: placeholder pods that make the provisioner launch a node's replacement
//!   before it drains (interruption's replace actions); released when the drain starts.
//! - [`metrics`]: drain duration, evictions by outcome, errors.

pub mod budgets;
pub mod controller;
pub mod drain;
pub mod drain_step;
pub mod metrics;
pub mod node;
pub mod ops;
#[cfg(test)]
pub mod ops_double;
pub mod provisioner_gone;
pub mod replacement;

pub use controller::{Termination, TerminationError};
