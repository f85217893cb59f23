//! Data sources, one module each, written against `crate::plugin` only.
//!
//! - `instance_types`: the schema and read of `karpenter_instance_types`;
//! - `catalog`: fetches shapes, zones and prices from EC2 and the Price List API;
//! - `selector`: pure filtering and price ordering over the catalog.

mod catalog;
pub mod instance_types;
mod selector;

use std::sync::Arc;

use crate::plugin::DataSource;

pub fn all() -> Vec<Arc<dyn DataSource>> {
    vec![Arc::new(instance_types::InstanceTypes)]
}
