//! karpenter-controller: the in-cluster controller of karpenter-rs. This file only wires:
//! parse the command line, then hand over to the library.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use karpenter_controller::imds_monitor::{self, ImdsArgs};
use karpenter_controller::{manifests, runtime, settings::RunArgs};

#[derive(Parser)]
#[command(name = "karpenter-controller", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the kubeconfig or the in-cluster config.
    Run(Box<RunArgs>),
    /// Print the CRD and the other installation objects as YAML.
    Manifests,
    /// Watch this instance's metadata service and cordon/drain this node ahead of a spot
    /// interruption, rebalance recommendation or scheduled maintenance (run as a DaemonSet).
    ImdsMonitor(Box<ImdsArgs>),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            karpenter_controller::telemetry::init();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(runtime::run(*args))
        }
        Command::ImdsMonitor(args) => {
            karpenter_controller::telemetry::init();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(imds_monitor::run(*args))
        }
        Command::Manifests => {
            print!("{}", manifests::render_yaml(&manifests::objects())?);
            Ok(())
        }
    }
}
