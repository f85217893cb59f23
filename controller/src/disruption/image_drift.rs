//! AMI drift: a node booted from another image than the one its provisioner would launch now
//! (a new recommended AMI was published, or the amiSelector matches a newer image) has drifted.
//!
//! What a provisioner would launch is asked of the launch path itself ([`CurrentImages`]), so the
//! two cannot disagree. Answers are remembered for [`CHECK_PERIOD`] per provisioner version and
//! architecture: the disruption pass runs every few seconds, the images change a few times a
//! month. A failed lookup is logged and means "not drifted" until the next check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use karpenter_core::api::labels;

use crate::clock::Clock;
use crate::cloud::Arch;
use crate::crd::Provisioner;
use crate::provisioning::node::IMAGE_ID_ANNOTATION;

/// How long an answer about a provisioner's current image is used before asking again.
pub const CHECK_PERIOD: Duration = Duration::from_secs(30);

#[async_trait]
pub trait CurrentImages: Send + Sync {
    /// The image a node of `arch` launched for `provisioner` now would boot from; None when
    /// nothing would launch for `arch`.
    async fn current_image(
        &self,
        provisioner: &Provisioner,
        arch: Arch,
    ) -> Result<Option<String>, String>;
}

/// (provisioner, its drift hash, architecture): a changed provisioner is asked again at once.
type Key = (String, String, Arch);

pub struct ImageDrift {
    source: Arc<dyn CurrentImages>,
    clock: Arc<dyn Clock>,
    answers: Mutex<HashMap<Key, (Option<String>, Instant)>>,
}

fn arch(node: &Node) -> Option<Arch> {
    match node.metadata.labels.as_ref()?.get(labels::ARCH)?.as_str() {
        labels::ARCH_AMD64 => Some(Arch::Amd64),
        labels::ARCH_ARM64 => Some(Arch::Arm64),
        _ => None,
    }
}

impl ImageDrift {
    pub fn new(source: Arc<dyn CurrentImages>, clock: Arc<dyn Clock>) -> Self {
        ImageDrift {
            source,
            clock,
            answers: Mutex::new(HashMap::new()),
        }
    }

    async fn current(&self, provisioner: &Provisioner, arch: Arch) -> Option<String> {
        let key = (
            provisioner.name().to_string(),
            provisioner.spec.drift_hash(),
            arch,
        );
        let now = self.clock.now();
        {
            let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((image, until)) = answers.get(&key)
                && *until > now
            {
                return image.clone();
            }
        }
        let image = match self.source.current_image(provisioner, arch).await {
            Ok(image) => image,
            Err(error) => {
                tracing::warn!(provisioner = provisioner.name(), %arch, %error,
                    "could not find the image new nodes would boot from; AMI drift is not checked until the next try");
                None
            }
        };
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        answers.retain(|k, _| k.0 != key.0 || k.1 == key.1);
        answers.insert(key, (image.clone(), now + CHECK_PERIOD));
        image
    }

    /// Why `node` drifted from `provisioner`'s image, if it did. A node that does not say which
    /// image it runs (launched before the annotation, or EC2 did not say) is not judged.
    pub async fn drifted(&self, node: &Node, provisioner: &Provisioner) -> Option<String> {
        let launched = node
            .metadata
            .annotations
            .as_ref()?
            .get(IMAGE_ID_ANNOTATION)?;
        let arch = arch(node)?;
        let current = self.current(provisioner, arch).await?;
        (launched != &current).then(|| {
            format!(
                "it runs image {launched}; provisioner {} launches {current} for {arch} now",
                provisioner.name()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Images {
        image: Mutex<Result<Option<String>, String>>,
        asked: AtomicUsize,
    }

    #[async_trait]
    impl CurrentImages for Images {
        async fn current_image(&self, _: &Provisioner, _: Arch) -> Result<Option<String>, String> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            self.image
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    fn node(image: Option<&str>) -> Node {
        let mut annotations = serde_json::Map::new();
        if let Some(i) = image {
            annotations.insert(IMAGE_ID_ANNOTATION.into(), json!(i));
        }
        serde_json::from_value(json!({"metadata": {"name": "n",
            "labels": {labels::ARCH: "amd64"}, "annotations": annotations}}))
        .unwrap_or_default()
    }

    fn setup(image: Result<Option<String>, String>) -> (ImageDrift, Arc<Images>, ManualClock) {
        let images = Arc::new(Images {
            image: Mutex::new(image),
            asked: AtomicUsize::new(0),
        });
        let clock = ManualClock::default();
        (
            ImageDrift::new(images.clone(), Arc::new(clock.clone())),
            images,
            clock,
        )
    }

    #[tokio::test]
    async fn a_node_on_another_image_than_launches_now_has_drifted() {
        let (drift, _, _) = setup(Ok(Some("ami-new".into())));
        let p = Provisioner::new("p", Default::default());
        let why = drift.drifted(&node(Some("ami-old")), &p).await;
        assert!(
            why.as_deref()
                .is_some_and(|w| w.contains("ami-old") && w.contains("ami-new")),
            "{why:?}"
        );
        assert_eq!(drift.drifted(&node(Some("ami-new")), &p).await, None);
        assert_eq!(drift.drifted(&node(None), &p).await, None);
    }

    #[tokio::test]
    async fn answers_are_remembered_for_a_while_and_failures_are_not_drift() {
        let (drift, images, clock) = setup(Err("SSM unreachable".into()));
        let p = Provisioner::new("p", Default::default());
        assert_eq!(drift.drifted(&node(Some("ami-old")), &p).await, None);
        *images.image.lock().unwrap_or_else(PoisonError::into_inner) = Ok(Some("ami-new".into()));
        assert_eq!(drift.drifted(&node(Some("ami-old")), &p).await, None);
        assert_eq!(images.asked.load(Ordering::SeqCst), 1);
        clock.advance(CHECK_PERIOD);
        assert!(drift.drifted(&node(Some("ami-old")), &p).await.is_some());
        assert_eq!(images.asked.load(Ordering::SeqCst), 2);
    }
}
