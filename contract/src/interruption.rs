//! How interruption events reach the controller: the kinds it acts on (core's [`EventKind`],
//! which also classifies the messages), the EventBridge pattern of each, and the names of the
//! queue, rules and rule targets the provider creates, by Terraform resources or by the
//! CloudFormation bootstrap stack.

use serde_json::Value;

pub use karpenter_core::interruption::EventKind;

/// Every kind's name, in [`EventKind::ALL`] order: what users write in `kind` and `kinds`.
pub const KINDS: [&str; EventKind::ALL.len()] = {
    let mut names = [""; EventKind::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = EventKind::ALL[i].name();
        i += 1;
    }
    names
};

/// The id of our target on every rule (delete removes it before the rule).
pub const TARGET_ID: &str = "KarpenterInterruptionQueueTarget";

/// The EventBridge pattern of the kind named `kind`, if it is one of [`KINDS`].
pub fn event_pattern(kind: &str) -> Option<Value> {
    kind.parse::<EventKind>().ok().map(EventKind::event_pattern)
}

/// The default name of the interruption queue (and of the bootstrap stack).
pub fn queue_name(cluster: &str) -> String {
    format!("Karpenter-{cluster}")
}

/// The default name of the rule for the kind named `kind`.
pub fn rule_name(cluster: &str, kind: &str) -> String {
    format!("Karpenter-{cluster}-{}", kind.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_pattern_and_names_round_trip() {
        let mut seen = Vec::new();
        for name in KINDS {
            let kind: EventKind = name.parse().unwrap_or_else(|e| panic!("{e}"));
            let pattern = event_pattern(name);
            assert_eq!(pattern, Some(kind.event_pattern()));
            assert!(!seen.contains(&pattern), "{name} shares a pattern");
            seen.push(pattern);
        }
        assert_eq!(event_pattern("nope"), None);
        assert_eq!(
            rule_name("demo", "spot_interruption"),
            "Karpenter-demo-spot-interruption"
        );
    }

    #[test]
    fn the_instance_state_pattern_is_the_text_aws_stores() {
        // Sent to EventBridge and kept in Terraform state as text: the key order is part of it.
        assert_eq!(
            event_pattern("instance_state_change")
                .map(|p| p.to_string())
                .as_deref(),
            Some(
                r#"{"detail":{"state":["stopping","stopped","shutting-down","terminated"]},"detail-type":["EC2 Instance State-change Notification"],"source":["aws.ec2"]}"#
            )
        );
    }
}
