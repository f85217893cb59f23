//! The schema model: what a provider, resource or data source accepts and returns. It drives
//! the codec (via `value_type`), validation, plan helpers and the generated docs.

mod attribute;
mod block;
mod walk;

pub use attribute::{
    Attribute, AttributePlanModifier, NestedAttributes, NestingMode, PlanModifier,
};
pub use block::{Block, BlockNesting, NestedBlock};
pub use walk::{for_each_attribute, validate_config};

use super::value::Type;

#[derive(Clone, Debug)]
pub struct Schema {
    /// Bumped whenever stored state must be upgraded; see `UpgradeState`.
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(block: Block) -> Self {
        Schema { version: 0, block }
    }
    pub fn version(mut self, v: i64) -> Self {
        self.version = v;
        self
    }
    /// The cty object type of values under this schema.
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}
