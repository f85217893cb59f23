//! Binary edge: started by Terraform it serves the plugin protocol; `docs` writes the registry
//! docs, `chart` the controller's Helm chart, `controller-policy` the controller's IAM policy
//! (for installs without Terraform) and `controller-rbac` its RBAC rules; anything else explains
//! how the binary is meant to be used and exits non-zero.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use karpenter_contract::{iam_policy, rbac};
use terraform_provider_karpenter::plugin::handshake::{
    HandshakeError, PluginEnv, not_a_plugin_message,
};
use terraform_provider_karpenter::plugin::{ServeError, logging, serve};
use terraform_provider_karpenter::resources::controller_install::chart;
use terraform_provider_karpenter::{SOURCE_ADDRESS, provider::KarpenterProvider};

#[derive(Parser)]
#[command(
    name = "terraform-provider-karpenter",
    version,
    about = "Terraform provider for karpenter-rs (started by Terraform)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write registry-layout docs generated from the provider schema.
    Docs {
        #[arg(long, default_value = "docs")]
        out: PathBuf,
    },
    /// Write the controller's Helm chart, generated from the objects karpenter_controller installs.
    Chart {
        #[arg(long, default_value = "controller/chart")]
        out: PathBuf,
    },
    /// Print the controller's least-privilege IAM policy (the document karpenter_controller_policy
    /// installs) for a cluster, to attach to its role when installing with Helm.
    ControllerPolicy {
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        region: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        node_role_arn: String,
        #[arg(long)]
        queue_arn: String,
        #[arg(long, default_value = "aws")]
        partition: String,
    },
    /// Print the RBAC rules karpenter_controller grants the controller, as JSON:
    /// `{"clusterRules": [...], "namespaceRules": [...]}` (the ClusterRole's and the Role's).
    ControllerRbac,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Docs { out }) => {
            written(write_files(&out, terraform_provider_karpenter::docs()))
        }
        Some(Command::Chart { out }) => written(write_files(&out, chart::files())),
        Some(Command::ControllerPolicy {
            cluster,
            region,
            account,
            node_role_arn,
            queue_arn,
            partition,
        }) => {
            let doc = iam_policy::document(&iam_policy::Scope {
                partition: &partition,
                region: &region,
                cluster: &cluster,
                account: serde_json::Value::String(account),
                node_role_arn: serde_json::Value::String(node_role_arn),
                queue_arn: serde_json::Value::String(queue_arn),
            });
            written(print(&format!("{doc:#}")))
        }
        Some(Command::ControllerRbac) => {
            let rules = serde_json::json!({
                "clusterRules": rbac::to_json(rbac::CONTROLLER_CLUSTER_RULES),
                "namespaceRules": rbac::to_json(rbac::CONTROLLER_NAMESPACE_RULES),
            });
            written(print(&format!("{rules:#}")))
        }
        None => run_plugin(),
    }
}

fn written(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stdout().lock(), "{text}").context("writing to stdout")
}

fn write_files(
    out: &std::path::Path,
    files: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    for (rel, text) in files {
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn run_plugin() -> ExitCode {
    let env = PluginEnv::from_process();
    if env.check_cookie().is_err() {
        eprint!(
            "{}",
            not_a_plugin_message("terraform-provider-karpenter", SOURCE_ADDRESS)
        );
        return ExitCode::from(1);
    }
    logging::init(env!("CARGO_CRATE_NAME"));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("[ERROR] starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let provider = Arc::new(KarpenterProvider::new());
    match rt.block_on(serve(provider, env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(ServeError::Handshake(HandshakeError::NotLaunchedByTerraform)) => ExitCode::from(1),
        Err(e) => {
            eprintln!("[ERROR] {e}");
            ExitCode::FAILURE
        }
    }
}
