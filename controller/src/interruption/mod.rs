//! Interruption handling: the SQS queue processor (and, absent for now, the IMDS monitor).
//!
//! # Layout
//! - [`queue`]: the queue seam and its SQS adapter (long poll, 10 messages, 20 s).
//! - [`decide`]: pure: a parsed message (karpenter-core's parser), a node lookup and the per-kind
//!   action settings -> one decision per instance.
//! - [`act`]: carries a plan out: mark the spot pool, cordon, replacement (the placeholders of
//!   `termination::replacement`), hand to the finalizer.
//! - [`processor`]: the workers: receive, parse, count, decide, start, delete.
//! - [`metrics`]: the anchor's interruption families.

pub mod act;
pub mod decide;
pub mod metrics;
pub mod processor;
pub mod queue;

pub use processor::Processor;
