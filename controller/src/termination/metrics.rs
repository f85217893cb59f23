//! Termination's own metric families, registered into the process registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
}

#[derive(Clone)]
pub struct TerminationMetrics {
    pub drain_duration: Histogram,
    pub evictions: Family<OutcomeLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
}

impl TerminationMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let m = TerminationMetrics {
            // 0.25 s .. ~2 h: a drain behind a tight PDB can take long.
            drain_duration: Histogram::new(exponential_buckets(0.25, 2.0, 16)),
            evictions: Family::default(),
            errors: Family::default(),
        };
        metrics.register(
            "karpenter_nodes_drain_duration_seconds",
            "Time from a node's deletion to its instance terminated and finalizer removed",
            m.drain_duration.clone(),
        );
        metrics.register(
            "karpenter_nodes_evictions",
            "Eviction API calls made while draining, by outcome (evicted, refused by a PDB)",
            m.evictions.clone(),
        );
        metrics.register(
            "karpenter_nodes_termination_errors",
            "Failed termination steps, by kind",
            m.errors.clone(),
        );
        m
    }
}
