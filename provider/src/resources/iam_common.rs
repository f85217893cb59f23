//! Helpers shared by the IAM and CloudFormation resources: clients of services the provider
//! context does not hold, IAM name/ARN validators, policy document text, IAM tags, and retries
//! over IAM's eventual consistency.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;

use super::common::parse_duration;
pub use super::common::{aws, aws_error, sdk_error_text};
use crate::plugin::validate::Validator;
use crate::plugin::{
    Attribute, AttributePath, Block, BlockNesting, CallContext, Diagnostics, NestedBlock, Value,
};
use crate::provider::AwsContext;

pub fn iam(aws: &AwsContext) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&aws.sdk)
}

pub fn cloudformation(aws: &AwsContext) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(&aws.sdk)
}

pub fn ec2(aws: &AwsContext) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&aws.sdk)
}

/// A Pricing client for the endpoint nearest to the region.
pub fn pricing(aws: &AwsContext) -> aws_sdk_pricing::Client {
    let region = karpenter_contract::pricing::pricing_region(&aws.region);
    let conf = aws_sdk_pricing::config::Builder::from(&aws.sdk)
        .region(aws_sdk_pricing::config::Region::new(region))
        .build();
    aws_sdk_pricing::Client::from_conf(conf)
}

/// The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
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

/// Every element of a set of strings must be an IAM policy ARN.
#[derive(Debug, Clone)]
pub struct EachPolicyArn;

impl Validator for EachPolicyArn {
    fn description(&self) -> String {
        "Each must be an IAM policy ARN (`arn:aws:iam::<account or aws>:policy/<name>`).".into()
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        let (Value::Set(items) | Value::List(items)) = value else {
            return;
        };
        for s in items.iter().filter_map(Value::as_str) {
            if !is_arn_of(s, "iam", Some("policy/")) {
                diags.error_at(
                    path.clone(),
                    "Invalid policy ARN",
                    format!("{s:?} is not valid here. {}", self.description()),
                );
            }
        }
    }
}

/// An ARN of `service` whose resource part starts with `prefix`, e.g. IAM `role/`.
#[derive(Debug, Clone)]
pub struct ArnWithResource(pub &'static str, pub &'static str);

impl Validator for ArnWithResource {
    fn description(&self) -> String {
        // IAM is global: its ARNs have an empty region field (`arn:aws:iam::<account>:role/x`).
        let region = if self.0 == "iam" { ":" } else { "" };
        format!(
            "Must be an ARN of the form `arn:aws:{}:{region}...:{}<name>`.",
            self.0, self.1
        )
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        if let Some(s) = value.as_str()
            && !is_arn_of(s, self.0, Some(self.1))
        {
            diags.error_at(
                path.clone(),
                "Invalid ARN",
                format!("{s:?} is not valid here. {}", self.description()),
            );
        }
    }
}

pub fn is_arn_of(s: &str, service: &str, resource_prefix: Option<&str>) -> bool {
    let p: Vec<&str> = s.splitn(6, ':').collect();
    p.len() == 6
        && p[0] == "arn"
        && p[1].starts_with("aws")
        && p[2] == service
        && p[5].len() > resource_prefix.map_or(0, str::len)
        && resource_prefix.is_none_or(|pre| p[5].starts_with(pre))
}

/// The account field of an ARN (empty for AWS-managed objects).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The last path segment of an ARN's resource (`role/path/name` -> `name`).
pub fn arn_name(arn: &str) -> &str {
    arn.rsplit(['/', ':']).next().unwrap_or(arn)
}

/// IAM returns policy documents percent-encoded (RFC 3986); moto returns them plain. Both decode.
pub fn decode_policy(doc: &str) -> String {
    let bytes = doc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text to keep in state for a remote document: the expected text when both mean the same
/// JSON (so key order and spacing never show as drift), else the remote one, compacted.
pub fn doc_for_state(remote: &str, expected: &Value) -> Value {
    let remote = decode_policy(remote);
    let parsed: Option<serde_json::Value> = serde_json::from_str(&remote).ok();
    if let Some(exp) = expected.as_str()
        && parsed.is_some()
        && serde_json::from_str::<serde_json::Value>(exp).ok() == parsed
    {
        return Value::string(exp);
    }
    Value::string(parsed.map(|p| p.to_string()).unwrap_or(remote))
}

pub fn is_no_such_entity<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("NoSuchEntity")
}

pub fn iam_tags(
    m: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> Option<Vec<aws_sdk_iam::types::Tag>> {
    m.iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| diags.error("Invalid tag", e.to_string()))
        .ok()
}

pub fn tag_map(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Keys present before and absent now: what an update must untag.
pub fn stale_keys(had: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> Vec<String> {
    had.keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect()
}

pub fn string_set(v: &Value) -> BTreeSet<String> {
    match v {
        Value::Set(items) | Value::List(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => BTreeSet::new(),
    }
}

pub fn set_value(items: impl IntoIterator<Item = String>) -> Value {
    Value::Set(items.into_iter().map(Value::String).collect())
}

/// `timeouts { create = "..", update = "..", delete = ".." }` with the given operations.
pub fn timeouts_block(ops: &[&'static str], default: &str) -> NestedBlock {
    let mut b = Block::new().description("How long operations may take.");
    for op in ops {
        b = b.attribute(Attribute::string(*op).optional().description(format!(
            "How long `{op}` may wait for AWS, e.g. `5m` (default `{default}`)."
        )));
    }
    NestedBlock::new("timeouts", BlockNesting::Single, b)
}

/// Reports unparsable `timeouts` values at their path.
pub fn validate_timeouts(config: &Value, ops: &[&str], diags: &mut Diagnostics) {
    for op in ops {
        if let Some(t) = config.get("timeouts").get(op).as_str()
            && parse_duration(t).is_none()
        {
            diags.error_at(
                AttributePath::attr("timeouts").push_attr(*op),
                "Invalid duration",
                format!("{t:?} is not a duration; write e.g. `90s`, `2m` or `1h`."),
            );
        }
    }
}

pub fn timeout_of(v: &Value, op: &str, default: Duration) -> Duration {
    v.get("timeouts")
        .get(op)
        .as_str()
        .and_then(parse_duration)
        .unwrap_or(default)
}

/// Why a retried call stopped.
pub enum RetryEnd<E> {
    Failed(E),
    Cancelled,
}

/// Retries `call` while its error is one IAM returns for objects created moments ago
/// (`NoSuchEntity`, `MalformedPolicyDocument` naming a principal that is not visible yet), until
/// `timeout`. Other errors return at once.
pub async fn retry_eventual<T, E, F, Fut>(
    ctx: &CallContext,
    timeout: Duration,
    mut call: F,
) -> Result<T, RetryEnd<E>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(250);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let transient = matches!(
                    e.code(),
                    Some("NoSuchEntity" | "MalformedPolicyDocument" | "InvalidParameterValue")
                );
                if !transient || tokio::time::Instant::now() + delay > deadline {
                    return Err(RetryEnd::Failed(e));
                }
            }
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(RetryEnd::Cancelled),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(v: &dyn Validator, s: &str) -> usize {
        let mut d = Diagnostics::new();
        v.validate(&Value::string(s), &AttributePath::attr("name"), &mut d);
        d.iter().count()
    }

    #[test]
    fn iam_names_follow_iams_character_set_and_length() {
        assert_eq!(errors(&IamName(64), "KarpenterNodeRole-demo"), 0);
        assert_eq!(errors(&IamName(64), "a+=,.@_-b"), 0);
        assert_eq!(errors(&IamName(64), "has space"), 1);
        assert_eq!(errors(&IamName(64), "slash/no"), 1);
        assert_eq!(errors(&IamName(64), &"x".repeat(65)), 1);
        assert_eq!(errors(&IamName(64), ""), 1);
    }

    #[test]
    fn arns_are_checked_by_service_and_resource_type() {
        let role = ArnWithResource("iam", "role/");
        assert_eq!(
            errors(
                &role,
                "arn:aws:iam::123456789012:role/KarpenterNodeRole-demo"
            ),
            0
        );
        assert_eq!(errors(&role, "arn:aws:iam::123456789012:policy/x"), 1);
        assert_eq!(errors(&role, "not-an-arn"), 1);
        assert_eq!(errors(&role, "arn:aws:iam::123456789012:role/"), 1);
        assert_eq!(
            role.description(),
            "Must be an ARN of the form `arn:aws:iam::...:role/<name>`."
        );
        let mut d = Diagnostics::new();
        let set = Value::Set(vec![
            Value::string("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"),
            Value::string("AmazonS3ReadOnlyAccess"),
        ]);
        EachPolicyArn.validate(&set, &AttributePath::attr("additional_policy_arns"), &mut d);
        assert_eq!(d.iter().count(), 1);
    }

    #[test]
    fn policy_documents_decode_and_keep_the_planned_text_when_equal() {
        assert_eq!(decode_policy("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(decode_policy(r#"{"a":"100%"}"#), r#"{"a":"100%"}"#);
        let planned = Value::string(r#"{"b": 2, "a": 1}"#);
        assert_eq!(
            doc_for_state("%7B%22a%22%3A1%2C%22b%22%3A2%7D", &planned),
            planned
        );
        assert_eq!(
            doc_for_state(r#"{"a":3}"#, &planned),
            Value::string(r#"{"a":3}"#)
        );
    }

    #[test]
    fn arn_parts() {
        assert_eq!(
            arn_account("arn:aws:iam::123456789012:role/x"),
            Some("123456789012")
        );
        assert_eq!(arn_account("arn:aws:iam::aws:policy/x"), Some("aws"));
        assert_eq!(arn_name("arn:aws:iam::1:role/path/x"), "x");
        assert_eq!(partition("cn-north-1"), "aws-cn");
    }
}
