//! Helpers shared by the AWS resources: provider data, tags, ARN validation, AWS error text.

use std::sync::Arc;
use std::time::Duration;

use crate::plugin::validate::Validator;
use crate::plugin::{AttributePath, CallContext, Diagnostics, Value};
use crate::provider::AwsContext;

/// The configured AWS context, or an error diagnostic saying why there is none.
pub fn aws(ctx: &CallContext, diags: &mut Diagnostics) -> Option<Arc<AwsContext>> {
    let a = ctx.provider_data::<AwsContext>();
    if a.is_none() {
        diags.error(
            "Provider not configured",
            "The karpenter provider has no configuration yet (region and cluster_name must be known).",
        );
    }
    a
}

/// Reports an AWS failure naming the operation, the object and what to do about it.
pub fn aws_error(diags: &mut Diagnostics, op: &str, what: &str, err: &dyn std::fmt::Display) {
    diags.error(
        format!("AWS {op} failed for {what}"),
        format!(
            "{err}\n\nCheck the credentials and permissions for {op}, the region, and aws.endpoint_url; then run the command again."
        ),
    );
}

/// Full error text of an SDK error, including the service's code and message.
pub fn sdk_error_text<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The user's own tags as they should appear in state: provider default tags with the same value
/// are not the user's, and no tags at all stays null when the user wrote none.
pub fn tags_for_state(
    remote: &std::collections::BTreeMap<String, String>,
    aws: &AwsContext,
    prior: &Value,
) -> Value {
    let own: std::collections::BTreeMap<String, String> = remote
        .iter()
        .filter(|(k, v)| {
            prior.get("tags").as_string_map().contains_key(*k)
                || aws.default_tags.get(*k) != Some(*v)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if own.is_empty() && prior.get("tags").is_null() {
        Value::Null
    } else {
        Value::string_map(own)
    }
}

/// `arn:partition:service:region:account:resource`, optionally of one service.
#[derive(Debug, Clone)]
pub struct ArnOf(pub &'static str);

impl Validator for ArnOf {
    fn description(&self) -> String {
        format!(
            "Must be an ARN of service `{}` (`arn:aws:{}:<region>:<account>:<name>`).",
            self.0, self.0
        )
    }
    fn validate(&self, value: &Value, path: &AttributePath, diags: &mut Diagnostics) {
        let Some(s) = value.as_str() else { return };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && !parts[1].is_empty()
            && parts[2] == self.0
            && !parts[5].is_empty();
        if !ok {
            diags.error_at(
                path.clone(),
                "Invalid ARN",
                format!("{s:?} is not valid here. {}", self.description()),
            );
        }
    }
}

/// Polls `check` until it returns Some, StopProvider cancels, or `timeout` passes.
pub enum Waited<T> {
    Done(T),
    Cancelled,
    TimedOut,
}

pub async fn wait_until<T, F, Fut>(ctx: &CallContext, timeout: Duration, mut check: F) -> Waited<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(200);
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Waited::Cancelled,
            r = check() => if let Some(v) = r { return Waited::Done(v) },
        }
        if tokio::time::Instant::now() >= deadline {
            return Waited::TimedOut;
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Waited::Cancelled,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Parses a Go-style duration such as `90s`, `2m`, `1h30m`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
    }
    if !num.is_empty() || s.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_terraform_timeouts() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("3d"), None);
    }

    #[test]
    fn arn_validator_names_the_service() {
        let v = ArnOf("sqs");
        let mut d = Diagnostics::new();
        v.validate(
            &Value::string("arn:aws:sqs:us-east-1:123456789012:q"),
            &AttributePath::attr("a"),
            &mut d,
        );
        assert!(d.is_empty());
        v.validate(
            &Value::string("not-an-arn"),
            &AttributePath::attr("a"),
            &mut d,
        );
        v.validate(
            &Value::string("arn:aws:sns:us-east-1:1:q"),
            &AttributePath::attr("a"),
            &mut d,
        );
        assert_eq!(d.iter().count(), 2);
    }
}
