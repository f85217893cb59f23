//! A name attribute that defaults to one derived from the provider's configuration
//! (`KarpenterNodeRole-<cluster_name>`), known at plan time.

use std::sync::Arc;

use crate::aws_context::AwsContext;
use crate::plugin::{AttributePlanModifier, CallContext, PlanModifier, Value};

struct DefaultFromProvider {
    doc: &'static str,
    name: fn(&AwsContext) -> String,
}

impl AttributePlanModifier for DefaultFromProvider {
    fn description(&self) -> String {
        format!("Defaults to `{}`.", self.doc)
    }
    fn modify(&self, ctx: &CallContext, _prior: &Value, _config: &Value, planned: &mut Value) {
        // Unknown only when neither the configuration nor the prior state says: a create.
        if planned.is_unknown()
            && let Some(aws) = ctx.provider_data::<AwsContext>()
        {
            *planned = Value::string((self.name)(&aws));
        }
    }
}

/// The modifier; `doc` is what the documentation shows, e.g. `KarpenterNodeRole-<cluster_name>`.
pub fn default_name(doc: &'static str, name: fn(&AwsContext) -> String) -> PlanModifier {
    PlanModifier::Custom(Arc::new(DefaultFromProvider { doc, name }))
}
