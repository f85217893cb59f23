//! A cluster for unit tests of the orchestration: nodes and pods in memory, every call recorded
//! as a line (`cordon n1`, `evict app/a`, `terminate n1 expired`), and failures on cue.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Node, Pod};

use super::node as ournode;
use super::ops::{Eviction, NodeOps, PodOps};
use super::replacement::Outcome as Replacement;

#[derive(Default)]
pub struct FakeCluster {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    nodes: BTreeMap<String, Node>,
    pods: Vec<Pod>,
    /// Pod names whose eviction a disruption budget refuses.
    refused: Vec<String>,
    calls: Vec<String>,
    /// HTTP status the next node writes answer with, and how many of them.
    failing: Option<(u16, u32)>,
    /// Node writes that succeed before `failing` starts.
    failing_after: u32,
    replacement: Option<Replacement>,
}

pub fn api_error(code: u16) -> kube::Error {
    kube::Error::Api(
        kube::core::Status::failure(&format!("code {code}"), "")
            .with_code(code)
            .boxed(),
    )
}

impl FakeCluster {
    pub fn new(nodes: Vec<Node>, pods: Vec<Pod>) -> Self {
        let fake = FakeCluster::default();
        {
            let mut s = fake.state();
            s.nodes = nodes
                .into_iter()
                .map(|n| (ournode::name(&n).to_string(), n))
                .collect();
            s.pods = pods;
        }
        fake
    }

    pub fn add_node(&self, node: Node) {
        self.state()
            .nodes
            .insert(ournode::name(&node).to_string(), node);
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn refuse_eviction_of(&self, pod: &str) {
        self.state().refused.push(pod.to_string());
    }

    /// The next `times` node writes fail with HTTP `code`.
    pub fn fail_node_writes(&self, code: u16, times: u32) {
        self.fail_node_writes_after(0, code, times);
    }

    /// Like [`Self::fail_node_writes`], once `ok` more node writes have succeeded.
    pub fn fail_node_writes_after(&self, ok: u32, code: u16, times: u32) {
        let mut s = self.state();
        s.failing = Some((code, times));
        s.failing_after = ok;
    }

    pub fn replacement_outcome(&self, outcome: Replacement) {
        self.state().replacement = Some(outcome);
    }

    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    pub fn node(&self, name: &str) -> Option<Node> {
        self.state().nodes.get(name).cloned()
    }

    /// Records the call, or fails it when node writes are failing.
    fn write(&self, call: String) -> Result<(), kube::Error> {
        let mut s = self.state();
        if s.failing.is_some() && s.failing_after > 0 {
            s.failing_after -= 1;
        } else if let Some((code, left)) = s.failing {
            s.failing = (left > 1).then_some((code, left - 1));
            return Err(api_error(code));
        }
        s.calls.push(call);
        Ok(())
    }
}

#[async_trait]
impl NodeOps for FakeCluster {
    async fn get(&self, name: &str) -> Result<Option<Node>, kube::Error> {
        Ok(self.node(name))
    }

    async fn cordon(&self, node: &Node) -> Result<(), kube::Error> {
        let name = ournode::name(node).to_string();
        self.write(format!("cordon {name}"))?;
        if let Some(spec) = self
            .state()
            .nodes
            .get_mut(&name)
            .and_then(|n| n.spec.as_mut())
        {
            spec.taints = Some(ournode::taints_with_disruption(node));
            spec.unschedulable = Some(true);
        }
        Ok(())
    }

    async fn annotate(
        &self,
        name: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), kube::Error> {
        self.write(format!("annotate {name} {key}={}", value.unwrap_or("-")))
    }

    async fn uncordon(&self, name: &str) -> Result<(), kube::Error> {
        self.write(format!("uncordon {name}"))
    }

    async fn request_termination(&self, name: &str, why: &str) -> Result<(), kube::Error> {
        self.write(format!("terminate {name} {why}"))
    }

    async fn remove_finalizer(&self, name: &str) -> Result<bool, kube::Error> {
        if self.node(name).is_none() {
            return Ok(false);
        }
        self.write(format!("finalizer off {name}"))?;
        self.state().nodes.remove(name);
        Ok(true)
    }

    async fn publish(&self, node: &Node, _warning: bool, reason: &str, _note: String) {
        let line = format!("event {} {reason}", ournode::name(node));
        self.state().calls.push(line);
    }
}

#[async_trait]
impl PodOps for FakeCluster {
    async fn pods_on(&self, node: &str) -> Result<Vec<Pod>, kube::Error> {
        Ok(self
            .state()
            .pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
            .cloned()
            .collect())
    }

    async fn evict(&self, namespace: &str, name: &str) -> Eviction {
        let mut s = self.state();
        s.calls.push(format!("evict {namespace}/{name}"));
        if s.refused.iter().any(|r| r == name) {
            return Eviction::Refused(
                "Cannot evict pod as it would violate the pod's disruption budget.".into(),
            );
        }
        let before = s.pods.len();
        s.pods.retain(|p| p.metadata.name.as_deref() != Some(name));
        if s.pods.len() == before {
            Eviction::Gone
        } else {
            Eviction::Evicted
        }
    }

    async fn delete(&self, namespace: &str, name: &str) -> Result<(), kube::Error> {
        let mut s = self.state();
        s.calls.push(format!("delete {namespace}/{name}"));
        s.pods.retain(|p| p.metadata.name.as_deref() != Some(name));
        Ok(())
    }

    async fn launch_replacement(
        &self,
        node: &Node,
        _timeout: Duration,
    ) -> Result<Replacement, kube::Error> {
        let mut s = self.state();
        s.calls.push(format!("replace {}", ournode::name(node)));
        Ok(s.replacement.unwrap_or(Replacement::Ready))
    }

    async fn release_replacement(&self, node: &str) -> Result<(), kube::Error> {
        self.state().calls.push(format!("release {node}"));
        Ok(())
    }
}
