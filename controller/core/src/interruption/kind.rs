//! The five event kinds we act on, how they are recognised, and the EventBridge rule pattern that
//! routes each of them to the interruption queue.
//!
//! The provider builds its EventBridge rules from [`EventKind::event_pattern`] (through
//! karpenter-contract's `interruption` module) and the controller classifies messages with
//! [`EventKind::classify`], so both sides agree by construction.

use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

use super::scheduled_change::{HEALTH_CATEGORY_SCHEDULED_CHANGE, HEALTH_SERVICE_EC2};
use super::state_change::InstanceState;

pub(crate) const SOURCE_EC2: &str = "aws.ec2";
pub(crate) const SOURCE_HEALTH: &str = "aws.health";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    SpotInterruption,
    RebalanceRecommendation,
    ScheduledChange,
    InstanceStateChange,
    CapacityReservationInterruption,
}

/// The name was not one of [`EventKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown interruption event kind {value:?}: expected one of spot_interruption, rebalance_recommendation, scheduled_change, instance_state_change, capacity_reservation_interruption"
)]
pub struct UnknownEventKind {
    pub value: String,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::SpotInterruption,
        EventKind::RebalanceRecommendation,
        EventKind::ScheduledChange,
        EventKind::InstanceStateChange,
        EventKind::CapacityReservationInterruption,
    ];

    /// Stable snake_case name: metric label, settings key, log field.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SpotInterruption => "spot_interruption",
            Self::RebalanceRecommendation => "rebalance_recommendation",
            Self::ScheduledChange => "scheduled_change",
            Self::InstanceStateChange => "instance_state_change",
            Self::CapacityReservationInterruption => "capacity_reservation_interruption",
        }
    }

    /// The event's `source`.
    pub fn source(self) -> &'static str {
        match self {
            Self::ScheduledChange => SOURCE_HEALTH,
            _ => SOURCE_EC2,
        }
    }

    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::SpotInterruption => "EC2 Spot Instance Interruption Warning",
            Self::RebalanceRecommendation => "EC2 Instance Rebalance Recommendation",
            Self::ScheduledChange => "AWS Health Event",
            Self::InstanceStateChange => "EC2 Instance State-change Notification",
            Self::CapacityReservationInterruption => {
                "EC2 Capacity Reservation Instance Interruption Warning"
            }
        }
    }

    /// The kind a message belongs to, from its `source` and `detail-type` (both matched exactly,
    /// as EventBridge does). A health event of another service or category still classifies as
    /// [`EventKind::ScheduledChange`]; its parser decides to ignore it.
    pub fn classify(source: &str, detail_type: &str) -> Option<EventKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.source() == source && k.detail_type() == detail_type)
    }

    /// The EventBridge rule pattern that selects exactly the events of this kind we act on.
    pub fn event_pattern(self) -> Value {
        let mut pattern = json!({
            "source": [self.source()],
            "detail-type": [self.detail_type()],
        });
        let detail = match self {
            Self::InstanceStateChange => Some(json!({
                "state": InstanceState::ALL.map(InstanceState::as_str),
            })),
            Self::ScheduledChange => Some(json!({
                "service": [HEALTH_SERVICE_EC2],
                "eventTypeCategory": [HEALTH_CATEGORY_SCHEDULED_CHANGE],
            })),
            _ => None,
        };
        if let (Some(detail), Value::Object(map)) = (detail, &mut pattern) {
            map.insert("detail".to_owned(), detail);
        }
        pattern
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownEventKind {
                value: super::error::excerpt(s),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_change_pattern_lists_exactly_the_four_terminal_states() {
        assert_eq!(
            EventKind::InstanceStateChange.event_pattern(),
            json!({
                "source": ["aws.ec2"],
                "detail-type": ["EC2 Instance State-change Notification"],
                "detail": {"state": ["stopping", "stopped", "shutting-down", "terminated"]},
            })
        );
    }

    #[test]
    fn health_pattern_is_restricted_to_ec2_scheduled_changes() {
        assert_eq!(
            EventKind::ScheduledChange.event_pattern(),
            json!({
                "source": ["aws.health"],
                "detail-type": ["AWS Health Event"],
                "detail": {"service": ["EC2"], "eventTypeCategory": ["scheduledChange"]},
            })
        );
    }

    #[test]
    fn simple_kinds_match_on_source_and_detail_type_only() {
        for (kind, detail_type) in [
            (
                EventKind::SpotInterruption,
                "EC2 Spot Instance Interruption Warning",
            ),
            (
                EventKind::RebalanceRecommendation,
                "EC2 Instance Rebalance Recommendation",
            ),
            (
                EventKind::CapacityReservationInterruption,
                "EC2 Capacity Reservation Instance Interruption Warning",
            ),
        ] {
            assert_eq!(
                kind.event_pattern(),
                json!({"source": ["aws.ec2"], "detail-type": [detail_type]})
            );
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for kind in EventKind::ALL {
            assert_eq!(kind.name().parse(), Ok(kind));
            assert_eq!(
                EventKind::classify(kind.source(), kind.detail_type()),
                Some(kind)
            );
        }
        let err = "spot".parse::<EventKind>().unwrap_err();
        assert!(
            err.to_string()
                .contains("spot_interruption, rebalance_recommendation")
        );
    }

    #[test]
    fn classification_is_exact_on_source_and_detail_type() {
        assert_eq!(
            EventKind::classify("aws.health", "EC2 Spot Instance Interruption Warning"),
            None
        );
        assert_eq!(
            EventKind::classify("aws.ec2", "ec2 spot instance interruption warning"),
            None
        );
    }
}
