//! docs/reference/interruption-events.md states the patterns, defaults and action values the code
//! uses; these tests fail when the two drift apart.

use std::path::PathBuf;

use karpenter_core::interruption::{Action, EventKind};
use serde_json::Value;

fn doc() -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../../docs/reference/interruption-events.md",
    ]
    .iter()
    .collect();
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

/// The first ```json block after the heading for `kind`.
fn documented_pattern(doc: &str, kind: EventKind) -> Value {
    let heading = format!("### `{}`", kind.name());
    let Some(section) = doc.split(&heading).nth(1) else {
        panic!("no section {heading}")
    };
    let Some(block) = section.split("```json\n").nth(1) else {
        panic!("no json block under {heading}")
    };
    let json = block.split("```").next().unwrap_or_default();
    match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => panic!("pattern under {heading} is not JSON: {e}"),
    }
}

#[test]
fn every_documented_pattern_is_the_one_the_rules_are_built_from() {
    let doc = doc();
    for kind in EventKind::ALL {
        assert_eq!(
            documented_pattern(&doc, kind),
            kind.event_pattern(),
            "{kind}"
        );
    }
}

#[test]
fn the_defaults_table_matches_the_code() {
    let doc = doc();
    for kind in EventKind::ALL {
        let row = format!("| `{}` | `{}` |", kind.name(), kind.default_action());
        assert!(doc.contains(&row), "missing row {row}");
    }
}

#[test]
fn every_action_value_and_the_rejection_message_are_documented() {
    let doc = doc();
    for action in Action::ALL {
        assert!(
            doc.contains(&format!("| `{action}` |")),
            "{action} not in the table"
        );
    }
    let err = match "drain".parse::<Action>() {
        Err(e) => e.to_string(),
        Ok(a) => panic!("\"drain\" parsed as {a}"),
    };
    assert!(doc.contains(&err), "doc lacks: {err}");
}
