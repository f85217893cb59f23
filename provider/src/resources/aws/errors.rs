//! AWS failures as diagnostics that name the operation, the object and what to do.

use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::plugin::Diagnostics;

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

/// IAM's "it does not exist".
pub fn is_no_such_entity<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("NoSuchEntity")
}
