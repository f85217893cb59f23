//! Wire encodings of cty values: msgpack (what Terraform sends in DynamicValue) and JSON (stored
//! state, and DynamicValue from older clients).

mod json;
pub(crate) mod json_text;
mod msgpack;
#[cfg(test)]
mod roundtrip_tests;

pub use json::{decode_json, encode_json};
pub use msgpack::{decode_msgpack, encode_msgpack};

use super::value::{AttributePath, Type, Value};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("at {path}: expected {expected}, found {found}")]
    Mismatch {
        path: String,
        expected: String,
        found: String,
    },
    #[error("at {path}: unsupported attribute {name:?}")]
    UnexpectedAttribute { path: String, name: String },
    #[error("at {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("msgpack: {0}")]
    Msgpack(String),
    #[error("json: {0}")]
    Json(String),
}

impl CodecError {
    pub(crate) fn mismatch(
        path: &AttributePath,
        expected: &Type,
        found: impl Into<String>,
    ) -> Self {
        CodecError::Mismatch {
            path: display(path),
            expected: expected.to_json().to_string(),
            found: found.into(),
        }
    }
    pub(crate) fn invalid(path: &AttributePath, message: impl Into<String>) -> Self {
        CodecError::Invalid {
            path: display(path),
            message: message.into(),
        }
    }
}

fn display(p: &AttributePath) -> String {
    if p.is_root() {
        "(root)".into()
    } else {
        p.to_string()
    }
}

/// The concrete type a value has when it sits under a `dynamic` type. Values do not carry their
/// type, so it is read off the value; empty collections become collections of `dynamic`.
pub fn infer_type(v: &Value) -> Type {
    // Elements whose inferred types differ fall back to `dynamic`, where each carries its own.
    fn common(elems: &[Value]) -> Type {
        let mut types = elems
            .iter()
            .filter(|e| !e.is_null() && !e.is_unknown())
            .map(infer_type);
        let Some(first) = types.next() else {
            return Type::Dynamic;
        };
        if types.all(|t| t == first) {
            first
        } else {
            Type::Dynamic
        }
    }
    match v {
        Value::Null | Value::Unknown => Type::Dynamic,
        Value::String(_) => Type::String,
        Value::Number(_) => Type::Number,
        Value::Bool(_) => Type::Bool,
        Value::List(e) => Type::list(common(e)),
        Value::Set(e) => Type::set(common(e)),
        Value::Map(m) => Type::map(common(&m.values().cloned().collect::<Vec<_>>())),
        Value::Object(m) => {
            Type::Object(m.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect())
        }
        Value::Tuple(e) => Type::Tuple(e.iter().map(infer_type).collect()),
    }
}

/// Sets hold each element once; cty compares set elements by value.
pub(crate) fn dedup_set(elems: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(elems.len());
    for e in elems {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}
