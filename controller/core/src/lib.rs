//! karpenter-core: the parts of karpenter-rs that do no I/O.
//!
//! # Layout
//! - [`api`]: Provisioner types (karpenter.sh/v1alpha5), well-known labels, requirements.
//! - [`scheduling`]: requirement algebra, pod constraints, topology, bin packing (`solve(input) -> plan`),
//!   and what the kubelet leaves allocatable ([`scheduling::kubelet`]).
//! - [`validate`]: a Provisioner's spec checked as the API server's admission would.
//! - [`consolidation`]: which nodes can go or be replaced by something cheaper, decided on the
//!   scheduler's simulation.
//! - [`interruption`]: parsing of the EventBridge messages found on the interruption queue.
//! - [`imds`]: parsing of the instance metadata documents the IMDS monitor polls.
#![forbid(unsafe_code)]

pub mod api;
pub mod bootstrap;
pub mod consolidation;
pub mod imds;
pub mod interruption;
pub mod scheduling;
pub mod validate;
