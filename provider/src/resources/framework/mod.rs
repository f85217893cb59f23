//! The lifecycle every AWS-backed resource shares. A resource implements `AwsObject` over its
//! typed model (find, create, update, delete); `Aws<T>` turns that into a `plugin::Resource`
//! with the parts that used to be copied into each one: the provider's AWS context, decoding
//! and encoding the model, the `timeouts {}` block and its bounds, read (Found / Gone / Failed,
//! never "gone" for a failure) and import.

mod default_name;
pub mod timeouts;

use std::time::Duration;

use async_trait::async_trait;

pub use default_name::default_name;
pub use timeouts::Timeouts;

use crate::aws_context::AwsContext;
use crate::plugin::{
    Block, CallContext, Diagnostics, Importer, Model, PlannedChange, Read, Resource, Schema, Value,
};
use crate::resources::aws::context;

/// What looking an object up found. Failures carry their reason in the diagnostics.
#[derive(Debug)]
pub enum Fetched<T> {
    Found(T),
    Gone,
    Failed,
}

impl<T> Fetched<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fetched<U> {
        match self {
            Fetched::Found(t) => Fetched::Found(f(t)),
            Fetched::Gone => Fetched::Gone,
            Fetched::Failed => Fetched::Failed,
        }
    }
}

/// What an operation runs with.
pub struct Op<'a> {
    pub ctx: &'a CallContext,
    pub aws: &'a AwsContext,
    /// The operation's bound from `timeouts {}` (or its default).
    pub timeout: Duration,
}

#[async_trait]
pub trait AwsObject: Send + Sync + 'static {
    /// The resource's attributes, all but `timeouts` (which `Aws` keeps).
    type State: Model + Send + Sync;
    const TYPE_NAME: &'static str;
    /// What the object is called in errors ("SQS queue").
    const NOUN: &'static str;
    /// What `terraform import` takes ("the queue name").
    const IMPORT_ID: &'static str;
    /// The operations the user may bound, with defaults; empty for no `timeouts {}` block.
    const TIMEOUTS: Timeouts = &[];

    /// The schema without the `timeouts {}` block.
    fn schema(&self) -> Block;
    /// Checks beyond the schema's validators; the configuration may hold unknown values.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}
    /// Values known at plan time from the provider's configuration (documents, derived sets).
    fn plan(&self, _aws: &AwsContext, _prior: &Value, _plan: &mut PlannedChange) {}
    /// What `fetch` finds the object by (a name, URL or ARN); None when the state lacks it.
    fn locator(state: &Self::State) -> Option<String>;
    /// The locator of an import id; by default the id itself.
    async fn resolve_import(
        &self,
        _aws: &AwsContext,
        id: &str,
        _diags: &mut Diagnostics,
    ) -> Option<String> {
        Some(id.to_string())
    }
    /// The state an import starts from, before `fetch` fills it in.
    fn imported(id: &str, locator: &str) -> Self::State;
    /// Reads the object. `prior` carries what AWS does not return (planned document text).
    async fn fetch(
        &self,
        aws: &AwsContext,
        locator: &str,
        prior: &Self::State,
        diags: &mut Diagnostics,
    ) -> Fetched<Self::State>;
    /// The new state; once the object exists, return its state even on failure so Terraform
    /// keeps track of it.
    /// The locator of an object that `planned` names, exists already and carries the ownership
    /// tag for this cluster (`AwsContext::owns`): created by an apply that was stopped before it
    /// could record it. The create then takes it over: an update from what it is to `planned`.
    /// None (the default) for objects whose create cannot find its name taken.
    async fn left_by_an_interrupted_apply(
        &self,
        _aws: &AwsContext,
        _planned: &Self::State,
    ) -> Option<String> {
        None
    }
    async fn create(
        &self,
        op: &Op<'_>,
        planned: &Self::State,
        diags: &mut Diagnostics,
    ) -> Option<Self::State>;
    async fn update(
        &self,
        op: &Op<'_>,
        prior: &Self::State,
        planned: &Self::State,
        diags: &mut Diagnostics,
    ) -> Option<Self::State>;
    async fn delete(&self, op: &Op<'_>, prior: &Self::State, diags: &mut Diagnostics);
}

/// The `plugin::Resource` of an `AwsObject`.
pub struct Aws<T>(pub T);

/// A resource's value as its model; a mismatch between schema and model is reported as the
/// provider bug it is.
pub fn decode_model<M: Model>(type_name: &str, v: &Value, diags: &mut Diagnostics) -> Option<M> {
    M::decode(v)
        .map_err(|e| {
            diags.error(
                format!("Unexpected value in {type_name}"),
                format!("{e}. This is a bug in the provider; please report it."),
            )
        })
        .ok()
}

fn decode<T: AwsObject>(v: &Value, diags: &mut Diagnostics) -> Option<T::State> {
    decode_model(T::TYPE_NAME, v, diags)
}

/// The model's value plus the `timeouts {}` block taken from `from` (plan or prior state).
fn encode<T: AwsObject>(state: &T::State, from: &Value) -> Value {
    let mut v = state.encode();
    if !T::TIMEOUTS.is_empty() {
        v.set("timeouts", from.get("timeouts").clone());
    }
    v
}

/// `got` with every top-level attribute that `planned` left unknown (what a create computes, such
/// as an ARN) taken from `fetched`: an update returns what was planned, and a taken-over object's
/// computed attributes are only known from reading it.
fn fill_unknowns(mut got: Value, planned: &Value, fetched: &Value) -> Value {
    if let (Value::Object(out), Value::Object(plan), Value::Object(read)) =
        (&mut got, planned, fetched)
    {
        for (name, value) in plan {
            if value.is_unknown()
                && let Some(known) = read.get(name)
            {
                out.insert(name.clone(), known.clone());
            }
        }
    }
    got
}

impl<'a> Op<'a> {
    fn new(
        ctx: &'a CallContext,
        aws: &'a AwsContext,
        timeouts: Timeouts,
        bound_by: &Value,
        op: &str,
    ) -> Self {
        Op {
            ctx,
            aws,
            timeout: timeouts::of(bound_by, timeouts, op),
        }
    }
}

#[async_trait]
impl<T: AwsObject> Resource for Aws<T> {
    fn type_name(&self) -> &'static str {
        T::TYPE_NAME
    }

    fn schema(&self) -> Schema {
        let mut block = self.0.schema();
        if !T::TIMEOUTS.is_empty() {
            block = block.block(timeouts::block(T::TIMEOUTS));
        }
        Schema::new(block)
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        timeouts::validate(config, T::TIMEOUTS, diags);
        self.0.validate(config, diags);
    }

    async fn modify_plan(
        &self,
        ctx: &CallContext,
        prior: &Value,
        _config: &Value,
        plan: &mut PlannedChange,
        _diags: &mut Diagnostics,
    ) {
        if plan.planned.is_null() {
            return;
        }
        if let Some(aws) = ctx.provider_data::<AwsContext>() {
            self.0.plan(&aws, prior, plan);
        }
    }

    async fn create(
        &self,
        ctx: &CallContext,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = context(ctx, diags)?;
        let want = decode::<T>(planned, diags)?;
        let op = Op::new(ctx, &aws, T::TIMEOUTS, planned, "create");
        if let Some(locator) = self.0.left_by_an_interrupted_apply(&aws, &want).await {
            match self.0.fetch(&aws, &locator, &want, diags).await {
                Fetched::Found(had) => {
                    diags.warning(
                        format!("Took over {} {locator}", T::NOUN),
                        format!(
                            "It was not in state but carries this provider's ownership tag for cluster {}: an earlier apply created it and was stopped before it recorded it. It is now brought to the configuration and recorded.",
                            aws.cluster_name
                        ),
                    );
                    let got = self.0.update(&op, &had, &want, diags).await?;
                    return Some(fill_unknowns(
                        encode::<T>(&got, planned),
                        planned,
                        &encode::<T>(&had, planned),
                    ));
                }
                Fetched::Gone => {}
                Fetched::Failed => return None,
            }
        }
        let got = self.0.create(&op, &want, diags).await?;
        Some(encode::<T>(&got, planned))
    }

    async fn read(&self, ctx: &CallContext, state: &Value, diags: &mut Diagnostics) -> Read {
        let (Some(aws), Some(prior)) = (context(ctx, diags), decode::<T>(state, diags)) else {
            return Read::Failed;
        };
        let Some(locator) = T::locator(&prior) else {
            diags.error(
                format!(
                    "{} state does not say which {} it is",
                    T::TYPE_NAME,
                    T::NOUN
                ),
                format!(
                    "Remove it from state (`terraform state rm`) and import it again by {}.",
                    T::IMPORT_ID
                ),
            );
            return Read::Failed;
        };
        match self.0.fetch(&aws, &locator, &prior, diags).await {
            Fetched::Found(s) => Read::Found(encode::<T>(&s, state)),
            Fetched::Gone => Read::Gone,
            Fetched::Failed => Read::Failed,
        }
    }

    async fn update(
        &self,
        ctx: &CallContext,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Option<Value> {
        let aws = context(ctx, diags)?;
        let had = decode::<T>(prior, diags)?;
        let want = decode::<T>(planned, diags)?;
        let op = Op::new(ctx, &aws, T::TIMEOUTS, planned, "update");
        let got = self.0.update(&op, &had, &want, diags).await?;
        Some(encode::<T>(&got, planned))
    }

    async fn delete(&self, ctx: &CallContext, prior: &Value, diags: &mut Diagnostics) {
        let (Some(aws), Some(had)) = (context(ctx, diags), decode::<T>(prior, diags)) else {
            return;
        };
        let op = Op::new(ctx, &aws, T::TIMEOUTS, prior, "delete");
        self.0.delete(&op, &had, diags).await;
    }

    fn importer(&self) -> Option<&dyn Importer> {
        Some(self)
    }
}

#[async_trait]
impl<T: AwsObject> Importer for Aws<T> {
    fn id_description(&self) -> String {
        T::IMPORT_ID.to_string()
    }

    async fn import(&self, ctx: &CallContext, id: &str, diags: &mut Diagnostics) -> Option<Value> {
        let aws = context(ctx, diags)?;
        let locator = self.0.resolve_import(&aws, id, diags).await?;
        match self
            .0
            .fetch(&aws, &locator, &T::imported(id, &locator), diags)
            .await
        {
            Fetched::Found(s) => Some(encode::<T>(&s, &Value::Null)),
            Fetched::Gone => {
                diags.error(
                    format!("{} not found", T::NOUN),
                    format!(
                        "No {} {id:?} exists in {}; import takes {}.",
                        T::NOUN,
                        aws.region,
                        T::IMPORT_ID
                    ),
                );
                None
            }
            Fetched::Failed => None,
        }
    }
}

/// Asserts that a model's fields are exactly its schema's attributes and blocks, so no
/// attribute is decoded under a wrong name. `framework_blocks` are the ones the framework adds.
#[cfg(test)]
pub fn assert_model_matches<M: Model>(type_name: &str, block: &Block, framework_blocks: &[&str]) {
    let mut schema: Vec<&str> = block
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .chain(block.blocks.iter().map(|b| b.name.as_str()))
        .collect();
    schema.sort_unstable();
    let mut model: Vec<&str> = M::ATTRIBUTES.to_vec();
    model.extend(framework_blocks);
    model.sort_unstable();
    assert_eq!(model, schema, "{type_name}: model fields vs schema");
}

#[cfg(test)]
pub fn assert_model_matches_schema<T: AwsObject>(object: T) {
    let block = Resource::schema(&Aws(object)).block;
    let added: &[&str] = if T::TIMEOUTS.is_empty() {
        &[]
    } else {
        &["timeouts"]
    };
    assert_model_matches::<T::State>(T::TYPE_NAME, &block, added);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn object(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn a_taken_over_object_gets_what_the_plan_left_unknown_from_the_read() {
        let planned = object(&[("name", Value::String("r".into())), ("arn", Value::Unknown)]);
        let got = object(&[("name", Value::String("r".into())), ("arn", Value::Null)]);
        let fetched = object(&[
            ("name", Value::String("other".into())),
            ("arn", Value::String("arn:aws:iam::1:role/r".into())),
        ]);
        let out = fill_unknowns(got, &planned, &fetched);
        assert_eq!(
            out.get("arn"),
            &Value::String("arn:aws:iam::1:role/r".into())
        );
        assert_eq!(out.get("name"), &Value::String("r".into()));
    }
}
