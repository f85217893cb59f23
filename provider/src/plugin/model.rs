//! Typed views of resource values. A resource declares one struct whose fields are its
//! attributes (`model!`), decodes a `Value` into it once and encodes it back once, so a misspelt
//! attribute name is a compile error instead of a silent null.

use std::collections::{BTreeMap, BTreeSet};

use super::value::Value;

/// A value the schema promised to be of one type was of another: a bug between a schema and
/// its model, reported rather than guessed around.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute `{attribute}` is not {expected}")]
pub struct DecodeError {
    pub attribute: &'static str,
    pub expected: &'static str,
}

/// One attribute's value in a model. Null and unknown decode as `None` in an `Option` field and
/// are refused elsewhere, so a field that may be unknown at plan time has to say so.
pub trait Field: Sized {
    /// What the value must be, for the error (`"a string"`).
    const EXPECTED: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
    fn to_value(&self) -> Value;
}

impl Field for String {
    const EXPECTED: &'static str = "a known string";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_str().map(str::to_string)
    }
    fn to_value(&self) -> Value {
        Value::string(self.as_str())
    }
}

impl Field for i64 {
    const EXPECTED: &'static str = "a known whole number";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_i64()
    }
    fn to_value(&self) -> Value {
        Value::int(*self)
    }
}

impl Field for bool {
    const EXPECTED: &'static str = "a known bool";
    fn from_value(v: &Value) -> Option<Self> {
        v.as_bool()
    }
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
}

fn strings(items: &[Value]) -> Option<impl Iterator<Item = String> + '_> {
    items
        .iter()
        .all(|i| i.as_str().is_some())
        .then(|| items.iter().filter_map(Value::as_str).map(str::to_string))
}

impl Field for BTreeSet<String> {
    const EXPECTED: &'static str = "a known set of strings";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Set(items) | Value::List(items) => strings(items).map(Iterator::collect),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::Set(self.iter().map(Value::string).collect())
    }
}

impl Field for Vec<String> {
    const EXPECTED: &'static str = "a known list of strings";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::List(items) | Value::Tuple(items) => strings(items).map(Iterator::collect),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::List(self.iter().map(Value::string).collect())
    }
}

impl Field for BTreeMap<String, String> {
    const EXPECTED: &'static str = "a known map of strings";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Map(m) | Value::Object(m) => m
                .iter()
                .map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect(),
            _ => None,
        }
    }
    fn to_value(&self) -> Value {
        Value::string_map(self.clone())
    }
}

/// Kept as it is: for attributes whose shape the resource handles itself (nested blocks,
/// documents that may be unknown at plan time).
impl Field for Value {
    const EXPECTED: &'static str = "a value";
    fn from_value(v: &Value) -> Option<Self> {
        Some(v.clone())
    }
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: Field> Field for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null | Value::Unknown => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_value)
    }
}

/// A resource's (or block's) attributes as a struct.
pub trait Model: Sized {
    /// The attribute names, in declaration order: what a test compares with the schema.
    const ATTRIBUTES: &'static [&'static str];
    fn decode(v: &Value) -> Result<Self, DecodeError>;
    fn encode(&self) -> Value;
}

/// Declares a model: a struct with one public field per attribute, named as the attribute.
///
/// ```ignore
/// model! {
///     pub struct Queue { name: Option<String>, tags: Option<BTreeMap<String, String>> }
/// }
/// ```
#[macro_export]
macro_rules! model {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        $vis struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::plugin::model::Model for $name {
            const ATTRIBUTES: &'static [&'static str] = &[$(stringify!($field)),*];
            fn decode(
                v: &$crate::plugin::Value,
            ) -> ::std::result::Result<Self, $crate::plugin::model::DecodeError> {
                Ok(Self {
                    $($field: <$ty as $crate::plugin::model::Field>::from_value(v.get(stringify!($field)))
                        .ok_or($crate::plugin::model::DecodeError {
                            attribute: stringify!($field),
                            expected: <$ty as $crate::plugin::model::Field>::EXPECTED,
                        })?,)*
                })
            }
            fn encode(&self) -> $crate::plugin::Value {
                $crate::plugin::Value::object([
                    $((stringify!($field), $crate::plugin::model::Field::to_value(&self.$field)),)*
                ])
            }
        }

        impl $crate::plugin::model::Field for $name {
            const EXPECTED: &'static str = "a known object";
            fn from_value(v: &$crate::plugin::Value) -> Option<Self> {
                if !matches!(v, $crate::plugin::Value::Object(_)) {
                    return None;
                }
                <Self as $crate::plugin::model::Model>::decode(v).ok()
            }
            fn to_value(&self) -> $crate::plugin::Value {
                <Self as $crate::plugin::model::Model>::encode(self)
            }
        }

        /// A list-nested block of these.
        impl $crate::plugin::model::Field for Vec<$name> {
            const EXPECTED: &'static str = "a known list of objects";
            fn from_value(v: &$crate::plugin::Value) -> Option<Self> {
                match v {
                    $crate::plugin::Value::List(items) | $crate::plugin::Value::Set(items) => items
                        .iter()
                        .map(<$name as $crate::plugin::model::Field>::from_value)
                        .collect(),
                    $crate::plugin::Value::Null => Some(Vec::new()),
                    _ => None,
                }
            }
            fn to_value(&self) -> $crate::plugin::Value {
                $crate::plugin::Value::List(
                    self.iter()
                        .map(<$name as $crate::plugin::model::Field>::to_value)
                        .collect(),
                )
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::model! {
        struct Example {
            name: String,
            retention: Option<i64>,
            tags: Option<BTreeMap<String, String>>,
            kinds: BTreeSet<String>,
        }
    }

    #[test]
    fn a_model_round_trips_and_lists_its_attributes() {
        let v = Value::object([
            ("name", Value::string("q")),
            ("retention", Value::Unknown),
            ("tags", Value::Null),
            ("kinds", Value::Set(vec![Value::string("a")])),
        ]);
        let m = Example::decode(&v).unwrap();
        assert_eq!(m.name, "q");
        assert_eq!(m.retention, None);
        assert_eq!(m.kinds.len(), 1);
        assert_eq!(Example::ATTRIBUTES, ["name", "retention", "tags", "kinds"]);
        let back = m.encode();
        assert_eq!(back.get("retention"), &Value::Null);
        assert_eq!(back.get("kinds"), v.get("kinds"));
    }

    #[test]
    fn a_missing_required_attribute_names_itself() {
        let v = Value::object([("name", Value::Unknown)]);
        assert_eq!(
            Example::decode(&v).unwrap_err(),
            DecodeError {
                attribute: "name",
                expected: "a known string"
            }
        );
    }
}
