//! The producer of a run, as a local process or the compose service, and the summary it writes when it stops
//! (`order-producer --summary-file`): how many orders the broker acknowledged, read as JSON, never from its log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::compose::Compose;
use crate::process::Process;
use crate::scripts::Scripts;

/// Where the compose producer writes its summary inside its container (`PRODUCER_SUMMARY_FILE` in
/// docker-compose.yml); [`ProducerSummary::from_compose`] copies it out after the container stops.
pub const COMPOSE_SUMMARY_FILE: &str = "/tmp/producer-summary.json";

/// The producer, running for a whole run. `summary` is where its `--summary-file` JSON ends up on this machine.
pub enum ProducerProcess {
    Local { process: Process, summary: PathBuf },
    Compose { compose: Compose, summary: PathBuf },
}

/// What the producer reported when it stopped: the figures of its `--summary-file` JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProducerSummary {
    pub acked: u64,
    pub acked_new_orders: u64,
    pub failed: u64,
}

impl ProducerProcess {
    /// Starts the release `order-producer` at `rate` for 100 customers (seed 7) with the scripts' environment
    /// (local), or the compose service with `PRODUCER_RATE`. Its log goes to `log` (local; compose keeps it in the
    /// container's log), its summary to `producer-summary.json` beside `log`.
    ///
    /// # Errors
    /// When the process or container cannot be started.
    pub async fn start(scripts: &Scripts, compose: Option<Compose>, rate: f64, log: &Path) -> anyhow::Result<Self> {
        let summary = log.with_file_name("producer-summary.json");
        match compose {
            None => {
                let mut command = std::process::Command::new(
                    crate::repo::Repo { root: scripts.root.clone() }.binary("order-producer"),
                );
                command
                    .args(["--rate", &rate.to_string(), "--customers", "100", "--seed", "7"])
                    .args(["--progress-interval", "10s", "--summary-file"])
                    .arg(&summary)
                    .envs(scripts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let process = Process::start("the producer", command, log)?;
                Ok(Self::Local { process, summary })
            }
            Some(mut compose) => {
                compose.env.push(("PRODUCER_RATE".into(), rate.to_string()));
                compose.run(&["up", "-d", "order-producer"]).await.context("cannot start the compose producer")?;
                Ok(Self::Compose { compose, summary })
            }
        }
    }

    /// Stops the producer with SIGTERM (it flushes and writes its summary) and reads the summary.
    ///
    /// # Errors
    /// When it does not stop within 60 s (it is then SIGKILLed) or wrote no summary.
    pub async fn stop(self) -> anyhow::Result<ProducerSummary> {
        match self {
            Self::Local { mut process, summary } => {
                let exit = process.stop(Duration::from_secs(60)).await?;
                ProducerSummary::read(&summary).with_context(|| format!("the producer ended with {}", exit.describe()))
            }
            Self::Compose { compose, summary } => {
                compose
                    .run(&["stop", "-t", "60", "order-producer"])
                    .await
                    .context("cannot stop the compose producer")?;
                ProducerSummary::from_compose(&compose, &summary).await
            }
        }
    }
}

/// A producer run to its end ([`produce`]): its summary file as written, and how it exited.
#[derive(Debug)]
pub struct Produced {
    /// The JSON of `--summary-file` (`rate`, `acked`, ...).
    pub summary: serde_json::Value,
    /// Its exit, with its peak memory and CPU time.
    pub exit: crate::process::Exit,
}

/// Runs the release `order-producer` of `stack` until it has sent `count` orders to `topic` at `rate` orders/s (0:
/// as fast as the broker takes them), seed 1, `extra` its further arguments; its log goes to `log` and its summary
/// to `summary`. `name` says whose producer it is in messages (`the producer of group1`).
///
/// # Errors
/// When it cannot start, runs over 30 min (it is then stopped), fails, or leaves no summary.
pub async fn produce(
    stack: &crate::stack::Stack,
    name: &str,
    topic: &str,
    (count, rate): (u64, u64),
    extra: &[String],
    log: &Path,
    summary: &Path,
) -> anyhow::Result<Produced> {
    let mut args: Vec<String> = [
        "--topic",
        topic,
        "--count",
        &count.to_string(),
        "--rate",
        &rate.to_string(),
        "--seed",
        "1",
        "--progress-interval",
        "60s",
        "--summary-file",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(summary.display().to_string());
    args.extend(extra.iter().cloned());
    let env = [("KAFKA_BOOTSTRAP_SERVERS".to_owned(), stack.bootstrap.clone())];
    let binary = stack.binary("order-producer");
    let mut producer = Process::spawn(name, &binary, &args, &env, log)?;
    let exit = match producer.wait(Duration::from_secs(30 * 60)).await? {
        Some(exit) => exit,
        None => {
            producer.stop(Duration::from_secs(60)).await?;
            anyhow::bail!("{name} still ran after 30 min; stopped (see {})", log.display());
        }
    };
    if !exit.success() {
        anyhow::bail!("{name} failed ({}); see {}", exit.describe(), log.display());
    }
    let text = std::fs::read_to_string(summary)
        .with_context(|| format!("no producer summary at {} (see {})", summary.display(), log.display()))?;
    let summary =
        serde_json::from_str(&text).with_context(|| format!("{} is not a producer summary", summary.display()))?;
    Ok(Produced { summary, exit })
}

impl ProducerSummary {
    /// Reads the JSON file `order-producer --summary-file` writes (it is replaced whole, never half-written).
    ///
    /// # Errors
    /// When the file is missing (the producer did not finish, or was SIGKILLed) or is not a summary.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!("no producer summary at {} (order-producer writes it when it stops)", path.display())
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a producer summary", path.display()))
    }

    /// Copies the stopped compose producer's summary ([`COMPOSE_SUMMARY_FILE`]) out of its container to `dest`
    /// and reads it; a stopped container's files can still be copied.
    ///
    /// # Errors
    /// When there is not exactly one producer container, or the copy or the read fails.
    pub async fn from_compose(compose: &Compose, dest: &Path) -> anyhow::Result<Self> {
        compose
            .copy_out("order-producer", COMPOSE_SUMMARY_FILE, dest)
            .await
            .context("the compose producer wrote no summary")?;
        Self::read(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_figures_of_the_producers_summary_file() {
        let path = std::env::temp_dir().join(format!("harness-summary-{}.json", std::process::id()));
        let json = r#"{"sent": 12, "acked": 12, "acked_new_orders": 9, "failed": 0, "unacknowledged": 0,
                      "elapsed_ms": 1500, "elapsed_s": 1.5, "rate": 8}"#;
        std::fs::write(&path, json).unwrap();
        let summary = ProducerSummary::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(summary, ProducerSummary { acked: 12, acked_new_orders: 9, failed: 0 });
    }

    #[test]
    fn a_missing_or_broken_summary_is_a_clear_error() {
        let missing = Path::new("/nonexistent-dir-for-this-test/producer-summary.json");
        let err = format!("{:#}", ProducerSummary::read(missing).unwrap_err());
        assert!(err.contains("no producer summary at /nonexistent-dir-for-this-test/producer-summary.json"), "{err}");

        let path = std::env::temp_dir().join(format!("harness-broken-summary-{}.json", std::process::id()));
        std::fs::write(&path, "{\"acked\": 3").unwrap();
        let err = format!("{:#}", ProducerSummary::read(&path).unwrap_err());
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains("is not a producer summary"), "{err}");
    }
}
