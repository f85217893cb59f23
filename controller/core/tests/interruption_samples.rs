//! The four shared sample messages (shared/reference/events) parse into exactly the expected
//! models, and each is selected by its own kind's EventBridge pattern and by no other.

use std::path::PathBuf;

use karpenter_core::interruption::{
    EventKind, InstanceId, InstanceState, Message, ScheduledChange, SpotAction, SpotInterruption,
    StateChange, Timestamp, outcome_label, parse_message,
};
use karpenter_core::interruption::{RebalanceRecommendation, message::OUTCOME_LABELS};
use serde_json::Value;

fn sample(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "../../tests/data/events", name]
        .iter()
        .collect();
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!("cannot read sample {}: {e}", path.display()),
    }
}

fn id(text: &str) -> InstanceId {
    InstanceId::parse(text).expect("test ids are valid")
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("test times are valid")
}

#[test]
fn spot_interruption_warning_sample_parses_to_its_model() {
    let parsed = parse_message(&sample("spot-interruption-warning.json"));
    assert_eq!(
        parsed,
        Ok(Message::SpotInterruption(SpotInterruption {
            instance_id: id("i-0abc123def4567890"),
            action: SpotAction::Terminate,
            time: at("2026-11-25T15:00:00Z"),
        }))
    );
    assert_eq!(outcome_label(&parsed), "spot_interruption");
}

#[test]
fn rebalance_recommendation_sample_parses_to_its_model() {
    let parsed = parse_message(&sample("rebalance-recommendation.json"));
    assert_eq!(
        parsed,
        Ok(Message::RebalanceRecommendation(RebalanceRecommendation {
            instance_id: id("i-0abc123def4567890"),
            time: at("2026-11-25T14:58:00Z"),
        }))
    );
    assert_eq!(outcome_label(&parsed), "rebalance_recommendation");
}

#[test]
fn scheduled_change_sample_parses_its_rfc2822_window() {
    let parsed = parse_message(&sample("scheduled-change.json"));
    assert_eq!(
        parsed,
        Ok(Message::ScheduledChange(ScheduledChange {
            instance_ids: vec![id("i-0def456abc7890123")],
            start_time: Timestamp::from_unix(1_796_205_600, 0),
            end_time: Some(Timestamp::from_unix(1_796_212_800, 0)),
            event_type_code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
        }))
    );
    assert_eq!(outcome_label(&parsed), "scheduled_change");
    let Ok(Message::ScheduledChange(change)) = parsed else {
        unreachable!("asserted above")
    };
    assert_eq!(change.start_time.to_string(), "2026-12-02T10:00:00Z");
}

#[test]
fn instance_state_change_sample_parses_to_its_model() {
    let parsed = parse_message(&sample("instance-state-change.json"));
    assert_eq!(
        parsed,
        Ok(Message::StateChange(StateChange {
            instance_id: id("i-0abc123def4567890"),
            state: InstanceState::Stopping,
        }))
    );
    assert_eq!(outcome_label(&parsed), "instance_state_change");
}

#[test]
fn every_outcome_label_of_the_samples_is_a_registered_label() {
    for name in [
        "spot-interruption-warning.json",
        "rebalance-recommendation.json",
        "scheduled-change.json",
        "instance-state-change.json",
    ] {
        let label = outcome_label(&parse_message(&sample(name)));
        assert!(OUTCOME_LABELS.contains(&label), "{name}: {label}");
    }
}

/// EventBridge content matching, for the subset our patterns use: an array lists accepted values
/// (an event array matches when any element does), an object descends into the event.
fn matches(pattern: &Value, event: &Value) -> bool {
    let (Value::Object(pattern), Value::Object(event)) = (pattern, event) else {
        return false;
    };
    pattern.iter().all(|(key, want)| {
        let Some(got) = event.get(key) else {
            return false;
        };
        match want {
            Value::Array(accepted) => match got {
                Value::Array(items) => items.iter().any(|i| accepted.contains(i)),
                single => accepted.contains(single),
            },
            nested @ Value::Object(_) => matches(nested, got),
            _ => false,
        }
    })
}

#[test]
fn each_sample_is_selected_by_its_own_kind_pattern_only() {
    let cases = [
        (
            "spot-interruption-warning.json",
            EventKind::SpotInterruption,
        ),
        (
            "rebalance-recommendation.json",
            EventKind::RebalanceRecommendation,
        ),
        ("scheduled-change.json", EventKind::ScheduledChange),
        ("instance-state-change.json", EventKind::InstanceStateChange),
    ];
    for (name, expected) in cases {
        let event: Value = serde_json::from_str(&sample(name)).expect("samples are JSON");
        let selected: Vec<EventKind> = EventKind::ALL
            .into_iter()
            .filter(|k| matches(&k.event_pattern(), &event))
            .collect();
        assert_eq!(selected, vec![expected], "{name}");
    }
}

#[test]
fn patterns_reject_the_states_and_health_events_the_parser_ignores() {
    let mut running: Value =
        serde_json::from_str(&sample("instance-state-change.json")).expect("sample is JSON");
    running["detail"]["state"] = "running".into();
    assert!(!matches(
        &EventKind::InstanceStateChange.event_pattern(),
        &running
    ));

    let mut rds: Value =
        serde_json::from_str(&sample("scheduled-change.json")).expect("sample is JSON");
    rds["detail"]["service"] = "RDS".into();
    assert!(!matches(&EventKind::ScheduledChange.event_pattern(), &rds));
}
