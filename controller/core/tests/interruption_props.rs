//! Whatever arrives on the queue, the parser returns (never panics) and the outcome is exactly one
//! of the registered labels, consistent with what the body says about itself.

use karpenter_core::interruption::{
    EventKind, Message, OUTCOME_LABELS, ParseError, outcome_label, parse_message,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        // Values that look like the real thing reach the deeper validation paths.
        "i-[0-9a-f]{8}|i-[0-9a-f]{17}|i-[0-9a-zA-Z]{0,20}".prop_map(Value::from),
        "(stopping|stopped|shutting-down|terminated|running|pending)".prop_map(Value::from),
        "(EC2|RDS|scheduledChange|issue|terminate|stop)".prop_map(Value::from),
        "(2026-11-25T15:00:00Z|Wed, 02 Dec 2026 10:00:00 GMT|[0-9: ,TZa-zA-Z-]{0,30})"
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("instance-id".to_owned()),
        Just("instance-action".to_owned()),
        Just("state".to_owned()),
        Just("service".to_owned()),
        Just("eventTypeCategory".to_owned()),
        Just("eventTypeCode".to_owned()),
        Just("affectedEntities".to_owned()),
        Just("entityValue".to_owned()),
        Just("startTime".to_owned()),
        Just("endTime".to_owned()),
        Just("time".to_owned()),
        "[a-zA-Z-]{1,12}",
    ]
}

fn instance_id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "i-[0-9a-f]{17}|i-[0-9a-f]{8}",
        1 => "i-[0-9a-zA-Z]{0,20}|h-[0-9a-f]{17}",
    ]
}

fn time_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("2026-11-25T15:00:00Z".to_owned()),
        4 => Just("Wed, 02 Dec 2026 10:00:00 GMT".to_owned()),
        1 => "[0-9: ,TZa-zA-Z+-]{0,30}",
    ]
}

/// Mostly a plausible value for `strategy`, sometimes anything at all, sometimes absent.
fn usually<S>(strategy: S) -> impl Strategy<Value = Option<Value>>
where
    S: Strategy + 'static,
    S::Value: Into<Value>,
{
    prop::option::weighted(
        0.9,
        prop_oneof![8 => strategy.prop_map(Into::into), 1 => any_json()],
    )
}

/// A `detail` object built from the fields the five kinds read, so that generated messages reach
/// every parser's success and failure paths, not only the first missing field.
fn plausible_detail() -> impl Strategy<Value = Value> {
    let entity = usually(instance_id_text()).prop_map(|v| {
        Value::Object(
            v.map(|v| ("entityValue".to_owned(), v))
                .into_iter()
                .collect(),
        )
    });
    (
        usually(instance_id_text()),
        usually("(terminate|stop|hibernate|[a-z]{1,8})"),
        usually("(stopping|stopped|shutting-down|terminated|running|pending)"),
        usually("(EC2|EC2|EC2|RDS)"),
        usually("(scheduledChange|scheduledChange|issue)"),
        usually("AWS_EC2_[A-Z_]{1,20}"),
        usually(prop::collection::vec(entity, 0..4)),
        usually(time_text()),
        usually(time_text()),
        usually(time_text()),
    )
        .prop_map(
            |(id, action, state, service, category, code, entities, start, end, term)| {
                let fields = [
                    ("instance-id", id),
                    ("instance-action", action),
                    ("state", state),
                    ("service", service),
                    ("eventTypeCategory", category),
                    ("eventTypeCode", code),
                    ("affectedEntities", entities),
                    ("startTime", start),
                    ("endTime", end),
                    ("instance-termination-time", term),
                ];
                Value::Object(
                    fields
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                        .collect(),
                )
            },
        )
}

/// An envelope of a known kind (or a near miss) around a mostly plausible `detail`.
fn envelope() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(EventKind::ALL.to_vec());
    (
        kinds,
        prop::bool::weighted(0.9),
        prop_oneof![4 => plausible_detail(), 1 => any_json()],
        usually(time_text()),
        prop::option::of(any_json()),
    )
        .prop_map(|(kind, exact, detail, time, extra)| {
            let mut event = Map::new();
            let source = if exact { kind.source() } else { "aws.other" };
            event.insert("source".into(), source.into());
            event.insert("detail-type".into(), kind.detail_type().into());
            event.insert("detail".into(), detail);
            if let Some(time) = time {
                event.insert("time".into(), time);
            }
            if let Some(extra) = extra {
                event.insert("extra".into(), extra);
            }
            Value::Object(event)
        })
}

/// Independent of the parser: what the outcome must be consistent with.
fn check_consistent(body: &str, result: &Result<Message, ParseError>) -> Result<(), TestCaseError> {
    let label = outcome_label(result);
    prop_assert!(OUTCOME_LABELS.contains(&label), "label {label}");
    let declared = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        let source = v.get("source")?.as_str()?.to_owned();
        let detail_type = v.get("detail-type")?.as_str()?.to_owned();
        Some(EventKind::classify(&source, &detail_type))
    });
    match result {
        Ok(Message::Ignored(_)) => {
            prop_assert_eq!(label, "ignored");
            // Only an unknown kind, a state change or a health event may be ignored.
            let kind = declared.flatten();
            prop_assert!(matches!(
                kind,
                None | Some(EventKind::InstanceStateChange) | Some(EventKind::ScheduledChange)
            ));
        }
        Ok(message) => {
            prop_assert_eq!(declared, Some(message.kind()));
            prop_assert!(!message.instance_ids().is_empty());
            prop_assert_eq!(Some(label), message.kind().map(EventKind::name));
        }
        Err(error) => {
            prop_assert_eq!(label, "unparseable");
            prop_assert!(!error.to_string().is_empty());
            // A body that names no kind we know is ignored, never an error, once it is an
            // object with string `source` and `detail-type`.
            prop_assert_ne!(declared, Some(None));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_strings_never_panic_and_get_one_outcome(body in ".{0,200}") {
        let result = parse_message(&body);
        check_consistent(&body, &result)?;
    }
}

// Structured generation is slow in debug builds; 512 cases keep the suite near a few seconds
// while still reaching every kind's success and failure paths (see `plausible_detail`).
proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_json_never_panics_and_gets_one_outcome(value in any_json()) {
        let body = value.to_string();
        let result = parse_message(&body);
        check_consistent(&body, &result)?;
    }

    #[test]
    fn envelopes_with_arbitrary_details_get_one_consistent_outcome(value in envelope()) {
        let body = value.to_string();
        let result = parse_message(&body);
        check_consistent(&body, &result)?;
    }

    #[test]
    fn a_valid_spot_warning_survives_any_extra_fields(extra in any_json(), key in "[a-z]{1,10}") {
        prop_assume!(!["source", "detail-type", "detail", "time"].contains(&key.as_str()));
        let mut event = json!({
            "source": "aws.ec2",
            "detail-type": "EC2 Spot Instance Interruption Warning",
            "time": "2026-11-25T15:00:00Z",
            "detail": {"instance-id": "i-0abc123def4567890", "instance-action": "terminate"},
        });
        event[&key] = extra.clone();
        event["detail"][&key] = extra;
        let result = parse_message(&event.to_string());
        prop_assert_eq!(outcome_label(&result), "spot_interruption");
    }
}
