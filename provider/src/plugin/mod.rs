//! The Terraform plugin protocol 6 layer. It knows nothing of Karpenter: a provider implements
//! the traits in `traits` against the schema model and plain values, and `serve` does the rest.
//!
//! Layout:
//! - `value`: cty types, values (`Value`), exact decimal numbers, attribute paths
//! - `codec`: cty msgpack and JSON encodings
//! - `schema`: attributes, blocks, nesting; config validation walk
//! - `validate`: named validators; `plan`: generic plan helpers (defaults, unknowns, replace)
//! - `model`: typed views of values (`model!`), decoded and encoded once per call
//! - `diag`: diagnostics with attribute paths
//! - `traits`: Provider, Resource, DataSource, Importer, StateUpgrader; `context`: CallContext
//! - `handshake`, `tls`, `logging`: go-plugin launch contract
//! - `server`: gRPC services (the only place protobuf types exist)
//! - `docs`: registry-layout markdown generated from schemas

pub mod codec;
pub mod context;
pub mod diag;
pub mod docs;
pub mod handshake;
pub mod logging;
pub mod model;
pub mod plan;
pub mod schema;
pub mod server;
pub mod tls;
pub mod traits;
pub mod validate;
pub mod value;

pub use context::{CallContext, ProviderData};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use model::{DecodeError, Model};
pub use plan::PlannedChange;
pub use schema::{
    Attribute, AttributePlanModifier, Block, BlockNesting, NestedBlock, NestingMode, PlanModifier,
    Schema,
};
pub use server::{ServeError, serve};
pub use traits::{DataSource, Importer, Provider, Read, Resource, StateUpgrader};
pub use value::{AttributePath, Number, Type, Value};
