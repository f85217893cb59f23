//! SDK errors into [`CloudError`]: by the AWS error code when the service sent one, else as a
//! transport failure with the whole error chain in the message.

use crate::cloud::error::CloudError;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

pub(crate) fn from_sdk<E, R>(operation: &str, err: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some(code) => CloudError::from_code(operation, code, err.message().unwrap_or_default()),
        None => CloudError::aws(operation, None, DisplayErrorContext(&err).to_string()),
    }
}
