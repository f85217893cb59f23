//! ARNs and IAM names: validators that catch at plan time what AWS would refuse half-way
//! through an apply, and the parts of an ARN the resources need.

use crate::plugin::validate::Validator;
use crate::plugin::{AttributePath, Diagnostics, Value};

/// An ARN of one service, optionally of one resource type (IAM `role/`).
#[derive(Debug, Clone)]
pub struct Arn {
    pub service: &'static str,
    pub resource_prefix: &'static str,
}

impl Arn {
    pub const fn of(service: &'static str) -> Self {
        Arn {
            service,
            resource_prefix: "",
        }
    }
    pub const fn with_resource(service: &'static str, resource_prefix: &'static str) -> Self {
        Arn {
            service,
            resource_prefix,
        }
    }
    pub fn matches(&self, s: &str) -> bool {
        is_arn_of(s, self.service, self.resource_prefix)
    }
}

impl Validator for Arn {
    fn description(&self) -> String {
        // IAM is global: its ARNs have an empty region field (`arn:aws:iam::<account>:role/x`).
        let region = if self.service == "iam" {
            ""
        } else {
            "<region>"
        };
        format!(
            "Must be an ARN of the form `arn:aws:{}:{region}:...:{}<name>`.",
            self.service, self.resource_prefix
        )
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        match value {
            Value::Set(items) | Value::List(items) => {
                for v in items {
                    self.validate(v, path, diags);
                }
            }
            Value::String(s) if !self.matches(s) => diags.error_at(
                path.clone(),
                match self.resource_prefix.trim_end_matches('/') {
                    "" => "Invalid ARN".to_string(),
                    kind => format!("Invalid {kind} ARN"),
                },
                format!("{s:?} is not valid here. {}", self.description()),
            ),
            _ => {}
        }
    }
}

fn is_arn_of(s: &str, service: &str, resource_prefix: &str) -> bool {
    let p: Vec<&str> = s.splitn(6, ':').collect();
    p.len() == 6
        && p[0] == "arn"
        && p[1].starts_with("aws")
        && p[2] == service
        && p[5].len() > resource_prefix.len()
        && p[5].starts_with(resource_prefix)
}

/// The account field of an ARN (empty for AWS-managed objects).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The last path segment of an ARN's resource (`role/path/name` -> `name`).
pub fn arn_name(arn: &str) -> &str {
    arn.rsplit(['/', ':']).next().unwrap_or(arn)
}

/// IAM refuses these names; catching them at plan time names the attribute instead of failing
/// half-way through an apply.
#[derive(Debug, Clone)]
pub struct IamName(pub usize);

impl Validator for IamName {
    fn description(&self) -> String {
        format!(
            "Must be 1 to {} characters: letters, digits and `+=,.@_-` (IAM's rule).",
            self.0
        )
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        let Some(s) = value.as_str() else { return };
        let n = s.chars().count();
        let bad = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)));
        if n == 0 || n > self.0 || bad.is_some() {
            let why = match bad {
                Some(c) => format!("contains {c:?}"),
                None => format!("is {n} characters long"),
            };
            diags.error_at(
                path.clone(),
                "Invalid IAM name",
                format!("{s:?} {why}. {}", self.description()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(v: &dyn Validator, value: Value) -> usize {
        let mut d = Diagnostics::new();
        v.validate(&value, &AttributePath::attr("name"), &mut d);
        d.iter().count()
    }

    fn s(v: &str) -> Value {
        Value::string(v)
    }

    #[test]
    fn iam_names_follow_iams_character_set_and_length() {
        assert_eq!(errors(&IamName(64), s("KarpenterNodeRole-demo")), 0);
        assert_eq!(errors(&IamName(64), s("a+=,.@_-b")), 0);
        assert_eq!(errors(&IamName(64), s("has space")), 1);
        assert_eq!(errors(&IamName(64), s("slash/no")), 1);
        assert_eq!(errors(&IamName(64), s(&"x".repeat(65))), 1);
        assert_eq!(errors(&IamName(64), s("")), 1);
    }

    #[test]
    fn arns_are_checked_by_service_and_resource_type() {
        let role = Arn::with_resource("iam", "role/");
        let ok = "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo";
        assert_eq!(errors(&role, s(ok)), 0);
        assert_eq!(errors(&role, s("arn:aws:iam::123456789012:policy/x")), 1);
        assert_eq!(errors(&role, s("not-an-arn")), 1);
        assert_eq!(errors(&role, s("arn:aws:iam::123456789012:role/")), 1);
        assert_eq!(
            role.description(),
            "Must be an ARN of the form `arn:aws:iam::...:role/<name>`."
        );
        let queue = Arn::of("sqs");
        assert_eq!(errors(&queue, s("arn:aws:sqs:us-east-1:123456789012:q")), 0);
        assert_eq!(errors(&queue, s("arn:aws:sns:us-east-1:1:q")), 1);
        let policies = Arn::with_resource("iam", "policy/");
        let set = Value::Set(vec![
            s("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
            s("AmazonS3ReadOnlyAccess"),
        ]);
        assert_eq!(errors(&policies, set), 1);
    }

    #[test]
    fn arn_parts() {
        assert_eq!(
            arn_account("arn:aws:iam::123456789012:role/x"),
            Some("123456789012")
        );
        assert_eq!(arn_account("arn:aws:iam::aws:policy/x"), Some("aws"));
        assert_eq!(arn_name("arn:aws:iam::1:role/path/x"), "x");
    }
}
