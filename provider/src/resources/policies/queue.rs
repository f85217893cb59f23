//! The interruption queue's resource policy.

use serde_json::{Value as Json, json};

/// Allows EventBridge (and SQS itself, for redrives) to send, and refuses any non-TLS access.
/// `queue_arn` is the ARN, or a CloudFormation expression for it.
pub fn queue_policy(queue_arn: Json) -> Json {
    json!({
        "Version": "2012-10-17",
        "Id": "KarpenterInterruptionQueue",
        "Statement": [
            {
                "Sid": "AllowEventBridgeAndSqs",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn
            },
            {
                "Sid": "DenyNonTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            }
        ]
    })
}
