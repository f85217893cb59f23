//! Validators: small named checks attached to attributes. Each carries the sentence the docs
//! show, and reports problems at the attribute's path.

use std::fmt::Debug;

use super::diag::Diagnostics;
use super::value::{AttributePath, Value};

/// Runs only on known, non-null values: null is the business of required/optional, and unknown
/// values are checked again once known.
pub trait Validator: Send + Sync + Debug {
    /// One markdown sentence for the docs, e.g. "Must be one of `a`, `b`."
    fn description(&self) -> String;
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics);
}

/// The string must be one of a fixed set.
#[derive(Debug, Clone)]
pub struct OneOf(pub Vec<&'static str>);

impl Validator for OneOf {
    fn description(&self) -> String {
        let list: Vec<String> = self.0.iter().map(|s| format!("`{s}`")).collect();
        format!("Must be one of {}.", list.join(", "))
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if let Some(s) = value.as_str()
            && !self.0.contains(&s)
        {
            diags.error_at(
                path.clone(),
                "Invalid value",
                format!("{s:?} is not allowed here. {}", self.description()),
            );
        }
    }
}

/// String length in characters, inclusive bounds.
#[derive(Debug, Clone)]
pub struct LengthBetween(pub usize, pub usize);

impl Validator for LengthBetween {
    fn description(&self) -> String {
        format!("Must be {} to {} characters long.", self.0, self.1)
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if let Some(s) = value.as_str() {
            let n = s.chars().count();
            if n < self.0 || n > self.1 {
                diags.error_at(
                    path.clone(),
                    "Invalid length",
                    format!("{s:?} is {n} characters long. {}", self.description()),
                );
            }
        }
    }
}

/// Whole number within inclusive bounds.
#[derive(Debug, Clone)]
pub struct IntBetween(pub i64, pub i64);

impl Validator for IntBetween {
    fn description(&self) -> String {
        format!("Must be a whole number from {} to {}.", self.0, self.1)
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if let Value::Number(n) = value {
            match n.to_i64() {
                Some(v) if (self.0..=self.1).contains(&v) => {}
                _ => diags.error_at(
                    path.clone(),
                    "Value out of range",
                    format!("{n} is not allowed. {}", self.description()),
                ),
            }
        }
    }
}

/// Every character must satisfy a predicate; `allowed` describes the set in words.
#[derive(Debug, Clone)]
pub struct CharsIn {
    pub allowed: &'static str,
    pub test: fn(char) -> bool,
}

impl Validator for CharsIn {
    fn description(&self) -> String {
        format!("May contain only {}.", self.allowed)
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if let Some(s) = value.as_str()
            && let Some(bad) = s.chars().find(|c| !(self.test)(*c))
        {
            diags.error_at(
                path.clone(),
                "Invalid character",
                format!("{s:?} contains {bad:?}. {}", self.description()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_reports_the_path_and_the_choices() {
        let mut d = Diagnostics::new();
        let p = AttributePath::attr("kind");
        OneOf(vec!["a", "b"]).validate(&Value::string("c"), &p, &mut d);
        let diag = d.iter().next().unwrap();
        assert_eq!(diag.path.as_ref(), Some(&p));
        assert!(diag.detail.contains("`a`, `b`"));
    }

    #[test]
    fn int_between_rejects_fractions_and_out_of_range() {
        let v = IntBetween(60, 100);
        for (val, ok) in [(Value::int(60), true), (Value::int(101), false)] {
            let mut d = Diagnostics::new();
            v.validate(&val, &AttributePath::attr("x"), &mut d);
            assert_eq!(d.has_errors(), !ok);
        }
    }

    #[test]
    fn unknown_and_null_are_not_checked() {
        let mut d = Diagnostics::new();
        LengthBetween(1, 2).validate(&Value::Unknown, &AttributePath::root(), &mut d);
        LengthBetween(1, 2).validate(&Value::Null, &AttributePath::root(), &mut d);
        assert!(d.is_empty());
    }
}
