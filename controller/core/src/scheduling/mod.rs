//! Pure scheduling: requirement algebra, pod constraints, topology, bin packing.
//!
//! - [`requirements`]: per-key allowed values (In/NotIn/Exists/DoesNotExist/Gt/Lt) and their algebra.
//! - [`resources`], [`pod`], [`instance_type`], [`node`]: the inputs, shaped like their Kubernetes
//!   and EC2 counterparts so that they deserialise from the same JSON.
//! - [`input`]: `SchedulingInput` and the `Plan` that `solve` returns.
//! - `prepare` (indexing), `topology` (spread and pod affinity counts), `solver` (placement) and
//!   `explain` (why a pod did not fit) do the work.
//! - [`builders`]: fluent constructors for fixtures and benchmark inputs.

pub mod builders;
pub mod check;
mod explain;
pub mod input;
pub mod instance_type;
pub mod kubelet;
pub mod node;
pub mod pod;
mod prepare;
pub mod requirements;
pub mod resources;
mod solver;
mod topology;

pub use input::{
    ExistingPlacement, InstanceTypeOption, MAX_INSTANCE_TYPES, NewNode, Plan, SchedulingInput,
    Unschedulable,
};
pub use instance_type::{InstanceType, Offering};
pub use node::ExistingNode;
pub use pod::Pod;
pub use prepare::{SolveError, provisioner_requirements};
pub use requirements::{KeyRequirement, Requirements};
pub use resources::Resources;
pub use solver::solve;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
