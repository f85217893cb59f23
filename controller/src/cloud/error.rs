//! The one error type of the cloud seam. Callers branch on the kind through the predicates (never
//! by matching message text), and every variant knows its metric label and AWS error code.

use super::types::Pool;
use std::fmt;

/// AWS error codes the launch path treats specially (as EC2 spells them).
pub mod codes {
    pub const INSUFFICIENT_INSTANCE_CAPACITY: &str = "InsufficientInstanceCapacity";
    pub const UNFULFILLABLE_CAPACITY: &str = "UnfulfillableCapacity";
    pub const INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET: &str = "InsufficientFreeAddressesInSubnet";
    pub const MAX_SPOT_INSTANCE_COUNT_EXCEEDED: &str = "MaxSpotInstanceCountExceeded";

    /// Codes that mean "this (type, zone, capacity type) pool cannot give us capacity right now".
    pub const CAPACITY: [&str; 3] = [
        INSUFFICIENT_INSTANCE_CAPACITY,
        UNFULFILLABLE_CAPACITY,
        INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET,
    ];

    pub fn is_capacity(code: &str) -> bool {
        CAPACITY.contains(&code)
    }

    /// Codes meaning our credentials may not do this; retrying will not help.
    pub fn is_unauthorized(code: &str) -> bool {
        matches!(
            code,
            "UnauthorizedOperation"
                | "AuthFailure"
                | "AccessDenied"
                | "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
        )
    }

    /// Codes meaning the thing asked for does not exist.
    pub fn is_not_found(code: &str) -> bool {
        code.ends_with(".NotFound")
            || code.ends_with("NotFoundException")
            || code == "ParameterNotFound"
            || code == "NotFoundException"
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudError {
    /// The named resource does not exist (an instance, launch template, SSM parameter, ...).
    #[error("{what} not found: {message}")]
    NotFound { what: String, message: String },
    /// No capacity in any of the pools tried; `pools` are the (type, zone, capacity type) that failed.
    #[error("insufficient capacity ({code}) in {} pool(s): {}", pools.len(), PoolList(pools))]
    InsufficientCapacity { code: String, pools: Vec<Pool> },
    /// The account's spot instance quota is exhausted (EC2 MaxSpotInstanceCountExceeded). Not a
    /// pool problem: every spot pool fails alike, so the caller decides whether to use on-demand.
    #[error("spot quota exceeded (MaxSpotInstanceCountExceeded): {message}")]
    SpotQuotaExceeded { message: String },
    /// Our credentials may not perform `operation`.
    #[error("{operation} unauthorized ({code}): {message}")]
    Unauthorized {
        operation: String,
        code: String,
        message: String,
    },
    /// The caller asked for something that cannot be sent (no overrides, an empty selector, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Any other failure of an AWS call; `code` is absent for transport failures.
    #[error("{operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Aws {
        operation: String,
        code: Option<String>,
        message: String,
    },
}

struct PoolList<'a>(&'a [Pool]);

impl fmt::Display for PoolList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl CloudError {
    pub fn not_found(what: impl Into<String>, message: impl Into<String>) -> Self {
        CloudError::NotFound {
            what: what.into(),
            message: message.into(),
        }
    }

    pub fn insufficient_capacity(code: impl Into<String>, pools: Vec<Pool>) -> Self {
        CloudError::InsufficientCapacity {
            code: code.into(),
            pools,
        }
    }

    pub fn spot_quota_exceeded(message: impl Into<String>) -> Self {
        CloudError::SpotQuotaExceeded {
            message: message.into(),
        }
    }

    pub fn unauthorized(
        operation: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CloudError::Unauthorized {
            operation: operation.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        CloudError::InvalidRequest(message.into())
    }

    pub fn aws(
        operation: impl Into<String>,
        code: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        CloudError::Aws {
            operation: operation.into(),
            code,
            message: message.into(),
        }
    }

    /// Sorts an AWS error code into the variant it means.
    pub fn from_code(operation: &str, code: &str, message: &str) -> Self {
        if code == codes::MAX_SPOT_INSTANCE_COUNT_EXCEEDED {
            CloudError::spot_quota_exceeded(message)
        } else if codes::is_unauthorized(code) {
            CloudError::unauthorized(operation, code, message)
        } else if codes::is_not_found(code) {
            CloudError::not_found(code, message)
        } else if codes::is_capacity(code) {
            CloudError::insufficient_capacity(code, Vec::new())
        } else {
            CloudError::aws(operation, Some(code.to_string()), message)
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CloudError::NotFound { .. })
    }
    pub fn is_insufficient_capacity(&self) -> bool {
        matches!(self, CloudError::InsufficientCapacity { .. })
    }
    pub fn is_spot_quota_exceeded(&self) -> bool {
        matches!(self, CloudError::SpotQuotaExceeded { .. })
    }
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, CloudError::Unauthorized { .. })
    }

    /// The pools an insufficient-capacity error names (empty for every other kind).
    pub fn pools(&self) -> &[Pool] {
        match self {
            CloudError::InsufficientCapacity { pools, .. } => pools,
            _ => &[],
        }
    }

    /// The AWS error code, for log lines such as `Provisioning failed ... <code>`.
    pub fn code(&self) -> Option<&str> {
        match self {
            CloudError::NotFound { what, .. } => Some(what),
            CloudError::InsufficientCapacity { code, .. } => Some(code),
            CloudError::SpotQuotaExceeded { .. } => Some(codes::MAX_SPOT_INSTANCE_COUNT_EXCEEDED),
            CloudError::Unauthorized { code, .. } => Some(code),
            CloudError::InvalidRequest(_) => None,
            CloudError::Aws { code, .. } => code.as_deref(),
        }
    }

    /// A bounded label for metrics (never an unbounded code or message).
    pub fn metric_label(&self) -> &'static str {
        match self {
            CloudError::NotFound { .. } => "not_found",
            CloudError::InsufficientCapacity { .. } => "insufficient_capacity",
            CloudError::SpotQuotaExceeded { .. } => "spot_quota_exceeded",
            CloudError::Unauthorized { .. } => "unauthorized",
            CloudError::InvalidRequest(_) => "invalid_request",
            CloudError::Aws { .. } => "aws_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::types::CapacityType;

    #[test]
    fn codes_sort_into_their_kinds() {
        let op = "CreateFleet";
        assert!(
            CloudError::from_code(op, "MaxSpotInstanceCountExceeded", "m").is_spot_quota_exceeded()
        );
        assert!(CloudError::from_code(op, "UnauthorizedOperation", "m").is_unauthorized());
        assert!(CloudError::from_code(op, "InvalidInstanceID.NotFound", "m").is_not_found());
        assert!(
            CloudError::from_code(op, "InvalidLaunchTemplateName.NotFoundException", "m")
                .is_not_found()
        );
        assert!(CloudError::from_code(op, "ParameterNotFound", "m").is_not_found());
        assert!(
            CloudError::from_code(op, "InsufficientInstanceCapacity", "m")
                .is_insufficient_capacity()
        );
        let other = CloudError::from_code(op, "VcpuLimitExceeded", "m");
        assert_eq!(other.code(), Some("VcpuLimitExceeded"));
        assert_eq!(other.metric_label(), "aws_error");
        assert!(other.to_string().contains("CreateFleet"), "{other}");
    }

    #[test]
    fn insufficient_capacity_names_its_pools() {
        let e = CloudError::insufficient_capacity(
            codes::INSUFFICIENT_INSTANCE_CAPACITY,
            vec![Pool::new("m5.large", "zone-a", CapacityType::Spot)],
        );
        assert_eq!(e.pools().len(), 1);
        assert!(e.to_string().contains("m5.large/zone-a/spot"), "{e}");
        assert!(CloudError::spot_quota_exceeded("x").pools().is_empty());
    }
}
