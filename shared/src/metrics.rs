//! The small HTTP server both binaries run for Prometheus: `/metrics` (OpenMetrics text), `/healthz` (the process
//! answers) and `/readyz` (the binary's own readiness check).
//!
//! It listens on `METRICS_ADDR`. In containers that is a fixed port on the internal network; locally the default,
//! port 0, takes a free port, which is logged (`event="metrics_listening"`) and, with `METRICS_ADDR_FILE`, written
//! to that file, where the scripts that start the process find it for Prometheus' file-based discovery.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// OpenMetrics' content type, as Prometheus asks for it.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Where the server listens.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsArgs {
    /// Address of the `/metrics`, `/healthz` and `/readyz` server; port 0 takes a free port, which is logged;
    /// `off`: no server.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:0")]
    pub metrics_addr: String,

    /// File to write the server's address to once it listens (host:port), for scripts and Prometheus discovery.
    #[arg(long, env = "METRICS_ADDR_FILE")]
    pub metrics_addr_file: Option<PathBuf>,
}

impl MetricsArgs {
    /// `METRICS_ADDR=off`: no server.
    pub fn is_off(&self) -> bool {
        self.metrics_addr.eq_ignore_ascii_case("off")
    }
}

/// What `/readyz` asks: `Ok` when ready, else why not.
pub trait Readiness: Send + Sync + 'static {
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("METRICS_ADDR '{addr}' is not an address (host:port, or off): {source}")]
    Address { addr: String, source: std::net::AddrParseError },
    #[error(
        "cannot listen on METRICS_ADDR {addr}: {source} (is another process using the port? port 0 takes a free one)"
    )]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot write METRICS_ADDR_FILE {path}: {source}")]
    AddrFile { path: PathBuf, source: std::io::Error },
}

/// The running server; it stops, and its address file is removed, when this is dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    addr_file: Option<PathBuf>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `args.metrics_addr` at once (so a taken port fails start-up) and serves `registry` from then on;
    /// `None` with `METRICS_ADDR=off`.
    ///
    /// # Errors
    /// An address that does not parse, a port that cannot be bound, an address file that cannot be written.
    pub async fn start(
        args: &MetricsArgs,
        registry: Arc<Registry>,
        readiness: Arc<dyn Readiness>,
    ) -> Result<Option<Self>, MetricsError> {
        if args.is_off() {
            tracing::info!(event = "metrics_off", "METRICS_ADDR=off: no /metrics, /healthz or /readyz");
            return Ok(None);
        }
        let wanted: SocketAddr = args
            .metrics_addr
            .parse()
            .map_err(|source| MetricsError::Address { addr: args.metrics_addr.clone(), source })?;
        let listener = TcpListener::bind(wanted).await.map_err(|source| MetricsError::Bind { addr: wanted, source })?;
        let addr = listener.local_addr().map_err(|source| MetricsError::Bind { addr: wanted, source })?;
        if let Some(path) = &args.metrics_addr_file {
            std::fs::write(path, format!("{addr}\n"))
                .map_err(|source| MetricsError::AddrFile { path: path.clone(), source })?;
        }
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(ready))
            .with_state(Served { registry, readiness });
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(event = "metrics_server_failed", %error, "the metrics server stopped");
            }
        });
        tracing::info!(event = "metrics_listening", %addr, "serving /metrics, /healthz and /readyz");
        Ok(Some(Self { addr, addr_file: args.metrics_addr_file.clone(), task }))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(path) = &self.addr_file {
            let _gone_already = std::fs::remove_file(path);
        }
    }
}

#[derive(Clone)]
struct Served {
    registry: Arc<Registry>,
    readiness: Arc<dyn Readiness>,
}

async fn metrics(State(served): State<Served>) -> Response {
    let mut body = String::new();
    match encode(&mut body, &served.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode metrics: {error}\n")).into_response(),
    }
}

async fn ready(State(served): State<Served>) -> Response {
    match served.readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}
