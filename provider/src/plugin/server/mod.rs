//! The gRPC server Terraform talks to: transport (TCP, optional TLS), the Provider service and
//! go-plugin's controller/stdio services.

mod conn;
mod convert;
mod goplugin;
mod proto;
mod provider_rpc;
mod registry;

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::handshake::{self, HandshakeError, PluginEnv};
use super::tls::{self, TlsError};
use super::traits::Provider;
use proto::goplugin::grpc_controller_server::GrpcControllerServer;
use proto::goplugin::grpc_stdio_server::GrpcStdioServer;
use proto::tfplugin6::provider_server::ProviderServer;

/// Terraform's own limit for plugin messages (large plans, big schemas).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves `provider` to the Terraform process that started us, until it calls
/// GRPCController/Shutdown. Fails before printing the handshake line if the environment is not
/// that of a plugin launch.
pub async fn serve(provider: Arc<dyn Provider>, env: PluginEnv) -> Result<(), ServeError> {
    env.check_cookie()?;
    env.negotiate()?;
    // Ctrl-C reaches the whole process group; Terraform answers it with StopProvider and then
    // waits for our replies. Dying here would lose the state of objects being created.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::spawn(async move {
        while sigint.recv().await.is_some() {
            tracing::info!("SIGINT ignored; Terraform stops us through StopProvider");
        }
    });

    let listener = handshake::bind(env.port_range()?).await?;
    let addr = listener.local_addr()?;
    let tls = env.client_cert_for_tls().map(tls::server_tls).transpose()?;
    let cert_der = tls.as_ref().map(|t| t.cert_der.clone());
    let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config));

    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(conn::accept_loop(listener, acceptor, tx));

    let shutdown = Arc::new(Notify::new());
    let reg = Arc::new(registry::Registry::new(provider));
    let provider_svc = ProviderServer::new(provider_rpc::ProviderService { reg })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let router = tonic::transport::Server::builder()
        .add_service(provider_svc)
        .add_service(GrpcControllerServer::new(goplugin::Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcStdioServer::new(goplugin::Stdio));

    let line = handshake::handshake_line(addr, cert_der.as_deref());
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    tracing::debug!(%addr, tls = cert_der.is_some(), "plugin server listening");

    let stop = shutdown.clone();
    let graceful = router.serve_with_incoming_shutdown(ReceiverStream::new(rx), async move {
        stop.notified().await;
    });
    tokio::pin!(graceful);
    tokio::select! {
        r = &mut graceful => r?,
        // Terraform may drop the connection without Shutdown; after Shutdown, do not let a
        // lingering stream keep us alive longer than go-plugin's own grace period.
        _ = async {
            shutdown.notified().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        } => {}
    }
    Ok(())
}
