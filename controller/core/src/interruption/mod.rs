//! Parsing of interruption-queue messages (EventBridge events) into a small model per kind.
//!
//! Pure: a message body in, a [`Message`] or a [`ParseError`] out. The controller deletes every
//! message whatever the outcome and counts it under [`outcome_label`].
//!
//! # Layout
//! - [`kind`]: the five [`EventKind`]s, their classification and EventBridge rule patterns.
//! - [`action`]: the per-kind [`Action`] setting and its defaults.
//! - one module per kind: [`spot`], [`rebalance`], [`scheduled_change`], [`state_change`],
//!   [`capacity_reservation`], each a model and a small parser.
//! - [`message`]: the [`Message`] sum type and outcome labels; [`ignored`]: why a message is
//!   [`Ignored`].
//! - [`error`]: [`ParseError`]; `fields`: path-aware JSON reads behind it.
//! - [`instance_id`], [`timestamp`]: validated values shared by the kinds.

pub mod action;
pub mod capacity_reservation;
pub mod error;
mod fields;
pub mod ignored;
pub mod instance_id;
pub mod kind;
pub mod message;
pub mod rebalance;
pub mod scheduled_change;
pub mod spot;
pub mod state_change;
pub mod timestamp;

use serde_json::Value;

pub use action::{Action, ActionSettings, InvalidAction};
pub use capacity_reservation::CapacityReservationInterruption;
pub use error::ParseError;
pub use ignored::{IgnoreReason, Ignored};
pub use instance_id::InstanceId;
pub use kind::{EventKind, UnknownEventKind};
pub use message::{Message, OUTCOME_LABELS, outcome_label};
pub use rebalance::RebalanceRecommendation;
pub use scheduled_change::ScheduledChange;
pub use spot::{SpotAction, SpotInterruption};
pub use state_change::{InstanceState, StateChange};
pub use timestamp::{TimeError, Timestamp};

use error::excerpt;
use fields::{Fields, describe};

/// Parses one SQS message body (the EventBridge event as JSON).
///
/// Only `source`, `detail-type` and what the kind needs are read; anything else (a missing
/// `account`, extra fields) is tolerated.
pub fn parse_message(body: &str) -> Result<Message, ParseError> {
    if body.trim().is_empty() {
        return Err(ParseError::EmptyBody);
    }
    let value: Value = serde_json::from_str(body).map_err(|e| ParseError::NotJson {
        line: e.line(),
        column: e.column(),
        reason: e.to_string(),
    })?;
    let Value::Object(map) = &value else {
        return Err(ParseError::NotAnObject {
            found: describe(&value),
        });
    };
    let event = Fields::root(map);
    let source = event.str("source")?;
    let detail_type = event.str("detail-type")?;
    let Some(kind) = EventKind::classify(source, detail_type) else {
        return Ok(Message::ignored(IgnoreReason::UnknownKind {
            source: excerpt(source),
            detail_type: excerpt(detail_type),
        }));
    };
    match kind {
        EventKind::SpotInterruption => spot::parse(&event).map(Message::SpotInterruption),
        EventKind::RebalanceRecommendation => {
            rebalance::parse(&event).map(Message::RebalanceRecommendation)
        }
        EventKind::ScheduledChange => scheduled_change::parse(&event)
            .map(|parsed| parsed.map_or_else(Message::ignored, Message::ScheduledChange)),
        EventKind::InstanceStateChange => state_change::parse(&event)
            .map(|parsed| parsed.map_or_else(Message::ignored, Message::StateChange)),
        EventKind::CapacityReservationInterruption => {
            capacity_reservation::parse(&event).map(Message::CapacityReservationInterruption)
        }
    }
}
