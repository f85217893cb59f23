//! SDK errors into [`CloudError`]: by the AWS error code when the service sent one, else as a
//! transport failure with the error chain in the message, cut short: an answer the SDK cannot
//! parse carries the whole raw response, which would make every log line and event kilobytes long.

use crate::cloud::error::CloudError;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub(crate) fn from_sdk<E, R>(operation: &str, err: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some(code) => CloudError::from_code(operation, code, err.message().unwrap_or_default()),
        None => CloudError::aws(
            operation,
            None,
            clipped(DisplayErrorContext(&err).to_string()),
        ),
    }
}

const MAX_MESSAGE: usize = 600;

fn clipped(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" ...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::clipped;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(clipped("short".into()), "short");
        let long = "é".repeat(400);
        let cut = clipped(long);
        assert!(cut.len() <= 604 && cut.ends_with(" ..."), "{}", cut.len());
    }
}
