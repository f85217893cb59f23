//! The parsed form of one queue message, and the outcome labels the controller counts.

use super::capacity_reservation::CapacityReservationInterruption;
use super::error::ParseError;
use super::ignored::{IgnoreReason, Ignored};
use super::instance_id::InstanceId;
use super::kind::EventKind;
use super::rebalance::RebalanceRecommendation;
use super::scheduled_change::ScheduledChange;
use super::spot::SpotInterruption;
use super::state_change::StateChange;

/// One interruption event we act on, or a well-formed message we deliberately do not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    SpotInterruption(SpotInterruption),
    RebalanceRecommendation(RebalanceRecommendation),
    ScheduledChange(ScheduledChange),
    StateChange(StateChange),
    CapacityReservationInterruption(CapacityReservationInterruption),
    Ignored(Ignored),
}

impl Message {
    pub(crate) fn ignored(reason: IgnoreReason) -> Self {
        Self::Ignored(Ignored { reason })
    }

    /// The kind acted on; `None` for an ignored message.
    pub fn kind(&self) -> Option<EventKind> {
        match self {
            Self::SpotInterruption(_) => Some(EventKind::SpotInterruption),
            Self::RebalanceRecommendation(_) => Some(EventKind::RebalanceRecommendation),
            Self::ScheduledChange(_) => Some(EventKind::ScheduledChange),
            Self::StateChange(_) => Some(EventKind::InstanceStateChange),
            Self::CapacityReservationInterruption(_) => {
                Some(EventKind::CapacityReservationInterruption)
            }
            Self::Ignored(_) => None,
        }
    }

    /// The instances this message is about (empty for an ignored message).
    pub fn instance_ids(&self) -> &[InstanceId] {
        match self {
            Self::SpotInterruption(m) => std::slice::from_ref(&m.instance_id),
            Self::RebalanceRecommendation(m) => std::slice::from_ref(&m.instance_id),
            Self::ScheduledChange(m) => &m.instance_ids,
            Self::StateChange(m) => std::slice::from_ref(&m.instance_id),
            Self::CapacityReservationInterruption(m) => std::slice::from_ref(&m.instance_id),
            Self::Ignored(_) => &[],
        }
    }

    /// The kind's name, or `ignored`.
    pub fn metric_label(&self) -> &'static str {
        self.kind().map_or(IGNORED_LABEL, EventKind::name)
    }
}

pub const IGNORED_LABEL: &str = "ignored";

/// Every value [`outcome_label`] can return, for registering metric series up front.
pub const OUTCOME_LABELS: [&str; 7] = [
    "spot_interruption",
    "rebalance_recommendation",
    "scheduled_change",
    "instance_state_change",
    "capacity_reservation_interruption",
    IGNORED_LABEL,
    ParseError::METRIC_LABEL,
];

/// The `outcome` label for a parse result: a kind name, `ignored` or `unparseable`.
pub fn outcome_label(result: &Result<Message, ParseError>) -> &'static str {
    match result {
        Ok(message) => message.metric_label(),
        Err(error) => error.metric_label(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_labels_cover_every_kind_name_once() {
        for kind in EventKind::ALL {
            assert_eq!(
                OUTCOME_LABELS.iter().filter(|l| **l == kind.name()).count(),
                1
            );
        }
        let mut unique = OUTCOME_LABELS.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), OUTCOME_LABELS.len());
    }

    #[test]
    fn ignored_messages_have_no_kind_and_no_instances() {
        let m = Message::ignored(IgnoreReason::StateNotActionable {
            state: "running".into(),
        });
        assert_eq!(m.kind(), None);
        assert!(m.instance_ids().is_empty());
        assert_eq!(outcome_label(&Ok(m)), "ignored");
        assert_eq!(outcome_label(&Err(ParseError::EmptyBody)), "unparseable");
    }
}
