//! What to do about one parsed message. Pure: the message, a lookup from instance to our node,
//! and the per-kind action settings in; one [`Decision`] per instance out.

use karpenter_core::interruption::{Action, ActionSettings, EventKind, InstanceId, Message};

use crate::cloud::{CapacityType, Pool};

/// Our node for an instance, as the lookup finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    pub deleting: bool,
    pub pool: Option<Pool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A well-formed message that asks nothing of us.
    Ignored,
    /// No node of ours runs this instance (another cluster's, or its node is already gone).
    NotOurs {
        instance: String,
    },
    /// The node is already being terminated; nothing more to start.
    AlreadyTerminating {
        node: String,
    },
    Act(Plan),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub node: String,
    pub instance: String,
    pub kind: EventKind,
    pub action: Action,
    /// The spot pool to mark unavailable (spot interruptions only).
    pub mark_unavailable: Option<Pool>,
}

pub fn decide(
    message: &Message,
    lookup: impl Fn(&InstanceId) -> Option<Target>,
    actions: &ActionSettings,
) -> Vec<Decision> {
    let Some(kind) = message.kind() else {
        return vec![Decision::Ignored];
    };
    let action = actions.get(kind);
    message
        .instance_ids()
        .iter()
        .map(|id| match lookup(id) {
            None => Decision::NotOurs {
                instance: id.as_str().to_string(),
            },
            Some(t) if t.deleting => Decision::AlreadyTerminating { node: t.node },
            Some(t) => Decision::Act(Plan {
                mark_unavailable: t.pool.filter(|p| {
                    kind == EventKind::SpotInterruption && p.capacity_type == CapacityType::Spot
                }),
                node: t.node,
                instance: id.as_str().to_string(),
                kind,
                action,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_core::interruption::parse_message;

    const SPOT: &str = r#"{"source": "aws.ec2", "detail-type": "EC2 Spot Instance Interruption Warning",
        "time": "2026-11-25T15:00:00Z",
        "detail": {"instance-id": "i-0abc123def4567890", "instance-action": "terminate"}}"#;
    const REBALANCE: &str = r#"{"source": "aws.ec2", "detail-type": "EC2 Instance Rebalance Recommendation",
        "time": "2026-11-25T15:00:00Z", "detail": {"instance-id": "i-0abc123def4567890"}}"#;
    const SCHEDULED: &str = r#"{"source": "aws.health", "detail-type": "AWS Health Event",
        "time": "2026-11-25T15:00:00Z",
        "detail": {"service": "EC2", "eventTypeCategory": "scheduledChange",
                   "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
                   "startTime": "Wed, 02 Dec 2026 10:00:00 GMT",
                   "affectedEntities": [{"entityValue": "i-0abc123def4567890"},
                                        {"entityValue": "i-0def123def4567890"}]}}"#;
    const STATE: &str = r#"{"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification",
        "time": "2026-11-25T15:00:00Z", "detail": {"instance-id": "i-0abc123def4567890", "state": "stopping"}}"#;

    fn ours(id: &InstanceId) -> Option<Target> {
        Some(Target {
            node: format!("node-{}", id.as_str()),
            deleting: false,
            pool: Some(Pool::new("m5.large", "us-east-1a", CapacityType::Spot)),
        })
    }

    fn plans(body: &str, actions: &ActionSettings) -> Vec<Plan> {
        let message = parse_message(body).unwrap_or_else(|e| panic!("sample does not parse: {e}"));
        decide(&message, ours, actions)
            .into_iter()
            .filter_map(|d| match d {
                Decision::Act(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_kind_gets_its_default_action() {
        let defaults = ActionSettings::default();
        let spot = plans(SPOT, &defaults);
        assert_eq!(spot.len(), 1);
        assert_eq!(spot[0].action, Action::ReplaceAndDrain);
        assert_eq!(
            spot[0].mark_unavailable,
            Some(Pool::new("m5.large", "us-east-1a", CapacityType::Spot))
        );
        let rebalance = plans(REBALANCE, &defaults);
        assert_eq!(rebalance[0].action, Action::ReplaceAndCordon);
        assert_eq!(rebalance[0].mark_unavailable, None);
        let scheduled = plans(SCHEDULED, &defaults);
        assert_eq!(scheduled.len(), 2, "one plan per affected instance");
        assert!(scheduled.iter().all(|p| p.action == Action::CordonAndDrain));
        let state = parse_message(STATE).map(|m| decide(&m, ours, &defaults));
        assert!(
            matches!(
                state.as_deref(),
                Ok([Decision::Act(Plan {
                    action: Action::CordonAndDrain,
                    ..
                })])
            ),
            "{state:?}"
        );
    }

    #[test]
    fn a_changed_setting_changes_only_its_kind() {
        let mut actions = ActionSettings::default();
        actions.set(EventKind::RebalanceRecommendation, Action::Ignore);
        assert_eq!(plans(REBALANCE, &actions)[0].action, Action::Ignore);
        assert_eq!(plans(SPOT, &actions)[0].action, Action::ReplaceAndDrain);
    }

    #[test]
    fn unknown_instances_and_nodes_already_going_are_not_acted_on() {
        let Ok(message) = parse_message(SPOT) else {
            panic!("sample")
        };
        let none = decide(&message, |_| None, &ActionSettings::default());
        assert!(matches!(none.as_slice(), [Decision::NotOurs { .. }]));
        let going = decide(
            &message,
            |_| {
                Some(Target {
                    node: "n".into(),
                    deleting: true,
                    pool: None,
                })
            },
            &ActionSettings::default(),
        );
        assert_eq!(going, [Decision::AlreadyTerminating { node: "n".into() }]);
    }

    #[test]
    fn an_on_demand_node_never_marks_a_spot_pool() {
        let Ok(message) = parse_message(SPOT) else {
            panic!("sample")
        };
        let d = decide(
            &message,
            |_| {
                Some(Target {
                    node: "n".into(),
                    deleting: false,
                    pool: Some(Pool::new("m5.large", "a", CapacityType::OnDemand)),
                })
            },
            &ActionSettings::default(),
        );
        assert!(matches!(
            d.as_slice(),
            [Decision::Act(Plan {
                mark_unavailable: None,
                ..
            })]
        ));
    }
}
