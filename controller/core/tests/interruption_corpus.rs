//! Malformed, foreign and edge-case messages (tests/data/interruption/) each get exactly the
//! expected outcome. Every file in the folder must have an expectation here, so a new corpus file
//! cannot be added without saying what it should do.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use karpenter_core::interruption::{
    CapacityReservationInterruption, IgnoreReason, Ignored, InstanceId, Message, ParseError,
    ScheduledChange, SpotAction, SpotInterruption, Timestamp, outcome_label, parse_message,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/interruption")
}

/// SQS bodies are strings; bytes that are not UTF-8 arrive replaced, as the SDK would hand them.
fn body(name: &str) -> String {
    let path = corpus_dir().join(name);
    match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

fn id(text: &str) -> InstanceId {
    InstanceId::parse(text).expect("test ids are valid")
}

fn ignored(reason: IgnoreReason) -> Result<Message, ParseError> {
    Ok(Message::Ignored(Ignored { reason }))
}

fn missing(field: &str) -> Result<Message, ParseError> {
    Err(ParseError::MissingField {
        field: field.into(),
    })
}

fn wrong_type(
    field: &str,
    expected: &'static str,
    found: &'static str,
) -> Result<Message, ParseError> {
    Err(ParseError::WrongType {
        field: field.into(),
        expected,
        found,
    })
}

fn bad_id(field: &str, value: &str) -> Result<Message, ParseError> {
    Err(ParseError::InvalidInstanceId {
        field: field.into(),
        value: value.into(),
    })
}

fn spot_sample() -> Result<Message, ParseError> {
    Ok(Message::SpotInterruption(SpotInterruption {
        instance_id: id("i-0abc123def4567890"),
        action: SpotAction::Terminate,
        time: Timestamp::from_unix(1_795_618_800, 0),
    }))
}

/// serde_json's wording is its own; what we own is the position and the error class.
fn assert_not_json(name: &str, line: usize, column: usize, reason_prefix: &str) {
    let result = parse_message(&body(name));
    match &result {
        Err(ParseError::NotJson {
            line: l,
            column: c,
            reason,
        }) => {
            assert_eq!((*l, *c), (line, column), "{name}: position");
            assert!(reason.starts_with(reason_prefix), "{name}: {reason}");
        }
        other => panic!("{name}: expected NotJson, got {other:?}"),
    }
    assert_eq!(outcome_label(&result), "unparseable");
}

const NOT_JSON: [(&str, usize, usize, &str); 5] = [
    ("truncated.json", 7, 33, "EOF while parsing"),
    ("trailing-garbage.json", 17, 1, "trailing characters"),
    ("huge-float.json", 2, 18, "number out of range"),
    (
        "lone-surrogate-escape.json",
        13,
        29,
        "unexpected end of hex escape",
    ),
    // The recursion limit stops a hostile body before it can exhaust the stack.
    ("deeply-nested.json", 1, 128, "recursion limit exceeded"),
];

fn expectations() -> Vec<(&'static str, Result<Message, ParseError>)> {
    vec![
        ("empty.txt", Err(ParseError::EmptyBody)),
        ("whitespace-only.txt", Err(ParseError::EmptyBody)),
        (
            "not-an-object.json",
            Err(ParseError::NotAnObject { found: "an array" }),
        ),
        ("null.json", Err(ParseError::NotAnObject { found: "null" })),
        ("missing-source.json", missing("source")),
        (
            "wrong-type-source.json",
            wrong_type("source", "a string", "an array"),
        ),
        (
            "wrong-type-detail.json",
            wrong_type("detail", "an object", "a string"),
        ),
        (
            "wrong-type-instance-id.json",
            wrong_type("detail.instance-id", "a string", "a number"),
        ),
        (
            "huge-integer-instance-id.json",
            wrong_type("detail.instance-id", "a string", "a number"),
        ),
        (
            "wrong-type-time.json",
            wrong_type("time", "a string", "a number"),
        ),
        ("missing-instance-id.json", missing("detail.instance-id")),
        (
            "state-missing-instance-id.json",
            missing("detail.instance-id"),
        ),
        ("missing-time.json", missing("time")),
        (
            "invalid-instance-id.json",
            bad_id(
                "detail.instance-id",
                "arn:aws:ec2:ap-southeast-1:123456789012:instance/i-0abc123def4567890",
            ),
        ),
        (
            "nul-escape-in-instance-id.json",
            bad_id("detail.instance-id", "i-0abc123def456789\0"),
        ),
        (
            "invalid-utf8.bin",
            bad_id("detail.instance-id", "\u{fffd}\u{fffd}\u{fffd}"),
        ),
        (
            "health-bad-entity-id.json",
            bad_id("detail.affectedEntities[1].entityValue", "i-NOTHEX"),
        ),
        (
            "health-bad-start-time.json",
            Err(ParseError::InvalidTime {
                field: "detail.startTime".into(),
                value: "next Wednesday".into(),
                reason: karpenter_core::interruption::TimeError::UnknownWeekday("next".into()),
            }),
        ),
        (
            "unknown-detail-type.json",
            ignored(IgnoreReason::UnknownKind {
                source: "aws.ec2".into(),
                detail_type: "EC2 Spot Instance Request Fulfillment".into(),
            }),
        ),
        (
            "foreign-source.json",
            ignored(IgnoreReason::UnknownKind {
                source: "com.example.orders".into(),
                detail_type: "EC2 Spot Instance Interruption Warning".into(),
            }),
        ),
        (
            "health-other-service.json",
            ignored(IgnoreReason::HealthServiceNotEc2 {
                service: "RDS".into(),
            }),
        ),
        (
            "health-other-category.json",
            ignored(IgnoreReason::HealthCategoryNotScheduledChange {
                category: "issue".into(),
            }),
        ),
        (
            "health-only-dedicated-hosts.json",
            ignored(IgnoreReason::NoAffectedInstances {
                event_type_code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
            }),
        ),
        (
            "state-running.json",
            ignored(IgnoreReason::StateNotActionable {
                state: "running".into(),
            }),
        ),
        ("emulator-no-account-extra-fields.json", spot_sample()),
        ("escaped-but-valid-instance-id.json", spot_sample()),
        (
            "spot-unknown-instance-action.json",
            Ok(Message::SpotInterruption(SpotInterruption {
                instance_id: id("i-0abc123def4567890"),
                action: SpotAction::Other("evacuate".into()),
                time: Timestamp::from_unix(1_795_618_800, 0),
            })),
        ),
        (
            "health-rfc3339-times-no-end.json",
            Ok(Message::ScheduledChange(ScheduledChange {
                instance_ids: vec![id("i-0def456abc7890123")],
                start_time: Timestamp::from_unix(1_796_205_600, 0),
                end_time: None,
                event_type_code: "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED".into(),
            })),
        ),
        (
            "capacity-reservation-interruption.json",
            Ok(Message::CapacityReservationInterruption(
                CapacityReservationInterruption {
                    instance_id: id("i-0abc123def4567890"),
                    time: Timestamp::from_unix(1_795_619_400, 0),
                    termination_time: Some(Timestamp::from_unix(1_795_619_520, 0)),
                },
            )),
        ),
    ]
}

#[test]
fn every_corpus_message_gets_exactly_its_expected_outcome() {
    for (name, expected) in expectations() {
        assert_eq!(parse_message(&body(name)), expected, "{name}");
    }
}

#[test]
fn bodies_that_are_not_json_report_where_they_break() {
    for (name, line, column, reason) in NOT_JSON {
        assert_not_json(name, line, column, reason);
    }
}

#[test]
fn the_corpus_has_no_file_without_an_expectation() {
    let on_disk: BTreeSet<String> = match std::fs::read_dir(corpus_dir()) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => panic!("cannot list the corpus: {e}"),
    };
    let expected: BTreeSet<String> = expectations()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .chain(NOT_JSON.iter().map(|(name, ..)| (*name).to_owned()))
        .collect();
    assert_eq!(on_disk, expected);
}

#[test]
fn errors_name_the_field_and_why_in_one_line() {
    let cases = [
        (
            "wrong-type-instance-id.json",
            "detail.instance-id: expected a string, found a number",
        ),
        (
            "missing-time.json",
            "time: missing, required to act on this event",
        ),
        (
            "health-bad-entity-id.json",
            "detail.affectedEntities[1].entityValue: \"i-NOTHEX\" is not an EC2 instance id \
             (expected i- followed by 8 or 17 lowercase hex digits)",
        ),
        (
            "health-bad-start-time.json",
            "detail.startTime: \"next Wednesday\" is not an RFC 3339 or RFC 2822 date-time: \
             unknown day name \"next\"",
        ),
    ];
    for (name, text) in cases {
        match parse_message(&body(name)) {
            Err(e) => assert_eq!(e.to_string(), text, "{name}"),
            Ok(m) => panic!("{name}: expected an error, got {m:?}"),
        }
    }
}

#[test]
fn outcome_labels_separate_ignored_from_unparseable() {
    for (name, expected) in expectations() {
        let label = outcome_label(&parse_message(&body(name)));
        let want = match &expected {
            Err(_) => "unparseable",
            Ok(Message::Ignored(_)) => "ignored",
            Ok(m) => m.kind().map_or("?", |k| k.name()),
        };
        assert_eq!(label, want, "{name}");
    }
}

#[test]
fn a_long_hostile_value_is_quoted_only_in_part() {
    let long = format!("i-{}", "z".repeat(10_000));
    let body = format!(
        r#"{{"source":"aws.ec2","detail-type":"EC2 Instance Rebalance Recommendation","time":"2026-11-25T15:00:00Z","detail":{{"instance-id":"{long}"}}}}"#
    );
    let Err(e) = parse_message(&body) else {
        panic!("a 10 kB id is not an instance id")
    };
    assert!(e.to_string().len() < 300, "{}", e.to_string().len());
}
