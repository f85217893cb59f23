//! Why a message body could not be turned into an interruption event.

use super::timestamp::TimeError;

/// A message that cannot be acted on because it is broken, as opposed to one we choose not to act
/// on (that is [`super::Ignored`]). Every variant names the field (a dotted path into the event) and
/// the reason, so the log line alone tells an operator what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message body is empty")]
    EmptyBody,
    #[error("message body is not valid JSON: {reason}")]
    NotJson {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("message body is {found}, expected a JSON object (an EventBridge event)")]
    NotAnObject { found: &'static str },
    #[error("{field}: missing, required to act on this event")]
    MissingField { field: String },
    #[error("{field}: expected {expected}, found {found}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error(
        "{field}: {value:?} is not an EC2 instance id (expected i- followed by 8 or 17 lowercase hex digits)"
    )]
    InvalidInstanceId { field: String, value: String },
    #[error("{field}: {value:?} is not an RFC 3339 or RFC 2822 date-time: {reason}")]
    InvalidTime {
        field: String,
        value: String,
        reason: TimeError,
    },
}

impl ParseError {
    /// The `outcome` metric label for every broken message.
    pub const METRIC_LABEL: &'static str = "unparseable";

    pub fn metric_label(&self) -> &'static str {
        Self::METRIC_LABEL
    }

    /// The dotted path of the offending field, when the body got far enough to have one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::EmptyBody | Self::NotJson { .. } | Self::NotAnObject { .. } => None,
            Self::MissingField { field }
            | Self::WrongType { field, .. }
            | Self::InvalidInstanceId { field, .. }
            | Self::InvalidTime { field, .. } => Some(field),
        }
    }
}

/// Values quoted in errors are cut short: a hostile message must not turn one log line into
/// megabytes.
pub(crate) fn excerpt(value: &str) -> String {
    const LIMIT: usize = 80;
    match value.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), 81);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn display_names_the_field_and_the_reason() {
        let e = ParseError::WrongType {
            field: "detail.instance-id".into(),
            expected: "a string",
            found: "a number",
        };
        assert_eq!(
            e.to_string(),
            "detail.instance-id: expected a string, found a number"
        );
        assert_eq!(e.field(), Some("detail.instance-id"));
        assert_eq!(e.metric_label(), "unparseable");
    }
}
