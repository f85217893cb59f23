//! EC2 instance ids, validated at the edge so the controller never looks up a node by garbage.

use std::fmt;

/// An EC2 instance id: `i-` followed by 8 (older instances) or 17 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstanceId(String);

/// The text was not an EC2 instance id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected i- followed by 8 or 17 lowercase hex digits")]
pub struct InvalidInstanceId;

impl InstanceId {
    pub fn parse(text: &str) -> Result<Self, InvalidInstanceId> {
        let digits = text.strip_prefix("i-").ok_or(InvalidInstanceId)?;
        let hex = digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex && matches!(digits.len(), 8 | 17) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidInstanceId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for InstanceId {
    type Err = InvalidInstanceId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_short_forms_are_accepted() {
        for id in ["i-0abc123def4567890", "i-1a2b3c4d"] {
            assert_eq!(InstanceId::parse(id).map(|i| i.to_string()), Ok(id.into()));
        }
    }

    #[test]
    fn anything_else_is_rejected() {
        for id in [
            "",
            "i-",
            "0abc123def4567890",
            "i-0ABC123DEF4567890",
            "i-0abc123def456789",
            "i-0abc123def45678901",
            "i-0abc123g",
            " i-1a2b3c4d",
            "i-1a2b3c4d\0",
            "arn:aws:ec2:ap-southeast-1:123456789012:instance/i-0abc123def4567890",
            "h-0abc123def4567890",
        ] {
            assert_eq!(InstanceId::parse(id), Err(InvalidInstanceId), "{id:?}");
        }
    }
}
