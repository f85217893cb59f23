//! `karpenter-controller imds-monitor`: a per-node process (run as a DaemonSet) that watches the
//! instance metadata service of the instance it runs on and cordons and drains its own node ahead
//! of a spot interruption, a rebalance recommendation or scheduled maintenance. It is the
//! node-local alternative to the interruption queue: no SQS, no EventBridge, no AWS credentials.
//!
//! # Layout
//! - [`source`]: fetching a metadata path through IMDSv2 (session tokens), a 404 being "nothing".
//! - [`monitor`]: the poll loop: documents -> notices (parsed in `karpenter_core::imds`) -> the
//!   action configured for the notice's kind, each notice acted on once.

pub mod monitor;
pub mod source;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// What the monitor does about a notice. There is no "replace": a node-local process has no
/// cloud credentials; the provisioner launches capacity for the evicted pods as for any others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeAction {
    /// Log it and publish an event; touch nothing.
    Ignore,
    /// Cordon: taint NoSchedule and mark unschedulable; no eviction.
    Cordon,
    /// Cordon, then evict every pod through the Eviction API (PDBs honoured).
    CordonAndDrain,
}

impl NodeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Cordon => "cordon",
            Self::CordonAndDrain => "cordon-and-drain",
        }
    }
}

/// Flags and environment variables of `karpenter-controller imds-monitor`
/// (docs/reference/imds-monitor.md).
#[derive(Args, Debug, Clone)]
pub struct ImdsArgs {
    /// The node this process runs on (from the downward API: spec.nodeName).
    #[arg(long, env = karpenter_contract::settings::env::NODE_NAME)]
    pub node_name: String,
    /// Kubeconfig file; without it the in-cluster config is used.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Base URL of the instance metadata service.
    #[arg(long, env = "IMDS_ENDPOINT", default_value = "http://169.254.169.254")]
    pub imds_endpoint: String,
    /// How often the three metadata paths are read.
    #[arg(long, env = "IMDS_POLL_INTERVAL", default_value = "2s", value_parser = duration)]
    pub poll_interval: Duration,
    #[arg(
        long,
        env = "SPOT_INTERRUPTION_ACTION",
        value_enum,
        default_value = "cordon-and-drain"
    )]
    pub spot_interruption_action: NodeAction,
    #[arg(
        long,
        env = "REBALANCE_RECOMMENDATION_ACTION",
        value_enum,
        default_value = "cordon"
    )]
    pub rebalance_recommendation_action: NodeAction,
    #[arg(
        long,
        env = "SCHEDULED_MAINTENANCE_ACTION",
        value_enum,
        default_value = "cordon-and-drain"
    )]
    pub scheduled_maintenance_action: NodeAction,
}

fn duration(text: &str) -> Result<Duration, String> {
    crate::settings::parse_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive duration (use e.g. 500ms, 2s, 1m)"))
}

pub async fn run(args: ImdsArgs) -> anyhow::Result<()> {
    let client = crate::runtime::client(args.kubeconfig.as_deref()).await?;
    let source = source::Imds::new(&args.imds_endpoint)?;
    let actions = monitor::Actions {
        spot_interruption: args.spot_interruption_action,
        rebalance: args.rebalance_recommendation_action,
        scheduled_maintenance: args.scheduled_maintenance_action,
    };
    let mut m = monitor::Monitor::new(client, source, args.node_name, actions);
    tokio::select! {
        () = m.run(args.poll_interval) => Ok(()),
        () = crate::runtime::shutdown_signal() => {
            tracing::info!("imds-monitor: stopping on signal");
            Ok(())
        }
    }
}
