//! Events on pods: why a pod cannot be placed, which node was launched for it, and launch
//! failures (the spot-quota one above all); and on Provisioners the controller cannot honour.
//! Publishing is best effort: a failed event is logged, never a reason to stop provisioning.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

pub const REASON_UNPLACEABLE: &str = "NoCompatibleInstanceType";
pub const REASON_NOMINATED: &str = "Nominated";
pub const REASON_SPOT_QUOTA: &str = "SpotQuotaExceeded";
pub const REASON_LAUNCH_FAILED: &str = "LaunchFailed";
pub const REASON_INVALID_PROVISIONER: &str = "InvalidProvisioner";

#[derive(Clone)]
pub struct PodEvents {
    recorder: Recorder,
}

/// Event notes are limited to 1 kB by the API server.
fn clip(note: String) -> String {
    const LIMIT: usize = 1000;
    if note.len() <= LIMIT {
        return note;
    }
    let mut end = LIMIT - 3;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &note[..end])
}

impl PodEvents {
    pub fn new(client: kube::Client, instance: Option<String>) -> Self {
        PodEvents {
            recorder: Recorder::new(
                client,
                Reporter {
                    controller: "karpenter".into(),
                    instance,
                },
            ),
        }
    }

    pub async fn publish(
        &self,
        pod: &Pod,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.publish_related(pod, warning, reason, action, note, None)
            .await;
    }

    /// Like [`Self::publish`], with a related object (the node a pod was launched for). The
    /// recorder folds repeats of an event with the same regarding and related objects into a
    /// series that keeps the first note, so a pod nominated to a second node needs the node in
    /// the key or its second "as node ..." note would be lost.
    pub async fn publish_related(
        &self,
        pod: &Pod,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
        related: Option<ObjectReference>,
    ) {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_string(),
            note: Some(clip(note)),
            action: action.to_string(),
            secondary: related,
        };
        self.publish_event(&event, &pod.object_ref(&())).await;
    }

    /// A Warning on any object (a Provisioner the controller leaves out).
    pub async fn warn_on(
        &self,
        regarding: &ObjectReference,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_: EventType::Warning,
            reason: reason.to_string(),
            note: Some(clip(note)),
            action: action.to_string(),
            secondary: None,
        };
        self.publish_event(&event, regarding).await;
    }

    async fn publish_event(&self, event: &Event, regarding: &ObjectReference) {
        if let Err(error) = self.recorder.publish(event, regarding).await {
            tracing::warn!(
                %error,
                kind = regarding.kind.as_deref().unwrap_or_default(),
                object = %format!("{}/{}", regarding.namespace.as_deref().unwrap_or_default(), regarding.name.as_deref().unwrap_or_default()),
                reason = %event.reason,
                "could not publish an event"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn long_notes_are_clipped_on_a_character_boundary() {
        let note = "é".repeat(800);
        let clipped = clip(note);
        assert!(clipped.len() <= 1000);
        assert!(clipped.ends_with("..."));
        assert_eq!(clip("short".into()), "short");
    }
}
