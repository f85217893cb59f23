//! Plan helpers: the generic part of PlanResourceChange that every resource wants.

use super::context::CallContext;
use super::schema::{PlanModifier, Schema};
use super::value::{AttributePath, Value};

/// What the generic planner decided; the resource may refine it in `modify_plan`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedChange {
    pub planned: Value,
    pub requires_replace: Vec<AttributePath>,
}

/// Applies defaults and marks computed attributes unknown where Terraform cannot know them yet.
/// Top-level attributes only; nested values are planned as Terraform proposed them.
///
/// Destroy plans (proposed null) pass through unchanged.
pub fn plan_change(
    schema: &Schema,
    prior: &Value,
    proposed: &Value,
    config: &Value,
) -> PlannedChange {
    if proposed.is_null() {
        return PlannedChange {
            planned: Value::Null,
            requires_replace: Vec::new(),
        };
    }
    let mut planned = proposed.clone();
    let creating = prior.is_null();
    for a in &schema.block.attributes {
        if let Some(d) = &a.default
            && config.get(&a.name).is_null()
        {
            planned.set(&a.name, d.clone());
        }
    }
    // An update happens when anything the user controls changes; computed values may then move.
    let changing = !creating && planned != *prior;
    for a in &schema.block.attributes {
        if !a.computed || a.default.is_some() || !config.get(&a.name).is_null() {
            continue;
        }
        let keep = a
            .plan_modifiers
            .iter()
            .any(PlanModifier::is_use_state_for_unknown);
        let v = if creating {
            Value::Unknown
        } else if keep || !changing {
            prior.get(&a.name).clone()
        } else {
            Value::Unknown
        };
        planned.set(&a.name, v);
    }
    PlannedChange {
        planned,
        requires_replace: Vec::new(),
    }
}

/// Runs the custom modifiers of top-level attributes on a plan that is not a destroy.
pub fn apply_custom_modifiers(
    schema: &Schema,
    ctx: &CallContext,
    prior: &Value,
    config: &Value,
    planned: &mut Value,
) {
    if planned.is_null() {
        return;
    }
    for a in &schema.block.attributes {
        for m in &a.plan_modifiers {
            if let PlanModifier::Custom(m) = m {
                let mut v = planned.get(&a.name).clone();
                m.modify(ctx, prior.get(&a.name), config.get(&a.name), &mut v);
                planned.set(&a.name, v);
            }
        }
    }
}

/// Top-level attributes marked `RequiresReplace` whose planned value differs from the prior one.
/// Run after the resource's own plan changes, so values it fills in are compared too.
pub fn replacements(schema: &Schema, prior: &Value, planned: &Value) -> Vec<AttributePath> {
    if prior.is_null() || planned.is_null() {
        return Vec::new();
    }
    schema
        .block
        .attributes
        .iter()
        .filter(|a| {
            a.plan_modifiers
                .iter()
                .any(PlanModifier::is_requires_replace)
                && planned.get(&a.name) != prior.get(&a.name)
        })
        .map(|a| AttributePath::attr(&a.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::schema::{Attribute, Block};

    fn schema() -> Schema {
        Schema::new(
            Block::new()
                .attribute(Attribute::string("name").required().requires_replace())
                .attribute(Attribute::number("retention").default_value(Value::int(300)))
                .attribute(Attribute::string("arn").computed().use_state_for_unknown())
                .attribute(Attribute::string("etag").computed()),
        )
    }

    #[test]
    fn create_plans_defaults_and_unknown_computed_values() {
        let cfg = Value::object([("name", Value::string("q"))]);
        let p = plan_change(&schema(), &Value::Null, &cfg, &cfg);
        assert_eq!(p.planned.get("retention"), &Value::int(300));
        assert_eq!(p.planned.get("arn"), &Value::Unknown);
        assert_eq!(p.planned.get("etag"), &Value::Unknown);
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn update_keeps_state_for_unknown_and_flags_replacement() {
        let prior = Value::object([
            ("name", Value::string("q")),
            ("retention", Value::int(300)),
            ("arn", Value::string("arn:1")),
            ("etag", Value::string("e1")),
        ]);
        let cfg = Value::object([("name", Value::string("r"))]);
        let mut proposed = prior.clone();
        proposed.set("name", Value::string("r"));
        let p = plan_change(&schema(), &prior, &proposed, &cfg);
        assert_eq!(p.planned.get("arn"), &Value::string("arn:1"));
        assert_eq!(p.planned.get("etag"), &Value::Unknown);
        assert_eq!(
            replacements(&schema(), &prior, &p.planned),
            vec![AttributePath::attr("name")]
        );
    }

    #[test]
    fn no_change_plans_prior_state() {
        let prior = Value::object([
            ("name", Value::string("q")),
            ("retention", Value::int(300)),
            ("arn", Value::string("arn:1")),
            ("etag", Value::string("e1")),
        ]);
        let cfg = Value::object([("name", Value::string("q"))]);
        let p = plan_change(&schema(), &prior, &prior, &cfg);
        assert_eq!(p.planned, prior);
        assert!(replacements(&schema(), &prior, &p.planned).is_empty());
    }
}
