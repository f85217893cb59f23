//! Emptiness and expiry decisions. Pure: a node's facts and the time in, a [`Decision`] out.
//!
//! - Expiry: a node older than its provisioner's `ttlSecondsUntilExpired` (counted from the Node's
//!   creation) is terminated, busy or not; the drain moves its pods.
//! - Drift: a node launched from another version of its provisioner's launch settings
//!   (`ProvisionerSpec::drift_hash`) or another AMI than it would get now is terminated and
//!   replaced by what the provisioner launches today.
//! - Emptiness: a Ready node with no pod that holds it (DaemonSet, mirror and finished pods do not)
//!   is stamped with the time it was first seen empty (annotation
//!   `karpenter.sh/emptiness-timestamp`); `ttlSecondsAfterEmpty` after that stamp it is
//!   terminated. A pod arriving removes the stamp, so the count starts again.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

pub const EMPTINESS_ANNOTATION: &str = "karpenter.sh/emptiness-timestamp";
pub const REASON_EMPTY: &str = "empty";
pub const REASON_EXPIRED: &str = "expired";
pub const REASON_DRIFTED: &str = "drifted";

/// What is known about one node of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFacts {
    pub created: Option<Timestamp>,
    pub ready: bool,
    /// Pods that keep the node busy.
    pub busy_pods: usize,
    /// Pods were nominated to this node moments ago and are not bound yet.
    pub recently_nominated: bool,
    /// The emptiness stamp, when present and readable.
    pub empty_since: Option<Timestamp>,
    pub ttl_after_empty: Option<Duration>,
    pub ttl_until_expired: Option<Duration>,
    /// Why the node no longer matches what its provisioner launches now, if it does not.
    pub drifted: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Nothing,
    /// Write the emptiness stamp with this time.
    MarkEmpty(Timestamp),
    /// Remove a stale emptiness stamp (the node has pods again).
    ClearEmpty,
    /// Terminate the node; the reason is the metric label.
    Terminate {
        reason: &'static str,
        note: String,
    },
}

fn elapsed(since: Timestamp, now: Timestamp) -> Duration {
    let d = now.duration_since(since);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

pub fn decide(f: &NodeFacts, now: Timestamp) -> Decision {
    if let (Some(ttl), Some(created)) = (f.ttl_until_expired, f.created) {
        let age = elapsed(created, now);
        if age >= ttl {
            return Decision::Terminate {
                reason: REASON_EXPIRED,
                note: format!(
                    "node expired: {}s old, ttlSecondsUntilExpired is {}s",
                    age.as_secs(),
                    ttl.as_secs()
                ),
            };
        }
    }
    if let Some(why) = &f.drifted {
        return Decision::Terminate {
            reason: REASON_DRIFTED,
            note: format!("node drifted: {why}"),
        };
    }
    let Some(ttl) = f.ttl_after_empty else {
        return if f.empty_since.is_some() {
            Decision::ClearEmpty
        } else {
            Decision::Nothing
        };
    };
    if f.busy_pods > 0 || f.recently_nominated || !f.ready {
        return if f.empty_since.is_some() {
            Decision::ClearEmpty
        } else {
            Decision::Nothing
        };
    }
    match f.empty_since {
        None => Decision::MarkEmpty(now),
        Some(since) if elapsed(since, now) >= ttl => Decision::Terminate {
            reason: REASON_EMPTY,
            note: format!(
                "node empty for {}s, ttlSecondsAfterEmpty is {}s",
                elapsed(since, now).as_secs(),
                ttl.as_secs()
            ),
        },
        Some(_) => Decision::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn facts() -> NodeFacts {
        NodeFacts {
            created: Some(t("2026-01-01T00:00:00Z")),
            ready: true,
            busy_pods: 0,
            recently_nominated: false,
            empty_since: None,
            ttl_after_empty: Some(Duration::from_secs(30)),
            ttl_until_expired: None,
            drifted: None,
        }
    }

    #[test]
    fn an_empty_node_is_stamped_then_terminated_once_the_ttl_passes() {
        let now = t("2026-01-01T00:01:00Z");
        assert_eq!(decide(&facts(), now), Decision::MarkEmpty(now));
        let stamped = NodeFacts {
            empty_since: Some(now),
            ..facts()
        };
        assert_eq!(
            decide(&stamped, t("2026-01-01T00:01:29Z")),
            Decision::Nothing
        );
        assert!(matches!(
            decide(&stamped, t("2026-01-01T00:01:30Z")),
            Decision::Terminate {
                reason: REASON_EMPTY,
                ..
            }
        ));
    }

    #[test]
    fn a_pod_arriving_clears_the_stamp_and_a_node_not_ready_is_never_empty() {
        let stamped = NodeFacts {
            empty_since: Some(t("2026-01-01T00:00:00Z")),
            busy_pods: 1,
            ..facts()
        };
        assert_eq!(
            decide(&stamped, t("2026-01-01T01:00:00Z")),
            Decision::ClearEmpty
        );
        let starting = NodeFacts {
            ready: false,
            ..facts()
        };
        assert_eq!(
            decide(&starting, t("2026-01-01T01:00:00Z")),
            Decision::Nothing
        );
        let no_ttl = NodeFacts {
            ttl_after_empty: None,
            ..facts()
        };
        assert_eq!(
            decide(&no_ttl, t("2026-01-01T01:00:00Z")),
            Decision::Nothing
        );
    }

    #[test]
    fn a_node_pods_were_just_nominated_to_is_not_empty_yet() {
        let nominated = NodeFacts {
            recently_nominated: true,
            ..facts()
        };
        assert_eq!(
            decide(&nominated, t("2026-01-01T00:10:00Z")),
            Decision::Nothing
        );
        let stamped = NodeFacts {
            empty_since: Some(t("2026-01-01T00:00:00Z")),
            ..nominated
        };
        assert_eq!(
            decide(&stamped, t("2026-01-01T00:10:00Z")),
            Decision::ClearEmpty
        );
    }

    #[test]
    fn expiry_counts_from_creation_and_wins_over_busy_pods() {
        let f = NodeFacts {
            busy_pods: 5,
            ttl_until_expired: Some(Duration::from_secs(3600)),
            ..facts()
        };
        assert_eq!(decide(&f, t("2026-01-01T00:59:59Z")), Decision::Nothing);
        assert!(matches!(
            decide(&f, t("2026-01-01T01:00:00Z")),
            Decision::Terminate {
                reason: REASON_EXPIRED,
                ..
            }
        ));
    }

    proptest! {
        #[test]
        fn a_busy_node_is_never_terminated_for_emptiness(busy in 1usize..50, secs in 0i64..1_000_000) {
            let f = NodeFacts { busy_pods: busy, empty_since: Some(t("2026-01-01T00:00:00Z")), ..facts() };
            let now = Timestamp::from_second(t("2026-01-01T00:00:00Z").as_second() + secs).unwrap_or(Timestamp::UNIX_EPOCH);
            let terminated = matches!(decide(&f, now), Decision::Terminate { .. });
            prop_assert!(!terminated, "a node with {} pods was terminated", busy);
        }

        #[test]
        fn an_expired_node_is_always_terminated(secs in 3600i64..10_000_000, busy in 0usize..50) {
            let f = NodeFacts { busy_pods: busy, ttl_until_expired: Some(Duration::from_secs(3600)), ..facts() };
            let now = Timestamp::from_second(t("2026-01-01T00:00:00Z").as_second() + secs).unwrap_or(Timestamp::UNIX_EPOCH);
            prop_assert!(
                matches!(decide(&f, now), Decision::Terminate { reason: REASON_EXPIRED, .. }),
                "expired node was not terminated"
            );
        }
    }
}
