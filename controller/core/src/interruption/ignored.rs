//! Well-formed messages the controller deliberately does not act on, and why.

use std::fmt;

/// A message that is fine but asks nothing of us; it is counted and deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub reason: IgnoreReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// A `source`/`detail-type` pair that is none of the five kinds.
    UnknownKind { source: String, detail_type: String },
    /// An instance state other than stopping, stopped, shutting-down or terminated.
    StateNotActionable { state: String },
    /// An AWS Health event about another service.
    HealthServiceNotEc2 { service: String },
    /// An EC2 AWS Health event that is not a scheduled change (an issue, a notification...).
    HealthCategoryNotScheduledChange { category: String },
    /// An EC2 scheduled change that names no instance (only hosts or other resources).
    NoAffectedInstances { event_type_code: String },
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKind {
                source,
                detail_type,
            } => write!(
                f,
                "not an interruption event (source {source:?}, detail-type {detail_type:?})"
            ),
            Self::StateNotActionable { state } => write!(
                f,
                "instance state {state:?} is not one we act on (stopping, stopped, shutting-down, terminated)"
            ),
            Self::HealthServiceNotEc2 { service } => {
                write!(f, "AWS Health event for service {service:?}, not EC2")
            }
            Self::HealthCategoryNotScheduledChange { category } => write!(
                f,
                "AWS Health event of category {category:?}, not scheduledChange"
            ),
            Self::NoAffectedInstances { event_type_code } => write!(
                f,
                "AWS Health event {event_type_code:?} names no EC2 instance"
            ),
        }
    }
}
