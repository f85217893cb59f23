//! karpenter-core: the parts of karpenter-rs that do no I/O.
//!
//! # Layout
//! - [`api`]: Provisioner types (karpenter.sh/v1alpha5), well-known labels, requirements.
//! - [`scheduling`]: requirement algebra, pod constraints, topology, bin packing (`solve(input) -> plan`).
//! - [`interruption`]: parsing of the EventBridge messages found on the interruption queue.
//! - [`imds`]: parsing of the instance metadata documents the IMDS monitor polls.
#![forbid(unsafe_code)]

pub mod api;
pub mod bootstrap;
pub mod imds;
pub mod interruption;
pub mod kubelet;
pub mod scheduling;
