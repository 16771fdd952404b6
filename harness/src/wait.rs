//! Waiting on a condition with a deadline: the one way every tool waits.

use std::time::{Duration, Instant};

use anyhow::bail;

/// Polls `check` every 250 ms until it returns `Some`, or fails after `timeout` saying what was awaited; returns
/// the value and how long it took.
///
/// # Errors
/// When `check` has not returned `Some` within `timeout`.
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok((value, start.elapsed()));
        }
        if start.elapsed() >= timeout {
            bail!("{what}: not reached within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
