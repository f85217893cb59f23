//! The operations HTTP server on a real socket: /healthz, /readyz following the readiness flag,
//! /metrics in the OpenMetrics format, and a graceful stop when told to.

use std::time::Duration;

use karpenter_controller::http::{Readiness, serve};
use karpenter_controller::metrics::{Metrics, NodeLabels};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, raw))
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served_until_shutdown()
-> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let metrics = Metrics::new();
    metrics
        .nodes_created
        .get_or_create(&NodeLabels {
            provisioner: "default".into(),
            capacity_type: "spot".into(),
        })
        .inc();
    let ready = Readiness::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, metrics, ready.clone(), async move {
        let _ = stopped.await;
    }));

    let (status, body) = get(addr, "/healthz").await?;
    assert_eq!(status, 200);
    assert!(body.ends_with("ok"));

    assert_eq!(get(addr, "/readyz").await?.0, 503);
    ready.set(true);
    assert_eq!(get(addr, "/readyz").await?.0, 200);

    let (status, body) = get(addr, "/metrics").await?;
    assert_eq!(status, 200);
    assert!(body.contains("application/openmetrics-text"), "{body}");
    assert!(
        body.contains(
            r#"karpenter_nodes_created_total{provisioner="default",capacity_type="spot"} 1"#
        ),
        "{body}"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server).await???;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener must be closed after shutdown"
    );
    Ok(())
}
