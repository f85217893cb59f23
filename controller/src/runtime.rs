//! `karpenter-controller run`: connect, read settings, start the HTTP server and leader election,
//! and run the controllers while this replica leads, until SIGTERM or Ctrl-C.
//!
//! Losing leadership ends the process with an error (the Deployment restarts it as a standby):
//! a replica that was leader may hold half-done work in memory, and starting clean is the only
//! way to be sure it does not act on it.

use std::collections::BTreeMap;

use anyhow::Context;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::watch;

use crate::controllers::Controllers;
use crate::http::{self, Readiness};
use crate::leader::{LeaderConfig, LeaderElector};
use crate::metrics::Metrics;
use crate::settings::{RunArgs, Settings};

/// A client from the kubeconfig file when given, else the in-cluster config or ~/.kube/config.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await.context(
            "no kubeconfig given and no in-cluster or ~/.kube/config configuration found",
        )?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Reads the settings ConfigMap; its absence leaves flags, environment and defaults.
pub async fn load_settings(client: &kube::Client, args: &RunArgs) -> anyhow::Result<Settings> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &args.namespace);
    let data = match api.get_opt(&args.settings_configmap).await {
        Ok(Some(cm)) => cm.data.unwrap_or_default(),
        Ok(None) => {
            tracing::info!(
                configmap = %args.settings_configmap,
                namespace = %args.namespace,
                "settings ConfigMap not found; using flags, environment and defaults"
            );
            BTreeMap::new()
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "reading the settings ConfigMap {}/{}",
                    args.namespace, args.settings_configmap
                )
            });
        }
    };
    Ok(Settings::resolve(args, &data)?)
}

fn identity(args: &RunArgs) -> String {
    args.identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("karpenter-controller-{}", std::process::id()))
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = client(args.kubeconfig.as_deref()).await?;
    let settings = load_settings(&client, &args).await?;
    tracing::info!(
        cluster = %settings.cluster_name,
        batch_idle = ?settings.batch_idle_duration,
        batch_max = ?settings.batch_max_duration,
        spot_quota_fallback = settings.spot_quota_fallback,
        ice_cache_ttl = ?settings.ice_cache_ttl,
        "settings resolved"
    );
    let metrics = Metrics::new();
    let ready = Readiness::default();
    let (stop_tx, stop_rx) = watch::channel(false);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(http::serve(
        listener,
        metrics.clone(),
        ready.clone(),
        async move {
            let _ = http_stop.wait_for(|s| *s).await;
        },
    ));

    let (leader_tx, mut leader_rx) = watch::channel(!args.leader_elect);
    // Without election the sender must outlive the run, or waiting on it would end at once.
    let mut _fixed_leadership = None;
    let elector = if args.leader_elect {
        let cfg = LeaderConfig::new(&args.namespace, &args.lease_name, &identity(&args));
        Some(tokio::spawn(
            LeaderElector::new(client.clone(), cfg).run(leader_tx, stop_rx.clone()),
        ))
    } else {
        _fixed_leadership = Some(leader_tx);
        None
    };

    let controllers = Controllers::new(
        client.clone(),
        settings,
        metrics.clone(),
        Some(identity(&args)),
    )
    .await?;
    ready.set(true);

    let outcome: anyhow::Result<()> = tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutdown signal received");
            Ok(())
        }
        result = async {
            leader_rx.wait_for(|l| *l).await.context("leader election stopped")?;
            metrics.leader.set(1);
            tracing::info!("leading: starting controllers");
            tokio::select! {
                result = controllers.run() => result.map_err(anyhow::Error::from),
                lost = leader_rx.wait_for(|l| !*l) => {
                    lost.context("leader election stopped")?;
                    anyhow::bail!("lost leadership; exiting so a clean standby takes over")
                }
            }
        } => result,
    };
    metrics.leader.set(0);
    ready.set(false);
    let _ = stop_tx.send(true);
    if let Some(elector) = elector {
        let _ = elector.await;
    }
    let _ = server.await;
    outcome
}
