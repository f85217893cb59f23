//! Provisioner API types (karpenter.sh/v1alpha5), well-known labels and requirements.
//!
//! - [`provisioner`]: the custom resource, serde-compatible with the Kubernetes JSON.
//! - [`validate`]: every rule the controller needs, reported with field paths.
//! - [`quantity`]: Kubernetes resource quantities as exact integers.
//! - [`labels`]: well-known label keys and values.

pub mod labels;
pub mod provisioner;
pub mod quantity;

pub use provisioner::{
    AwsNodeTemplate, BlockDevice, BlockDeviceMapping, Budget, Condition, Consolidation, Disruption,
    KubeletConfiguration, Limits, MetadataOptions, NodeSelectorRequirement, ObjectMeta, Operator,
    Provisioner, ProvisionerSpec, ProvisionerStatus, Taint,
};
pub use quantity::{Quantity, QuantityError};
