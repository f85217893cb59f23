//! cty values as plain Rust data: what resources read and write. Codecs live in `codec`.

mod number;
mod path;
mod types;

use std::collections::BTreeMap;

pub use number::{Number, NumberError};
pub use path::{AttributePath, PathStep};
pub use types::{Type, TypeError};

/// A cty value. Types are not carried: the schema supplies them when encoding and decoding.
/// Sets are kept as vectors without duplicates, in the order they arrived; equality ignores that
/// order, as cty's does (Terraform sends a set sorted, a resource may read it back in any order).
#[derive(Clone, Debug, Eq, Default)]
pub enum Value {
    #[default]
    Null,
    /// Known only after apply. Refinements Terraform attaches (prefixes, ranges) are dropped:
    /// they narrow what the value may become but never make it known.
    Unknown,
    String(String),
    Number(Number),
    Bool(bool),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) | (Unknown, Unknown) => true,
            (String(a), String(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => a.len() == b.len() && a.iter().all(|x| b.contains(x)),
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    pub fn string(s: impl Into<String>) -> Self {
        Value::String(s.into())
    }
    pub fn int(v: i64) -> Self {
        Value::Number(Number::from_i64(v))
    }
    pub fn object<I, K>(attrs: I) -> Self
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    pub fn string_map<I, K, V>(m: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Value::Map(
            m.into_iter()
                .map(|(k, v)| (k.into(), Value::String(v.into())))
                .collect(),
        )
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }
    /// True when neither this value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// An attribute of an object value; Null for anything else or a missing attribute.
    pub fn get(&self, name: &str) -> &Value {
        static NULL: Value = Value::Null;
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Sets an attribute of an object value; a no-op on anything else.
    pub fn set(&mut self, name: &str, v: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_string(), v);
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.to_i64(),
            _ => None,
        }
    }
    /// Elements of a map of strings, skipping null and unknown entries.
    pub fn as_string_map(&self) -> BTreeMap<String, String> {
        match self {
            Value::Map(m) => m
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// The value at `path`, or Null when the path leads nowhere.
    pub fn at(&self, path: &AttributePath) -> &Value {
        static NULL: Value = Value::Null;
        let mut cur = self;
        for step in path.steps() {
            cur = match (step, cur) {
                (PathStep::Attr(n), Value::Object(m)) => m.get(n).unwrap_or(&NULL),
                (PathStep::Key(k), Value::Map(m)) => m.get(k).unwrap_or(&NULL),
                (PathStep::Index(i), Value::List(v) | Value::Tuple(v) | Value::Set(v)) => {
                    usize::try_from(*i)
                        .ok()
                        .and_then(|i| v.get(i))
                        .unwrap_or(&NULL)
                }
                _ => &NULL,
            };
        }
        cur
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn sets_are_equal_whatever_their_order_lists_are_not() {
        let (a, b) = (Value::string("a"), Value::string("b"));
        assert_eq!(
            Value::Set(vec![a.clone(), b.clone()]),
            Value::Set(vec![b.clone(), a.clone()])
        );
        assert_ne!(
            Value::List(vec![a.clone(), b.clone()]),
            Value::List(vec![b.clone(), a.clone()])
        );
        assert_ne!(Value::Set(vec![a.clone()]), Value::Set(vec![a, b]));
    }
}
