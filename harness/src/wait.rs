//! Waiting on a condition with a deadline: the one way every tool and test waits.

use std::time::{Duration, Instant};

use anyhow::bail;

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(200);

/// Polls `check` until it returns `Some`, or fails after `timeout` saying what was awaited; returns the value and
/// how long it took.
///
/// # Errors
/// When `check` has not returned `Some` within `timeout`.
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> anyhow::Result<(T, Duration)> {
    wait_ok(what, timeout, async || check().await.ok_or_else(|| "not yet".to_owned())).await
}

/// Polls `check` until it returns `Ok`, or fails after `timeout` with the last reason it gave; returns the value and
/// how long it took.
///
/// # Errors
/// When `check` has not returned `Ok` within `timeout`.
pub async fn wait_ok<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    loop {
        match check().await {
            Ok(value) => return Ok((value, start.elapsed())),
            Err(reason) if start.elapsed() >= timeout => bail!("{what}: not reached within {timeout:?}: {reason}"),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}
