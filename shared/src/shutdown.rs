//! The shutdown future production code passes to `run`: it resolves on the first SIGINT or SIGTERM.
//! Tests pass their own future (a channel) instead.

/// Resolves when the process receives SIGINT (Ctrl-C) or SIGTERM (`docker stop`, `kill`).
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops this process cleanly");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!(event = "shutdown_requested", "shutdown requested: finishing in-flight work");
}
