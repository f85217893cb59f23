//! Typed, path-aware reads from a JSON object.
//!
//! Reading through `serde_json::Value` instead of derived structs lets every failure carry the
//! dotted path of the field (`detail.affectedEntities[1].entityValue`) and lets unknown fields pass.

use serde_json::{Map, Value};

use super::error::{ParseError, excerpt};
use super::instance_id::InstanceId;
use super::timestamp::Timestamp;

/// A JSON object together with its path from the event root.
pub(crate) struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Fields<'a> {
    pub(crate) fn root(map: &'a Map<String, Value>) -> Self {
        Self {
            path: String::new(),
            map,
        }
    }

    /// `value` seen as an object found at `path` (for example an array element).
    pub(crate) fn at(path: String, value: &'a Value) -> Result<Self, ParseError> {
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            other => Err(ParseError::WrongType {
                field: path,
                expected: "an object",
                found: describe(other),
            }),
        }
    }

    pub(crate) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong_type(&self, key: &str, expected: &'static str, found: &Value) -> ParseError {
        ParseError::WrongType {
            field: self.path_of(key),
            expected,
            found: describe(found),
        }
    }

    fn required(&self, key: &str) -> Result<&'a Value, ParseError> {
        self.map.get(key).ok_or_else(|| ParseError::MissingField {
            field: self.path_of(key),
        })
    }

    pub(crate) fn str(&self, key: &str) -> Result<&'a str, ParseError> {
        match self.required(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// An absent or null field is `None`; any other non-string is still an error.
    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ParseError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    pub(crate) fn object(&self, key: &str) -> Result<Fields<'a>, ParseError> {
        Self::at(self.path_of(key), self.required(key)?)
    }

    pub(crate) fn array(&self, key: &str) -> Result<&'a [Value], ParseError> {
        match self.required(key)? {
            Value::Array(items) => Ok(items),
            other => Err(self.wrong_type(key, "an array", other)),
        }
    }

    pub(crate) fn instance_id(&self, key: &str) -> Result<InstanceId, ParseError> {
        let text = self.str(key)?;
        InstanceId::parse(text).map_err(|_| ParseError::InvalidInstanceId {
            field: self.path_of(key),
            value: excerpt(text),
        })
    }

    pub(crate) fn time(&self, key: &str) -> Result<Timestamp, ParseError> {
        let text = self.str(key)?;
        self.parse_time(key, text)
    }

    pub(crate) fn opt_time(&self, key: &str) -> Result<Option<Timestamp>, ParseError> {
        self.opt_str(key)?
            .map(|text| self.parse_time(key, text))
            .transpose()
    }

    fn parse_time(&self, key: &str, text: &str) -> Result<Timestamp, ParseError> {
        Timestamp::parse(text).map_err(|reason| ParseError::InvalidTime {
            field: self.path_of(key),
            value: excerpt(text),
            reason,
        })
    }
}
