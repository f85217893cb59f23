//! The cloud seam and its AWS adapter.
//!
//! # Layout
//! - [`provider`]: the [`CloudProvider`] trait, one contract per method; [`error`]: its typed errors.
//! - [`types`], [`catalog`], [`fleet`], [`launch_template`]: the values that cross the seam.
//! - [`ice`]: the unavailable-offerings cache (pool -> expiry) with an injected [`crate::clock`].
//! - [`overrides`]: which pools one CreateFleet offers (cheapest 60 types, ICE'd pools left out).
//! - [`launch`]: the [`Launcher`]: retry with what is left, spot -> on-demand fallback, a report.
//! - [`tags`]: the tags on everything we create; [`to_core`]: the catalog as karpenter-core's types.
//! - [`aws`]: the adapter (EC2, SSM, Pricing); [`double`]: a recording test double.

pub mod aws;
pub mod catalog;
pub mod double;
pub mod error;
pub mod fleet;
pub mod ice;
pub mod launch;
pub mod launch_template;
pub mod overrides;
pub mod provider;
pub use karpenter_contract::tags;
pub mod to_core;
pub mod types;

#[cfg(test)]
mod test_support;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use aws::{AwsCloud, AwsSettings};
pub use catalog::{Catalog, InstanceTypeInfo, Offering, PriceSource};
pub use error::CloudError;
pub use fleet::{FleetOverride, FleetRequest, FleetResult, LaunchedInstance};
pub use ice::UnavailableOfferings;
pub use launch::{LaunchReport, LaunchRequest, Launcher};
pub use launch_template::{LaunchTemplate, NodeConfig};
pub use provider::{CloudProvider, Selector};
pub use types::{Arch, CapacityType, Instance, InstanceState, Pool, SecurityGroup, Subnet};
