//! Prometheus metrics, with the anchor's names where it has them, plus the cost of running
//! capacity. Rendered in the OpenMetrics text format at /metrics (see docs/reference/metrics.md).
//!
//! Other components register their own families through [`Metrics::register`], so one registry
//! serves the whole process.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    pub provisioner: String,
    pub capacity_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TerminationLabels {
    pub provisioner: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub reason: String,
    pub capacity_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub provisioner: String,
    pub resource_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Every family this crate's runtime records into. Cloning shares the underlying values.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    pub nodes_created: Family<NodeLabels, Counter>,
    pub nodes_terminated: Family<TerminationLabels, Counter>,
    pub pods_scheduling_decision_duration: Histogram,
    pub scheduling_duration: Histogram,
    pub launch_failures: Family<FailureLabels, Counter>,
    pub pods_unplaceable: Family<ReasonLabels, Counter>,
    pub provisioner_usage: Family<ResourceLabels, FloatGauge>,
    pub provisioner_limit: Family<ResourceLabels, FloatGauge>,
    pub cost_per_hour: Family<NodeLabels, FloatGauge>,
    pub leader: Gauge,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    // 1 ms .. ~65 s: scheduling decisions span both ends of that range.
    exponential_buckets(0.001, 2.0, 17)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Arc::new(Mutex::new(Registry::default())),
            nodes_created: Family::default(),
            nodes_terminated: Family::default(),
            pods_scheduling_decision_duration: Histogram::new(seconds_buckets()),
            scheduling_duration: Histogram::new(seconds_buckets()),
            launch_failures: Family::default(),
            pods_unplaceable: Family::default(),
            provisioner_usage: Family::default(),
            provisioner_limit: Family::default(),
            cost_per_hour: Family::default(),
            leader: Gauge::default(),
        };
        register_described(
            &mut registry,
            "karpenter_nodes_created",
            "Nodes created by the controller, by provisioner and capacity type",
            m.nodes_created.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_nodes_terminated",
            "Nodes terminated by the controller, by provisioner and reason",
            m.nodes_terminated.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_pods_scheduling_decision_duration_seconds",
            "Time from a pod first seen unschedulable to the decision about where it goes",
            m.pods_scheduling_decision_duration.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_provisioner_scheduling_duration_seconds",
            "Duration of one scheduling simulation over a batch of pods",
            m.scheduling_duration.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_cloudprovider_instance_launch_failures",
            "Failed instance launches, by AWS error code and capacity type",
            m.launch_failures.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_provisioner_pods_unplaceable",
            "Pods the scheduling simulation could not place, by reason",
            m.pods_unplaceable.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_provisioner_usage",
            "Resources of the nodes a provisioner launched",
            m.provisioner_usage.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_provisioner_limit",
            "Resource limits of a provisioner",
            m.provisioner_limit.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_cost_per_hour",
            "Hourly price in USD of the running capacity launched by the controller",
            m.cost_per_hour.clone(),
        );
        register_described(
            &mut registry,
            "karpenter_leader_election_leader",
            "Whether this replica holds the leader-election Lease (1) or not (0)",
            m.leader.clone(),
        );
        *m.registry.lock().unwrap_or_else(PoisonError::into_inner) = registry;
        m
    }

    /// Adds a family owned by another component (interruption, termination, ...).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register(name, help, Described(metric));
    }

    /// The OpenMetrics text exposition of every registered family.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

/// A metric whose `# HELP`/`# TYPE` lines are rendered even before its first sample: the registry
/// skips families with no series, which would hide from dashboards and alerts (and from a scrape
/// checking what exists) every counter that has not fired yet.
#[derive(Debug)]
struct Described<M>(M);

impl<M: EncodeMetric> EncodeMetric for Described<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

fn register_described(registry: &mut Registry, name: &str, help: &str, metric: impl Metric) {
    registry.register(name, help, Described(metric));
}

/// Records the elapsed time into a histogram when dropped.
pub struct Timer<'a> {
    histogram: &'a Histogram,
    started: std::time::Instant,
}

impl<'a> Timer<'a> {
    pub fn start(histogram: &'a Histogram) -> Self {
        Timer {
            histogram,
            started: std::time::Instant::now(),
        }
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_for<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn counters_render_with_the_anchor_names_and_labels() {
        let m = Metrics::new();
        m.nodes_created
            .get_or_create(&NodeLabels {
                provisioner: "spot-fleet".into(),
                capacity_type: "spot".into(),
            })
            .inc_by(3);
        m.launch_failures
            .get_or_create(&FailureLabels {
                reason: "MaxSpotInstanceCountExceeded".into(),
                capacity_type: "spot".into(),
            })
            .inc();
        let text = m.render();
        assert_eq!(
            line_for(&text, "karpenter_nodes_created_total{"),
            Some(
                r#"karpenter_nodes_created_total{provisioner="spot-fleet",capacity_type="spot"} 3"#
            )
        );
        assert_eq!(
            line_for(
                &text,
                "karpenter_cloudprovider_instance_launch_failures_total{"
            ),
            Some(
                r#"karpenter_cloudprovider_instance_launch_failures_total{reason="MaxSpotInstanceCountExceeded",capacity_type="spot"} 1"#
            )
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn cost_per_hour_is_a_float_gauge_by_provisioner_and_capacity_type() {
        let m = Metrics::new();
        m.cost_per_hour
            .get_or_create(&NodeLabels {
                provisioner: "default".into(),
                capacity_type: "on-demand".into(),
            })
            .set(0.192);
        let text = m.render();
        assert!(
            text.contains("# TYPE karpenter_cost_per_hour gauge"),
            "{text}"
        );
        assert_eq!(
            line_for(&text, "karpenter_cost_per_hour{"),
            Some(
                r#"karpenter_cost_per_hour{provisioner="default",capacity_type="on-demand"} 0.192"#
            )
        );
    }

    #[test]
    fn families_without_a_series_yet_are_still_described() {
        let text = Metrics::new().render();
        for name in [
            "karpenter_nodes_created",
            "karpenter_nodes_terminated",
            "karpenter_cloudprovider_instance_launch_failures",
            "karpenter_cost_per_hour",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}: {text}");
        }
    }

    #[test]
    fn a_timer_observes_once_when_dropped() {
        let m = Metrics::new();
        drop(Timer::start(&m.scheduling_duration));
        let text = m.render();
        assert_eq!(
            line_for(
                &text,
                "karpenter_provisioner_scheduling_duration_seconds_count"
            ),
            Some("karpenter_provisioner_scheduling_duration_seconds_count 1")
        );
    }

    #[test]
    fn families_registered_by_other_components_are_rendered() {
        let m = Metrics::new();
        let received: Family<ReasonLabels, Counter> = Family::default();
        m.register(
            "karpenter_interruption_received_messages",
            "test",
            received.clone(),
        );
        received
            .get_or_create(&ReasonLabels {
                reason: "spot_interruption".into(),
            })
            .inc();
        assert!(m.render().contains(
            r#"karpenter_interruption_received_messages_total{reason="spot_interruption"} 1"#
        ));
    }
}
