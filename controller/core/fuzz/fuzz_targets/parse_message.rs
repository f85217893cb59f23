//! Any byte string handed to the interruption parser returns, and the outcome is one of the
//! registered metric labels, consistent with the message it produced.
#![no_main]

use karpenter_core::interruption::{Message, OUTCOME_LABELS, outcome_label, parse_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // SQS bodies are strings: invalid UTF-8 reaches us already replaced, as it is here.
    let body = String::from_utf8_lossy(data);
    let result = parse_message(&body);
    let label = outcome_label(&result);
    assert!(OUTCOME_LABELS.contains(&label));
    match &result {
        Ok(Message::Ignored(ignored)) => {
            assert_eq!(label, "ignored");
            assert!(!ignored.reason.to_string().is_empty());
        }
        Ok(message) => {
            assert!(message.kind().is_some());
            assert!(!message.instance_ids().is_empty());
        }
        Err(error) => {
            assert_eq!(label, "unparseable");
            assert!(!error.to_string().is_empty());
        }
    }
});
