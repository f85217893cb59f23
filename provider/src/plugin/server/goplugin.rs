//! go-plugin's side services: GRPCController (Terraform asks us to exit) and GRPCStdio.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::proto::goplugin as gp;

pub(crate) struct Controller {
    pub shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl gp::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _req: Request<gp::Empty>) -> Result<Response<gp::Empty>, Status> {
        tracing::debug!("GRPCController.Shutdown");
        self.shutdown.notify_one();
        Ok(Response::new(gp::Empty {}))
    }
}

pub(crate) struct Stdio;

#[tonic::async_trait]
impl gp::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = Pin<Box<dyn Stream<Item = Result<gp::StdioData, Status>> + Send>>;

    /// Our logs go straight to stderr, which go-plugin already reads, so there is nothing to
    /// forward; an empty stream ends the client's receive loop without an error.
    async fn stream_stdio(
        &self,
        _req: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::empty())))
    }
}
