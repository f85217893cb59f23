//! Walks a configuration value alongside its schema to run validators and deprecation warnings.

use super::attribute::{Attribute, NestingMode};
use super::block::{Block, BlockNesting};
use crate::plugin::diag::Diagnostics;
use crate::plugin::value::{AttributePath, Value};

/// Runs every attribute's validators on the known values of `config`.
pub fn validate_config(block: &Block, config: &Value, diags: &mut Diagnostics) {
    validate_block(block, config, &AttributePath::root(), diags);
}

/// Calls `f` with every attribute of `block` (recursively) and its value in `value`.
pub fn for_each_attribute<'a>(
    block: &'a Block,
    value: &'a Value,
    f: &mut dyn FnMut(&'a Attribute, &'a Value, &AttributePath),
) {
    walk_block(block, value, &AttributePath::root(), f);
}

fn walk_block<'a>(
    block: &'a Block,
    value: &'a Value,
    path: &AttributePath,
    f: &mut dyn FnMut(&'a Attribute, &'a Value, &AttributePath),
) {
    for a in &block.attributes {
        let p = path.push_attr(&a.name);
        let v = value.get(&a.name);
        f(a, v, &p);
        if let Some(n) = &a.nested {
            for (item, ip) in items(v, n.nesting == NestingMode::Single, &p) {
                for na in &n.attributes {
                    let np = ip.push_attr(&na.name);
                    f(na, item.get(&na.name), &np);
                }
            }
        }
    }
    for b in &block.blocks {
        let p = path.push_attr(&b.name);
        let v = value.get(&b.name);
        let single = matches!(b.nesting, BlockNesting::Single | BlockNesting::Group);
        for (item, ip) in items(v, single, &p) {
            walk_block(&b.block, item, &ip, f);
        }
    }
}

/// The objects inside a nested value, each with its path.
fn items<'a>(v: &'a Value, single: bool, p: &AttributePath) -> Vec<(&'a Value, AttributePath)> {
    match v {
        Value::Object(_) if single => vec![(v, p.clone())],
        Value::List(e) | Value::Set(e) => e
            .iter()
            .enumerate()
            .map(|(i, x)| (x, p.push_index(i)))
            .collect(),
        Value::Map(m) => m.iter().map(|(k, x)| (x, p.push_key(k))).collect(),
        _ => Vec::new(),
    }
}

fn validate_block(block: &Block, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    walk_block(block, value, path, &mut |a, v, p| {
        if v.is_null() || v.is_unknown() {
            return;
        }
        if !a.deprecated.is_empty() {
            diags.warning_at(p.clone(), "Deprecated attribute", a.deprecated.clone());
        }
        for val in &a.validators {
            val.validate(v, p, diags);
        }
    });
    for b in &block.blocks {
        let v = value.get(&b.name);
        let count = match v {
            Value::List(e) | Value::Set(e) => e.len() as i64,
            Value::Map(m) => m.len() as i64,
            Value::Object(_) => 1,
            _ => 0,
        };
        if v.is_unknown() {
            continue;
        }
        let p = path.push_attr(&b.name);
        if count < b.min_items {
            diags.error_at(
                p.clone(),
                "Missing block",
                format!(
                    "At least {} `{}` block(s) are required.",
                    b.min_items, b.name
                ),
            );
        }
        if b.max_items > 0 && count > b.max_items {
            diags.error_at(
                p,
                "Too many blocks",
                format!("At most {} `{}` block(s) are allowed.", b.max_items, b.name),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::schema::NestedBlock;
    use crate::plugin::validate::LengthBetween;

    #[test]
    fn validator_errors_point_into_nested_blocks() {
        let block = Block::new().block(NestedBlock::new(
            "aws",
            BlockNesting::List,
            Block::new().attribute(
                Attribute::string("profile")
                    .optional()
                    .validator(LengthBetween(1, 3)),
            ),
        ));
        let cfg = Value::object([(
            "aws",
            Value::List(vec![Value::object([("profile", Value::string("toolong"))])]),
        )]);
        let mut d = Diagnostics::new();
        validate_config(&block, &cfg, &mut d);
        let diag = d.iter().next().unwrap();
        assert_eq!(diag.path.as_ref().unwrap().to_string(), "aws[0].profile");
    }
}
