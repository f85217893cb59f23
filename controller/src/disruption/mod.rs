//! Disruption: nodes terminated because they are empty (`ttlSecondsAfterEmpty`) or old
//! (`ttlSecondsUntilExpired`). Consolidation is not built.
//!
//! # Layout
//! - [`decide`]: pure decisions from a node's facts and the time.
//! - [`controller`]: the periodic pass over the node, pod and provisioner caches that applies them.

pub mod controller;
pub mod decide;

pub use controller::Disruption;
