//! Which pods a drain evicts, in which order, and which it waits for. Pure: pods and the time in,
//! a [`DrainPlan`] out.
//!
//! - DaemonSet pods are skipped: their controller would put them back, and they die with the node.
//! - Mirror (static) pods are skipped: the API server cannot evict them.
//! - Finished pods (Succeeded/Failed) hold nothing.
//! - A pod already terminating is waited for until its deletion timestamp (which the API server
//!   set to the deletion time plus the pod's terminationGracePeriodSeconds) plus a short slack;
//!   after that its kubelet is presumed gone with the instance and it no longer holds the node.
//! - A pod annotated `karpenter.sh/do-not-evict: "true"` is never evicted; the node waits for it
//!   to finish by itself, and the instance is not terminated under it.
//! - Critical pods (system-cluster-critical / system-node-critical) are evicted only once every
//!   other pod is gone, so cluster services keep serving the pods still moving.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::provisioning::pending::is_daemonset_pod;

pub const DO_NOT_EVICT: &str = "karpenter.sh/do-not-evict";
pub const MIRROR_POD: &str = "kubernetes.io/config.mirror";
const CRITICAL_CLASSES: [&str; 2] = ["system-cluster-critical", "system-node-critical"];
/// Time beyond a terminating pod's deletion timestamp we still wait for it.
pub const TERMINATION_SLACK: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Does not hold the node (DaemonSet, mirror, finished, overdue).
    Skip(&'static str),
    Evict,
    /// Terminating within its grace period.
    AwaitTermination,
    /// Annotated do-not-evict: waited for, never evicted.
    DoNotEvict,
}

pub fn is_critical(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
        .is_some_and(|c| CRITICAL_CLASSES.contains(&c))
}

pub fn has_do_not_evict(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DO_NOT_EVICT))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Whether a pod keeps a node busy (for emptiness and draining alike).
pub fn holds_node(pod: &Pod) -> bool {
    let mirror = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD));
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    !(is_daemonset_pod(pod) || mirror || finished)
}

pub fn classify(pod: &Pod, now: Timestamp) -> Disposition {
    if is_daemonset_pod(pod) {
        return Disposition::Skip("daemonset");
    }
    if !holds_node(pod) {
        return Disposition::Skip("mirror-or-finished");
    }
    if let Some(deleting) = &pod.metadata.deletion_timestamp {
        let slack = SignedDuration::try_from(TERMINATION_SLACK).unwrap_or(SignedDuration::ZERO);
        let overdue = deleting.0.checked_add(slack).is_ok_and(|limit| limit < now);
        return if overdue {
            Disposition::Skip("overdue")
        } else {
            Disposition::AwaitTermination
        };
    }
    if has_do_not_evict(pod) {
        return Disposition::DoNotEvict;
    }
    Disposition::Evict
}

/// (namespace, name) of a pod.
pub type PodRef = (String, String);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainPlan {
    /// Evict these now, in this order.
    pub evict: Vec<PodRef>,
    /// Pods still terminating or waiting their turn (critical pods behind others).
    pub waiting: usize,
    /// do-not-evict pods the node waits for.
    pub do_not_evict: Vec<PodRef>,
}

impl DrainPlan {
    /// Nothing left on the node that holds it: the instance may go.
    pub fn is_done(&self) -> bool {
        self.evict.is_empty() && self.waiting == 0 && self.do_not_evict.is_empty()
    }
}

fn pod_ref(pod: &Pod) -> PodRef {
    (
        pod.metadata.namespace.clone().unwrap_or_default(),
        pod.metadata.name.clone().unwrap_or_default(),
    )
}

pub fn plan<'a>(pods: impl IntoIterator<Item = &'a Pod>, now: Timestamp) -> DrainPlan {
    let mut out = DrainPlan::default();
    let mut critical = Vec::new();
    for pod in pods {
        match classify(pod, now) {
            Disposition::Skip(_) => {}
            Disposition::AwaitTermination => out.waiting += 1,
            Disposition::DoNotEvict => out.do_not_evict.push(pod_ref(pod)),
            Disposition::Evict if is_critical(pod) => critical.push(pod_ref(pod)),
            Disposition::Evict => out.evict.push(pod_ref(pod)),
        }
    }
    // Critical pods wait while any other pod is still on its way out.
    let others_remain = !out.evict.is_empty() || out.waiting > 0 || !out.do_not_evict.is_empty();
    if others_remain {
        out.waiting += critical.len();
    } else {
        out.evict = critical;
    }
    out.evict.sort();
    out
}

/// Delay before evicting a pod again after its PodDisruptionBudget refused (HTTP 429):
/// 1 s doubling to at most 30 s.
pub fn eviction_backoff(refusals: u32) -> Duration {
    let exp = refusals.saturating_sub(1).min(5);
    Duration::from_secs(1u64 << exp).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pod(name: &str, extra: Value) -> Pod {
        let mut v = json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"containers": []},
                           "status": {"phase": "Running"}});
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap_or_default()
    }

    fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn now() -> Timestamp {
        "2026-01-01T00:10:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn names(refs: &[PodRef]) -> Vec<&str> {
        refs.iter().map(|r| r.1.as_str()).collect()
    }

    #[test]
    fn daemonset_mirror_and_finished_pods_do_not_hold_the_node() {
        let ds = pod(
            "ds",
            json!({"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "d", "uid": "u", "controller": true}]}}),
        );
        let mirror = pod(
            "static",
            json!({"metadata": {"annotations": {MIRROR_POD: "x"}}}),
        );
        let done = pod("job", json!({"status": {"phase": "Succeeded"}}));
        let p = plan([&ds, &mirror, &done], now());
        assert!(p.is_done(), "{p:?}");
        assert_eq!(classify(&ds, now()), Disposition::Skip("daemonset"));
    }

    #[test]
    fn ordinary_pods_are_evicted_and_critical_pods_wait_their_turn() {
        let app = pod("app", json!({}));
        let dns = pod(
            "coredns",
            json!({"spec": {"priorityClassName": "system-cluster-critical"}}),
        );
        let p = plan([&dns, &app], now());
        assert_eq!(names(&p.evict), ["app"]);
        assert_eq!(p.waiting, 1);
        let p = plan([&dns], now());
        assert_eq!(names(&p.evict), ["coredns"]);
        assert_eq!(p.waiting, 0);
    }

    #[test]
    fn a_do_not_evict_pod_is_never_evicted_and_holds_the_node() {
        let keep = pod(
            "keep",
            json!({"metadata": {"annotations": {DO_NOT_EVICT: "true"}}}),
        );
        let app = pod("app", json!({}));
        let p = plan([&keep, &app], now());
        assert_eq!(names(&p.evict), ["app"]);
        assert_eq!(names(&p.do_not_evict), ["keep"]);
        assert!(!plan([&keep], now()).is_done());
        let not_really = pod(
            "x",
            json!({"metadata": {"annotations": {DO_NOT_EVICT: "false"}}}),
        );
        assert_eq!(classify(&not_really, now()), Disposition::Evict);
    }

    #[test]
    fn a_terminating_pod_is_waited_for_until_its_grace_period_and_slack_pass() {
        // Deleted at 00:09:00 with a 60 s grace period: deletionTimestamp 00:10:00.
        let dying = pod(
            "dying",
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:10:00Z"}}),
        );
        assert_eq!(classify(&dying, now()), Disposition::AwaitTermination);
        let later: Timestamp = "2026-01-01T00:10:29Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(classify(&dying, later), Disposition::AwaitTermination);
        let overdue: Timestamp = "2026-01-01T00:10:31Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(classify(&dying, overdue), Disposition::Skip("overdue"));
    }

    #[test]
    fn eviction_backoff_doubles_up_to_thirty_seconds() {
        let steps: Vec<u64> = (1..=8).map(|n| eviction_backoff(n).as_secs()).collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(eviction_backoff(0).as_secs(), 1);
    }
}
