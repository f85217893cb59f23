//! What a provider implements: `Provider` (schema + configure), `Resource` (CRUD), `DataSource`,
//! and the opt-in `Importer` / `StateUpgrader`. No protobuf type appears here.

use std::sync::Arc;

use async_trait::async_trait;

use super::context::{CallContext, ProviderData};
use super::diag::Diagnostics;
use super::plan::PlannedChange;
use super::schema::Schema;
use super::value::{Type, Value};

#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's local name, the prefix of every resource type (`karpenter`).
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Checks beyond the schema's validators; runs on possibly unknown configuration.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Builds the data resources use. Returning None with errors in `diags` fails the run.
    async fn configure(&self, config: &Value, diags: &mut Diagnostics) -> Option<ProviderData>;
    fn resources(&self) -> Vec<Arc<dyn Resource>>;
    fn data_sources(&self) -> Vec<Arc<dyn DataSource>>;
}

/// A managed resource. Apply calls `create` when the prior state is null, `delete` when the
/// planned state is null, and `update` otherwise.
#[async_trait]
pub trait Resource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Checks beyond the schema's validators; config may hold unknown values.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Refines the generic plan (computed values known at plan time, extra replacements).
    /// `prior` is null on create; `plan.planned` is null on destroy.
    async fn modify_plan(
        &self,
        _ctx: &CallContext,
        _prior: &Value,
        _config: &Value,
        _plan: &mut PlannedChange,
        _diags: &mut Diagnostics,
    ) {
    }
    /// Returns the new state. On failure after the remote object exists, return its state along
    /// with the error so Terraform keeps track of it.
    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
    /// The current state, or that the remote object is gone, or that reading failed (with an
    /// error in `diags`; the prior state is then kept).
    async fn read(&self, ctx: &CallContext, state: &Value, diags: &mut Diagnostics) -> Read;
    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics);
    /// Opt in to `terraform import`.
    fn importer(&self) -> Option<&dyn Importer> {
        None
    }
    /// Opt in to upgrading state written under older schema versions.
    fn upgrader(&self) -> Option<&dyn StateUpgrader> {
        None
    }
}

/// What a resource's read found.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    Found(Value),
    Gone,
    Failed,
}

#[async_trait]
pub trait Importer: Send + Sync {
    /// What the import id is, for the docs ("the queue name").
    fn id_description(&self) -> String;
    /// Turns a user-given id into a minimal state; Terraform then calls `read` to fill it in.
    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value>;
}

pub trait StateUpgrader: Send + Sync {
    /// The value type state had at schema `version`, to decode it.
    fn prior_type(&self, version: i64) -> Option<Type>;
    /// Converts state decoded under `prior_type(version)` to the current schema.
    fn upgrade(&self, version: i64, state: Value, diags: &mut Diagnostics) -> Option<Value>;
}

#[async_trait]
pub trait DataSource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    async fn read(
        &self,
        ctx: &CallContext,
        config: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value>;
}
