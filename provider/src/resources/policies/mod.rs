//! The policy documents the provider writes (the interruption queue's resource policy, the
//! roles' trust policies, the controller's permissions) and how documents read back from AWS
//! compare with them. Each document is written here once, for the API resources and the
//! CloudFormation template alike.

mod controller;
mod queue;
mod trust;

pub use controller::controller_policy;
pub use queue::queue_policy;
pub use trust::{Irsa, controller_trust, ec2_trust, node_base_policy_arns};

use crate::plugin::Value;

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
pub fn doc_for_state(remote: &str, expected: Option<&str>) -> String {
    let remote = decode_policy(remote);
    let parsed: Option<serde_json::Value> = serde_json::from_str(&remote).ok();
    if let Some(exp) = expected
        && parsed.is_some()
        && serde_json::from_str::<serde_json::Value>(exp).ok() == parsed
    {
        return exp.to_string();
    }
    parsed.map(|p| p.to_string()).unwrap_or(remote)
}

/// Kept for documents held as values that may be unknown at plan time.
pub fn doc_value_for_state(remote: &str, expected: &Value) -> Value {
    Value::string(doc_for_state(remote, expected.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_decode_and_keep_the_planned_text_when_equal() {
        assert_eq!(decode_policy("%7B%22a%22%3A1%7D"), r#"{"a":1}"#);
        assert_eq!(decode_policy(r#"{"a":"100%"}"#), r#"{"a":"100%"}"#);
        let planned = r#"{"b": 2, "a": 1}"#;
        assert_eq!(
            doc_for_state("%7B%22a%22%3A1%2C%22b%22%3A2%7D", Some(planned)),
            planned
        );
        assert_eq!(doc_for_state(r#"{"a":3}"#, Some(planned)), r#"{"a":3}"#);
    }
}
