//! Disruption: voluntary disruption of nodes — expiry (`ttlSecondsUntilExpired`), drift (launch
//! settings or image changed), emptiness (`ttlSecondsAfterEmpty`) and consolidation — within each
//! provisioner's budget, never through `do-not-disrupt`.
//!
//! # Layout
//! - [`decide`]: pure per-node decisions from a node's facts and the time.
//! - [`image_drift`]: whether a node runs another image than its provisioner launches now.
//! - [`blockers`]: what refuses voluntary disruption (`do-not-disrupt`, `do-not-evict`, ...).
//! - [`consolidate`]: candidates, the validation of a consolidation decision, and acting on it.
//! - [`controller`]: the periodic pass that applies all of it; [`metrics`]: `karpenter_disruption_*`.

pub mod blockers;
pub mod consolidate;
pub mod controller;
pub mod decide;
pub mod image_drift;
pub mod metrics;

pub use controller::Disruption;
