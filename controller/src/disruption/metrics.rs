//! The disruption loop's metrics, named as Karpenter's (`karpenter_disruption_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `delete` or `replace`.
    pub decision: String,
    /// `empty`, `underutilized`, `expired`, `drifted`.
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BlockedLabels {
    /// `do-not-disrupt` (an annotation on the node or a pod) or `budget`.
    pub blocker: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProvisionerLabels {
    pub provisioner: String,
}

#[derive(Clone)]
pub struct DisruptionMetrics {
    pub decisions: Family<DecisionLabels, Counter>,
    pub actions: Family<DecisionLabels, Counter>,
    pub blocked: Family<BlockedLabels, Counter>,
    pub allowed: Family<ProvisionerLabels, Gauge>,
    pub eligible: Family<ProvisionerLabels, Gauge>,
    pub evaluation: Histogram,
}

impl DisruptionMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let m = DisruptionMetrics {
            decisions: Family::default(),
            actions: Family::default(),
            blocked: Family::default(),
            allowed: Family::default(),
            eligible: Family::default(),
            evaluation: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
        };
        metrics.register(
            "karpenter_disruption_decisions",
            "Disruption decisions taken (validated, about to act), by decision and reason",
            m.decisions.clone(),
        );
        metrics.register(
            "karpenter_disruption_actions_performed",
            "Nodes handed to termination (delete) or replaced (replace) by voluntary disruption, by reason",
            m.actions.clone(),
        );
        metrics.register(
            "karpenter_disruption_blocked",
            "Voluntary disruptions not done, by what blocked them (do-not-disrupt or budget) and reason",
            m.blocked.clone(),
        );
        metrics.register(
            "karpenter_disruption_budgets_allowed_disruptions",
            "Nodes of each provisioner that voluntary disruption may take now",
            m.allowed.clone(),
        );
        metrics.register(
            "karpenter_disruption_eligible_nodes",
            "Nodes of each provisioner consolidation may consider now",
            m.eligible.clone(),
        );
        metrics.register(
            "karpenter_disruption_evaluation_duration_seconds",
            "Time one consolidation decision took on the scheduler",
            m.evaluation.clone(),
        );
        m
    }

    pub fn decided(&self, decision: &str, reason: &str) {
        self.decisions
            .get_or_create(&labels(decision, reason))
            .inc();
    }

    pub fn acted(&self, decision: &str, reason: &str) {
        self.actions.get_or_create(&labels(decision, reason)).inc();
    }

    pub fn blocked(&self, blocker: &str, reason: &str) {
        self.blocked
            .get_or_create(&BlockedLabels {
                blocker: blocker.into(),
                reason: reason.into(),
            })
            .inc();
    }
}

fn labels(decision: &str, reason: &str) -> DecisionLabels {
    DecisionLabels {
        decision: decision.into(),
        reason: reason.into(),
    }
}
