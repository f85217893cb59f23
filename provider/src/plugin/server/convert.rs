//! The one place plain Rust types meet protobuf types: diagnostics, paths, schemas, values.

use super::proto::tfplugin6 as pb;
use crate::plugin::codec::{decode_json, decode_msgpack, encode_msgpack};
use crate::plugin::diag::{Diagnostic, Diagnostics, Severity};
use crate::plugin::schema::{Attribute, Block, BlockNesting, NestingMode, Schema};
use crate::plugin::value::{AttributePath, PathStep, Type, Value};

pub(crate) fn diagnostics(d: Diagnostics) -> Vec<pb::Diagnostic> {
    d.into_vec().into_iter().map(diagnostic).collect()
}

fn diagnostic(d: Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary,
        detail: d.detail,
        attribute: d.path.map(|p| path_to_pb(&p)),
    }
}

pub(crate) fn path_to_pb(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .steps()
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attr(n) => Selector::AttributeName(n.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

/// Decodes a DynamicValue; an absent one is null (e.g. prior state on create).
pub(crate) fn value_from_pb(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostic> {
    let Some(dv) = dv else {
        return Ok(Value::Null);
    };
    let r = if !dv.msgpack.is_empty() {
        decode_msgpack(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        decode_json(&dv.json, ty)
    } else {
        return Ok(Value::Null);
    };
    r.map_err(|e| {
        Diagnostic::error(
            "Value does not match the schema",
            format!("The provider could not decode a value Terraform sent: {e}. This is a bug in the provider or a version mismatch."),
        )
    })
}

pub(crate) fn value_to_pb(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostic> {
    encode_msgpack(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                "Provider produced a value that does not match its schema",
                format!("{e}. This is a bug in the provider."),
            )
        })
}

pub(crate) fn schema_to_pb(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block_to_pb(&s.block, s.version)),
    }
}

fn block_to_pb(b: &Block, version: i64) -> pb::schema::Block {
    pb::schema::Block {
        version,
        attributes: b.attributes.iter().map(attribute_to_pb).collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| pb::schema::NestedBlock {
                type_name: nb.name.clone(),
                block: Some(block_to_pb(&nb.block, 0)),
                nesting: match nb.nesting {
                    BlockNesting::Single => pb::schema::nested_block::NestingMode::Single,
                    BlockNesting::Group => pb::schema::nested_block::NestingMode::Group,
                    BlockNesting::List => pb::schema::nested_block::NestingMode::List,
                    BlockNesting::Set => pb::schema::nested_block::NestingMode::Set,
                    BlockNesting::Map => pb::schema::nested_block::NestingMode::Map,
                } as i32,
                min_items: nb.min_items,
                max_items: nb.max_items,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
    }
}

fn attribute_to_pb(a: &Attribute) -> pb::schema::Attribute {
    let nested_type = a.nested.as_ref().map(|n| {
        #[allow(deprecated)]
        pb::schema::Object {
            attributes: n.attributes.iter().map(attribute_to_pb).collect(),
            nesting: match n.nesting {
                NestingMode::Single => pb::schema::object::NestingMode::Single,
                NestingMode::List => pb::schema::object::NestingMode::List,
                NestingMode::Set => pb::schema::object::NestingMode::Set,
                NestingMode::Map => pb::schema::object::NestingMode::Map,
            } as i32,
            min_items: 0,
            max_items: 0,
        }
    });
    pb::schema::Attribute {
        name: a.name.clone(),
        // Terraform wants either a type or a nested type, never both.
        r#type: if nested_type.is_some() {
            Vec::new()
        } else {
            a.ty.to_json_bytes()
        },
        nested_type,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: !a.deprecated.is_empty(),
        write_only: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_keep_their_attribute_path() {
        let mut d = Diagnostics::new();
        d.error_at(AttributePath::attr("tags").push_key("a"), "bad", "worse");
        let pb = diagnostics(d);
        assert_eq!(pb[0].severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(pb[0].attribute.as_ref().map(|a| a.steps.len()), Some(2));
    }

    #[test]
    fn nested_attributes_send_no_plain_type() {
        let a = Attribute::nested(
            "x",
            NestingMode::List,
            vec![Attribute::string("y").optional()],
        );
        let pb = attribute_to_pb(&a);
        assert!(pb.r#type.is_empty());
        assert!(pb.nested_type.is_some());
    }
}
