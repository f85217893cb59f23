//! The poll loop. Each poll reads the three documents; each notice not acted on before gets the
//! action its kind is configured with. A notice is remembered only once its action succeeded, so a
//! failed cordon or drain is tried again on the next poll; after a restart a notice still served
//! is acted on again, which is harmless (cordon and drain are idempotent).

use std::collections::HashSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use karpenter_core::imds::{Document, Notice};
use kube::api::Api;

use super::NodeAction;
use super::source::Imds;
use crate::termination::controller::DRAIN_POLL;
use crate::termination::drain_step::{self, Refusals};
use crate::termination::node::{self as ournode, NodeEvents};
use crate::termination::ops::KubePods;

/// The configured action per notice kind.
#[derive(Debug, Clone, Copy)]
pub struct Actions {
    pub spot_interruption: NodeAction,
    pub rebalance: NodeAction,
    pub scheduled_maintenance: NodeAction,
}

impl Actions {
    pub fn for_notice(&self, notice: &Notice) -> NodeAction {
        match notice {
            Notice::SpotInterruption { .. } => self.spot_interruption,
            Notice::Rebalance { .. } => self.rebalance,
            Notice::ScheduledMaintenance { .. } => self.scheduled_maintenance,
        }
    }
}

/// What one poll found: the notices, and the documents that could not be read or parsed.
#[derive(Debug, Default)]
pub struct Poll {
    pub notices: Vec<Notice>,
    pub problems: Vec<String>,
}

/// The notices in `poll`, strongest first (a drain before a cordon), not yet acted on.
pub fn to_act_on<'a>(
    poll: &'a Poll,
    done: &HashSet<String>,
    actions: &Actions,
) -> Vec<(&'a Notice, NodeAction)> {
    let mut out: Vec<_> = poll
        .notices
        .iter()
        .filter(|n| !done.contains(&n.key()))
        .map(|n| (n, actions.for_notice(n)))
        .collect();
    // NodeAction is declared weakest first.
    out.sort_by_key(|(_, a)| std::cmp::Reverse(*a as u8));
    out
}

pub struct Monitor {
    client: kube::Client,
    source: Imds,
    node: String,
    actions: Actions,
    events: NodeEvents,
    refusals: Refusals,
    done: HashSet<String>,
}

#[derive(Debug, thiserror::Error)]
enum ActError {
    #[error("node {0} not found")]
    NoNode(String),
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

impl Monitor {
    pub fn new(client: kube::Client, source: Imds, node: String, actions: Actions) -> Self {
        Monitor {
            events: NodeEvents::new(client.clone()),
            client,
            source,
            node,
            actions,
            refusals: Refusals::default(),
            done: HashSet::new(),
        }
    }

    pub async fn run(&mut self, interval: Duration) {
        tracing::info!(node = %self.node, ?interval, actions = ?self.actions, "imds-monitor: watching instance metadata");
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let poll = self.poll().await;
            for problem in &poll.problems {
                tracing::warn!(node = %self.node, %problem, "imds-monitor: metadata not usable this poll");
            }
            for (notice, action) in to_act_on(&poll, &self.done, &self.actions) {
                match self.act(notice, action).await {
                    Ok(()) => {
                        tracing::info!(node = %self.node, kind = notice.kind(), action = action.as_str(), "imds-monitor: notice handled");
                        self.done.insert(notice.key());
                    }
                    Err(error) => {
                        tracing::warn!(node = %self.node, kind = notice.kind(), %error, "imds-monitor: action failed; retrying next poll");
                    }
                }
            }
        }
    }

    async fn poll(&self) -> Poll {
        let mut poll = Poll::default();
        for document in Document::ALL {
            match self.source.fetch(document.path()).await {
                Ok(None) => {}
                Ok(Some(body)) => match document.parse(&body) {
                    Ok(mut notices) => poll.notices.append(&mut notices),
                    Err(e) => poll.problems.push(e.to_string()),
                },
                Err(e) => poll.problems.push(e.to_string()),
            }
        }
        poll
    }

    async fn act(&self, notice: &Notice, action: NodeAction) -> Result<(), ActError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let node = api
            .get_opt(&self.node)
            .await?
            .ok_or_else(|| ActError::NoNode(self.node.clone()))?;
        let deadline = notice.deadline().map(|t| t.to_string());
        tracing::info!(node = %self.node, kind = notice.kind(), key = %notice.key(), deadline = deadline.as_deref(),
            action = action.as_str(), "imds-monitor: notice");
        self.events
            .publish(
                &node,
                true,
                event_reason(notice),
                format!(
                    "{} from instance metadata ({}): {}",
                    notice.kind(),
                    notice.key(),
                    action.as_str()
                ),
            )
            .await;
        if action == NodeAction::Ignore {
            return Ok(());
        }
        ournode::cordon(&api, &node).await?;
        tracing::info!(node = %self.node, kind = notice.kind(), "imds-monitor: node cordoned");
        if action == NodeAction::CordonAndDrain {
            self.drain().await?;
        }
        Ok(())
    }

    /// Evicts until nothing holds the node. PDBs may make this slow; the instance going away ends
    /// it at the latest.
    async fn drain(&self) -> Result<(), kube::Error> {
        let started = std::time::Instant::now();
        let mut evicted = 0;
        loop {
            let pods = KubePods(self.client.clone());
            let step =
                drain_step::step(&pods, &self.node, &self.refusals, Timestamp::now()).await?;
            evicted += step.evicted;
            if step.done {
                tracing::info!(node = %self.node, evicted, drain_seconds = started.elapsed().as_secs_f64(), "imds-monitor: node drained");
                return Ok(());
            }
            tokio::time::sleep(step.retry_after.unwrap_or(DRAIN_POLL)).await;
        }
    }
}

fn event_reason(notice: &Notice) -> &'static str {
    match notice {
        Notice::SpotInterruption { .. } => "SpotInterruption",
        Notice::Rebalance { .. } => "RebalanceRecommendation",
        Notice::ScheduledMaintenance { .. } => "ScheduledMaintenance",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_core::interruption::Timestamp;

    fn actions() -> Actions {
        Actions {
            spot_interruption: NodeAction::CordonAndDrain,
            rebalance: NodeAction::Cordon,
            scheduled_maintenance: NodeAction::Ignore,
        }
    }

    #[test]
    fn new_notices_get_their_kind_s_action_strongest_first_and_done_ones_are_skipped() {
        let t = Timestamp::from_unix(1_800_000_000, 0);
        let poll = Poll {
            notices: vec![
                Notice::Rebalance { notice_time: t },
                Notice::ScheduledMaintenance {
                    event_id: "e".into(),
                    code: "system-reboot".into(),
                    not_before: t,
                },
                Notice::SpotInterruption {
                    action: "terminate".into(),
                    time: t,
                },
            ],
            problems: vec![],
        };
        let plan: Vec<_> = to_act_on(&poll, &HashSet::new(), &actions())
            .into_iter()
            .map(|(n, a)| (n.kind(), a))
            .collect();
        assert_eq!(
            plan,
            vec![
                ("spot_interruption", NodeAction::CordonAndDrain),
                ("rebalance_recommendation", NodeAction::Cordon),
                ("scheduled_maintenance", NodeAction::Ignore),
            ]
        );
        let done: HashSet<String> = poll.notices.iter().map(Notice::key).collect();
        assert!(to_act_on(&poll, &done, &actions()).is_empty());
    }
}
