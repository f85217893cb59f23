//! Waiting for the controller Deployment to roll out, and saying why it did not: the pods' waiting
//! reasons (ImagePullBackOff, CrashLoopBackOff, ...), their last exit, or why they are unscheduled.

use std::time::Duration;

use serde_json::Value as Json;

use super::objects::{APP, Install};
use crate::kube::objects::{self as kobj, ObjectRef, error_text};
use crate::plugin::CallContext;
use crate::resources::aws::retry::{Stopped, wait_until};

/// Waiting reasons no amount of waiting fixes: fail at once instead of at the timeout.
const PERMANENT: [&str; 2] = ["InvalidImageName", "ErrImageNeverPull"];

enum Probe {
    RolledOut,
    Waiting(String),
    /// A reason waiting cannot fix.
    Stuck(String),
}

async fn probe(client: &kube::Client, install: &Install) -> Probe {
    let deployment = ObjectRef::new("apps/v1", "Deployment", Some(&install.namespace), APP);
    match kobj::get(client, &deployment).await {
        Ok(Some(d)) if rolled_out(&d) => return Probe::RolledOut,
        Ok(Some(_)) => {}
        Ok(None) => return Probe::Waiting(format!("{deployment} does not exist")),
        Err(e) => return Probe::Waiting(format!("reading {deployment}: {}", error_text(&e))),
    }
    let selector = format!("app.kubernetes.io/name={APP}");
    let pods = match kobj::list(client, "v1", "Pod", Some(selector.as_str())).await {
        Ok(pods) => pods,
        Err(e) => {
            return Probe::Waiting(format!("listing the controller's pods: {}", error_text(&e)));
        }
    };
    let pods: Vec<&Json> = pods
        .iter()
        .filter(|p| p["metadata"]["namespace"] == install.namespace.as_str())
        .collect();
    if pods.is_empty() {
        return Probe::Waiting("no controller pod exists yet".into());
    }
    let text = pods
        .iter()
        .map(|p| describe(p))
        .collect::<Vec<_>>()
        .join("\n");
    let stuck = pods.iter().any(|p| {
        waiting_reasons(p)
            .iter()
            .any(|r| PERMANENT.contains(&r.as_str()))
    });
    if stuck {
        Probe::Stuck(text)
    } else {
        Probe::Waiting(text)
    }
}

/// Ok once every replica of the Deployment is updated and available; otherwise what the pods say.
pub async fn wait(
    ctx: &CallContext,
    client: &kube::Client,
    install: &Install,
    timeout: Duration,
) -> Result<(), String> {
    let last = std::sync::Mutex::new(String::from("the Deployment reported no status yet"));
    let waited = wait_until(ctx, timeout, || {
        let last = &last;
        async move {
            match probe(client, install).await {
                Probe::RolledOut => Some(Ok(())),
                Probe::Stuck(why) => Some(Err(why)),
                Probe::Waiting(why) => {
                    if let Ok(mut l) = last.lock() {
                        *l = why;
                    }
                    None
                }
            }
        }
    })
    .await;
    let last = last.into_inner().unwrap_or_else(|e| e.into_inner());
    let ns = &install.namespace;
    match waited {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(format!("The pods cannot start:\n{why}")),
        Err(Stopped::Cancelled) => Err(format!(
            "Cancelled while waiting for {ns}/{APP} to roll out:\n{last}"
        )),
        Err(Stopped::TimedOut) => Err(format!(
            "The Deployment {ns}/{APP} did not roll out within {timeout:?}:\n{last}"
        )),
    }
}

/// As `kubectl rollout status` decides: the newest generation observed, and every replica of it
/// updated and available.
fn rolled_out(d: &Json) -> bool {
    let want = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = &d["status"];
    let count = |k: &str| status[k].as_i64().unwrap_or(0);
    status["observedGeneration"].as_i64() >= d["metadata"]["generation"].as_i64()
        && count("updatedReplicas") == want
        && count("availableReplicas") == want
        && count("replicas") == want
}

fn waiting_reasons(pod: &Json) -> Vec<String> {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_string))
        .collect()
}

/// One line per pod: its phase and, for each container not running, why; for a pod not yet
/// scheduled, the scheduler's message.
pub fn describe(pod: &Json) -> String {
    let name = pod["metadata"]["name"].as_str().unwrap_or("?");
    let phase = pod["status"]["phase"].as_str().unwrap_or("Unknown");
    let mut parts = Vec::new();
    for c in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let container = c["name"].as_str().unwrap_or("?");
        if let Some(reason) = c["state"]["waiting"]["reason"].as_str() {
            let message = c["state"]["waiting"]["message"].as_str().unwrap_or("");
            parts.push(
                format!("container {container} waiting: {reason} {message}")
                    .trim_end()
                    .to_string(),
            );
        }
        let last = &c["lastState"]["terminated"];
        if last.is_object() {
            parts.push(format!(
                "last exit {} ({}) after {} restart(s)",
                last["exitCode"],
                last["reason"].as_str().unwrap_or("?"),
                c["restartCount"]
            ));
        }
        if c["ready"] == false && c["state"]["running"].is_object() {
            parts.push(format!("container {container} running, not ready"));
        }
    }
    for cond in pod["status"]["conditions"].as_array().into_iter().flatten() {
        if cond["type"] == "PodScheduled" && cond["status"] == "False" {
            parts.push(format!(
                "unscheduled: {}",
                cond["message"].as_str().unwrap_or("no message")
            ));
        }
    }
    if parts.is_empty() {
        format!("- pod {name}: {phase}")
    } else {
        format!("- pod {name}: {phase}; {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rollout_is_done_only_when_every_replica_of_the_newest_generation_is_available() {
        let d = |observed: i64, updated: i64, available: i64| {
            json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
                   "status": {"observedGeneration": observed, "updatedReplicas": updated,
                              "availableReplicas": available, "replicas": 2}})
        };
        assert!(rolled_out(&d(2, 2, 2)));
        assert!(!rolled_out(&d(1, 2, 2)), "an older generation's status");
        assert!(!rolled_out(&d(2, 1, 2)), "one replica still old");
        assert!(!rolled_out(&d(2, 2, 1)), "one replica not available");
    }

    #[test]
    fn a_pod_that_cannot_pull_names_the_reason_and_the_message() {
        let pod = json!({"metadata": {"name": "karpenter-1"}, "status": {"phase": "Pending", "containerStatuses": [
            {"name": "controller", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}
        ]}});
        assert_eq!(
            describe(&pod),
            "- pod karpenter-1: Pending; container controller waiting: ImagePullBackOff Back-off pulling image \"x\""
        );
        assert_eq!(waiting_reasons(&pod), ["ImagePullBackOff"]);
    }

    #[test]
    fn a_crash_looping_pod_shows_its_last_exit_and_an_unscheduled_one_the_schedulers_message() {
        let crashing = json!({"metadata": {"name": "k"}, "status": {"phase": "Running", "containerStatuses": [
            {"name": "controller", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}
        ]}});
        assert!(
            describe(&crashing)
                .contains("CrashLoopBackOff; last exit 1 (Error) after 3 restart(s)")
        );
        let pending = json!({"metadata": {"name": "k"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "message": "0/1 nodes are available"}
        ]}});
        assert!(describe(&pending).ends_with("unscheduled: 0/1 nodes are available"));
    }
}
