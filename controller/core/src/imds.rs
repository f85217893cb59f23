//! The three instance metadata documents the IMDS monitor polls, parsed into notices. Pure: the
//! monitor fetches the text, this module says what it means.
//!
//! - `spot/instance-action`: `{"action": "terminate"|"stop"|"hibernate", "time": RFC 3339}`.
//! - `events/recommendations/rebalance`: `{"noticeTime": RFC 3339}`.
//! - `events/maintenance/scheduled`: a JSON array of events (a single object is accepted too, as
//!   some mocks serve one), each with `Code`, `EventId`, `State` and `NotBefore` as an RFC 2822-like
//!   date ("21 Jan 2019 09:00:43 GMT"). Only active events are notices: completed and canceled
//!   ones stay listed by EC2 for a while and must not drain a node again.
//!
//! A 404 for a path means "nothing pending" and never reaches this module.

use serde::Deserialize;

use crate::interruption::{TimeError, Timestamp};

pub const SPOT_INSTANCE_ACTION: &str = "/latest/meta-data/spot/instance-action";
pub const REBALANCE_RECOMMENDATION: &str = "/latest/meta-data/events/recommendations/rebalance";
pub const SCHEDULED_EVENTS: &str = "/latest/meta-data/events/maintenance/scheduled";

/// A metadata document the monitor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    SpotInstanceAction,
    RebalanceRecommendation,
    ScheduledEvents,
}

impl Document {
    pub const ALL: [Document; 3] = [
        Document::SpotInstanceAction,
        Document::RebalanceRecommendation,
        Document::ScheduledEvents,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Document::SpotInstanceAction => SPOT_INSTANCE_ACTION,
            Document::RebalanceRecommendation => REBALANCE_RECOMMENDATION,
            Document::ScheduledEvents => SCHEDULED_EVENTS,
        }
    }

    /// The notices in this document's text (one at most, except for scheduled events).
    pub fn parse(self, body: &str) -> Result<Vec<Notice>, ImdsDocumentError> {
        match self {
            Document::SpotInstanceAction => parse_spot_instance_action(body).map(|n| vec![n]),
            Document::RebalanceRecommendation => parse_rebalance(body).map(|n| vec![n]),
            Document::ScheduledEvents => parse_scheduled_events(body),
        }
    }
}

/// Something IMDS says is about to happen to this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A spot interruption: the instance is reclaimed at `time` (about two minutes after notice).
    SpotInterruption { action: String, time: Timestamp },
    /// EC2 recommends moving off this spot instance; no deadline.
    Rebalance { notice_time: Timestamp },
    /// Scheduled maintenance (reboot, retirement, stop) starting no earlier than `not_before`.
    ScheduledMaintenance {
        event_id: String,
        code: String,
        not_before: Timestamp,
    },
}

impl Notice {
    /// Short kind name for logs, events and settings.
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::SpotInterruption { .. } => "spot_interruption",
            Notice::Rebalance { .. } => "rebalance_recommendation",
            Notice::ScheduledMaintenance { .. } => "scheduled_maintenance",
        }
    }

    /// Identifies one notice across polls, so the same document is acted on once.
    pub fn key(&self) -> String {
        match self {
            // An instance is interrupted once; the time is not part of the identity because some
            // IMDS implementations (the metadata mock among them) recompute it on every read.
            Notice::SpotInterruption { action, .. } => format!("spot/{action}"),
            Notice::Rebalance { notice_time } => format!("rebalance/{notice_time}"),
            Notice::ScheduledMaintenance { event_id, .. } => format!("scheduled/{event_id}"),
        }
    }

    /// When the disruption happens, when IMDS says so.
    pub fn deadline(&self) -> Option<Timestamp> {
        match self {
            Notice::SpotInterruption { time, .. } => Some(*time),
            Notice::Rebalance { .. } => None,
            Notice::ScheduledMaintenance { not_before, .. } => Some(*not_before),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImdsDocumentError {
    #[error("{path}: not the JSON document IMDS serves: {source}")]
    Json {
        path: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: field {field}: {source}")]
    Time {
        path: &'static str,
        field: &'static str,
        #[source]
        source: TimeError,
    },
}

fn json<'a, T: Deserialize<'a>>(path: &'static str, body: &'a str) -> Result<T, ImdsDocumentError> {
    serde_json::from_str(body).map_err(|source| ImdsDocumentError::Json { path, source })
}

fn time(
    path: &'static str,
    field: &'static str,
    value: &str,
) -> Result<Timestamp, ImdsDocumentError> {
    Timestamp::parse(value).map_err(|source| ImdsDocumentError::Time {
        path,
        field,
        source,
    })
}

#[derive(Deserialize)]
struct InstanceAction {
    action: String,
    time: String,
}

pub fn parse_spot_instance_action(body: &str) -> Result<Notice, ImdsDocumentError> {
    let doc: InstanceAction = json(SPOT_INSTANCE_ACTION, body)?;
    Ok(Notice::SpotInterruption {
        time: time(SPOT_INSTANCE_ACTION, "time", &doc.time)?,
        action: doc.action,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rebalance {
    notice_time: String,
}

pub fn parse_rebalance(body: &str) -> Result<Notice, ImdsDocumentError> {
    let doc: Rebalance = json(REBALANCE_RECOMMENDATION, body)?;
    Ok(Notice::Rebalance {
        notice_time: time(REBALANCE_RECOMMENDATION, "noticeTime", &doc.notice_time)?,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduledEvent {
    code: String,
    event_id: String,
    #[serde(default)]
    state: Option<String>,
    not_before: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<ScheduledEvent>),
    One(ScheduledEvent),
}

/// The active scheduled events; an empty list when there are none.
pub fn parse_scheduled_events(body: &str) -> Result<Vec<Notice>, ImdsDocumentError> {
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    let events = match json(SCHEDULED_EVENTS, body)? {
        OneOrMany::Many(v) => v,
        OneOrMany::One(e) => vec![e],
    };
    events
        .into_iter()
        .filter(|e| {
            e.state
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("active"))
        })
        .map(|e| {
            Ok(Notice::ScheduledMaintenance {
                not_before: time(SCHEDULED_EVENTS, "NotBefore", &e.not_before)?,
                event_id: e.event_id,
                code: e.code,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_spot_instance_action_is_a_spot_interruption_with_its_deadline() {
        let n = parse_spot_instance_action(
            r#"{"action": "terminate", "time": "2026-12-02T10:02:00Z"}"#,
        );
        let Ok(n) = n else { panic!("{n:?}") };
        assert_eq!(n.kind(), "spot_interruption");
        assert_eq!(
            n.deadline().map(|t| t.to_string()),
            Some("2026-12-02T10:02:00Z".into())
        );
        assert_eq!(n.key(), "spot/terminate");
    }

    #[test]
    fn a_rebalance_recommendation_has_no_deadline() {
        let n = parse_rebalance(r#"{"noticeTime": "2026-12-02T10:00:00Z"}"#);
        let Ok(n) = n else { panic!("{n:?}") };
        assert_eq!(n.kind(), "rebalance_recommendation");
        assert_eq!(n.deadline(), None);
    }

    #[test]
    fn only_active_scheduled_events_are_notices_in_list_or_single_form() {
        let list = r#"[
          {"NotBefore": "21 Jan 2019 09:00:43 GMT", "Code": "system-reboot", "Description": "x",
           "EventId": "instance-event-0d59937288b749b32", "NotAfter": "21 Jan 2019 09:17:23 GMT", "State": "active"},
          {"NotBefore": "1 Jan 2019 01:00:00 GMT", "Code": "instance-stop", "EventId": "instance-event-1",
           "State": "completed"}]"#;
        let Ok(notices) = parse_scheduled_events(list) else {
            panic!()
        };
        assert_eq!(notices.len(), 1);
        assert_eq!(
            notices[0].key(),
            "scheduled/instance-event-0d59937288b749b32"
        );
        assert_eq!(
            notices[0].deadline().map(|t| t.to_string()),
            Some("2019-01-21T09:00:43Z".into())
        );

        let one = r#"{"Code": "instance-reboot", "EventId": "e-2", "State": "active", "NotBefore": "7 Jan 2020 01:03:47 GMT"}"#;
        assert!(matches!(
            parse_scheduled_events(one).as_deref(),
            Ok([Notice::ScheduledMaintenance { .. }])
        ));
        assert!(matches!(parse_scheduled_events("[]").as_deref(), Ok([])));
        assert!(matches!(parse_scheduled_events(" ").as_deref(), Ok([])));
    }

    #[test]
    fn malformed_documents_name_the_path_and_field() {
        let e = parse_spot_instance_action(r#"{"action": "terminate", "time": "soon"}"#).err();
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("spot/instance-action") && text.contains("field time"),
            "{text}"
        );
        let e = parse_rebalance("<html>404</html>")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("events/recommendations/rebalance"), "{e}");
        assert!(parse_scheduled_events(r#"[{"Code": "x"}]"#).is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_any_text(s in ".{0,200}") {
            let _ = parse_spot_instance_action(&s);
            let _ = parse_rebalance(&s);
            let _ = parse_scheduled_events(&s);
        }
    }
}
