//! What the experiment does to the system. Everything goes through the project's own scripts and binaries, with
//! their commands printed, so a reader can replay any step by hand on either stack.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// Runs `scripts/*.sh` with the experiment's environment (stack, topic, group, database).
#[derive(Debug, Clone)]
pub struct Scripts {
    pub root: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Scripts {
    /// Runs `scripts/<script>` with `args`; its stderr (the printed commands) passes through; returns stdout.
    ///
    /// # Errors
    /// When the script fails.
    pub async fn run(&self, script: &str, args: &[&str]) -> anyhow::Result<String> {
        let output = Command::new(self.root.join("scripts").join(script))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .await
            .with_context(|| format!("cannot run scripts/{script}"))?;
        if !output.status.success() {
            bail!("scripts/{script} {} failed ({})", args.join(" "), output.status);
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs N consumers.
    pub async fn scale(&self, consumers: usize) -> anyhow::Result<()> {
        self.run("scale.sh", &[&consumers.to_string()]).await.map(drop)
    }

    /// SIGKILLs the consumer with this client id.
    pub async fn kill(&self, client_id: &str) -> anyhow::Result<()> {
        self.run("scale.sh", &["kill", client_id]).await.map(drop)
    }

    /// Raises the topic's partition count.
    pub async fn set_partitions(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        self.run("partitions.sh", &["--topic", topic, "set", &partitions.to_string()]).await.map(drop)
    }

    /// Runs one of Kafka's tools on the local stack.
    pub async fn kafka(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run("kafka.sh", args).await
    }

    /// Creates `topic` with `partitions` partitions, printing the command; with `REPLICATION_FACTOR` replicas
    /// (scripts/lib/common.sh sets it: 1, or 3 on the cluster, `BROKERS=3`), default 1.
    ///
    /// # Errors
    /// When `kafka-topics` fails, e.g. the topic exists or the broker is down.
    pub async fn create_topic(&self, bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let partitions = partitions.to_string();
        let replicas = std::env::var("REPLICATION_FACTOR").unwrap_or_else(|_| "1".into());
        let args = [
            "kafka-topics",
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--topic",
            topic,
            "--partitions",
            &partitions,
            "--replication-factor",
            &replicas,
        ];
        eprintln!("$ scripts/kafka.sh {}", args.join(" "));
        self.kafka(&args).await.map(drop)
    }
}

/// Where the compose producer writes its summary inside its container (`PRODUCER_SUMMARY_FILE` in
/// docker-compose.yml); [`ProducerSummary::from_compose`] copies it out after the container stops.
pub const COMPOSE_SUMMARY_FILE: &str = "/tmp/producer-summary.json";

/// The producer, running for the whole experiment. `summary` is where its `--summary-file` JSON ends up on this
/// machine.
pub enum ProducerProcess {
    Local { child: Child, summary: PathBuf },
    Compose { root: PathBuf, compose: Vec<String>, summary: PathBuf },
}

/// What the producer reported when it stopped: the figures of its `--summary-file` JSON the experiment uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProducerSummary {
    pub acked: u64,
    pub acked_new_orders: u64,
    pub failed: u64,
}

impl ProducerProcess {
    /// Starts the release `order-producer` at `rate` (local), or the compose service with `PRODUCER_RATE`. Its log
    /// goes to `log` (local; compose keeps it in the container's log), its summary to `producer-summary.json`
    /// beside `log`.
    ///
    /// # Errors
    /// When the process or container cannot be started.
    pub async fn start(scripts: &Scripts, compose: Option<Vec<String>>, rate: f64, log: &Path) -> anyhow::Result<Self> {
        let summary = log.with_file_name("producer-summary.json");
        match compose {
            None => {
                let binary = scripts.root.join("target/release/order-producer");
                let file = std::fs::File::create(log).context("producer log")?;
                eprintln!(
                    "$ {} --rate {rate} --customers 100 --seed 7 --summary-file {}  (log: {})",
                    binary.display(),
                    summary.display(),
                    log.display()
                );
                let child = Command::new(binary)
                    .args([
                        "--rate",
                        &rate.to_string(),
                        "--customers",
                        "100",
                        "--seed",
                        "7",
                        "--progress-interval",
                        "10s",
                    ])
                    .arg("--summary-file")
                    .arg(&summary)
                    .envs(scripts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .stdin(Stdio::null())
                    .stdout(file.try_clone()?)
                    .stderr(file)
                    .kill_on_drop(true)
                    .spawn()
                    .context("cannot start order-producer (cargo build --release first)")?;
                Ok(Self::Local { child, summary })
            }
            Some(compose) => {
                eprintln!("$ PRODUCER_RATE={rate} {} up -d order-producer", compose.join(" "));
                let status = Command::new(&compose[0])
                    .args(&compose[1..])
                    .args(["up", "-d", "order-producer"])
                    .env("PRODUCER_RATE", rate.to_string())
                    .status()
                    .await?;
                if !status.success() {
                    bail!("cannot start the compose producer");
                }
                Ok(Self::Compose { root: scripts.root.clone(), compose, summary })
            }
        }
    }

    /// Stops the producer with SIGTERM (it flushes and writes its summary) and reads the summary.
    ///
    /// # Errors
    /// When it does not stop within 60 s or wrote no summary.
    pub async fn stop(self) -> anyhow::Result<ProducerSummary> {
        match self {
            Self::Local { mut child, summary } => {
                let pid = child.id().context("producer already exited")?;
                Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
                tokio::time::timeout(Duration::from_secs(60), child.wait())
                    .await
                    .context("producer did not stop")??;
                ProducerSummary::read(&summary)
            }
            Self::Compose { root, compose, summary } => {
                eprintln!("$ {} stop -t 60 order-producer", compose.join(" "));
                let mut stop = Command::new(&compose[0]);
                stop.args(&compose[1..]).args(["stop", "-t", "60", "order-producer"]).current_dir(&root);
                let status = stop.status().await?;
                if !status.success() {
                    bail!("cannot stop the compose producer ({status})");
                }
                ProducerSummary::from_compose(&compose, &root, &summary).await
            }
        }
    }
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
    /// and reads it. `docker cp`, since Compose v1 has no `cp`; a stopped container's files can still be copied.
    ///
    /// # Errors
    /// When there is not exactly one producer container, or the copy or the read fails.
    pub async fn from_compose(compose: &[String], root: &Path, dest: &Path) -> anyhow::Result<Self> {
        let ps = Command::new(&compose[0])
            .args(&compose[1..])
            .args(["ps", "-a", "-q", "order-producer"])
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .await
            .context("cannot list the compose producer's container")?;
        let ids = String::from_utf8_lossy(&ps.stdout).split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let [id] = ids.as_slice() else {
            bail!("expected one order-producer container, found {}: {ids:?}", ids.len());
        };
        let source = format!("{id}:{COMPOSE_SUMMARY_FILE}");
        eprintln!("$ docker cp {source} {}", dest.display());
        let copied = Command::new("docker").arg("cp").arg(&source).arg(dest).stdin(Stdio::null()).status().await?;
        if !copied.success() {
            bail!("docker cp {source} failed ({copied}): the producer wrote no summary");
        }
        Self::read(dest)
    }
}

/// The compose command line: `COMPOSE_CLI` when set (`docker compose` or `docker-compose`), else `docker compose`
/// when the plugin is there, else `docker-compose` (scripts/lib/common.sh chooses the same way).
pub fn compose_command(root: &Path) -> anyhow::Result<Vec<String>> {
    let file = root.join("docker-compose.yml").display().to_string();
    if let Ok(cli) = std::env::var("COMPOSE_CLI") {
        let mut command: Vec<String> = cli.split_whitespace().map(str::to_owned).collect();
        if command.is_empty() {
            bail!("COMPOSE_CLI is empty; set it to 'docker compose' or 'docker-compose'");
        }
        command.extend(["-f".to_owned(), file]);
        return Ok(command);
    }
    let plugin = std::process::Command::new("docker").args(["compose", "version"]).output();
    if plugin.is_ok_and(|o| o.status.success()) {
        return Ok(vec!["docker".into(), "compose".into(), "-f".into(), file]);
    }
    if std::process::Command::new("docker-compose").arg("version").output().is_ok_and(|o| o.status.success()) {
        return Ok(vec!["docker-compose".into(), "-f".into(), file]);
    }
    bail!("neither 'docker compose' nor 'docker-compose' is available; use --stack local")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_figures_of_the_producers_summary_file() {
        let path = std::env::temp_dir().join(format!("experiment-summary-{}.json", std::process::id()));
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

        let path = std::env::temp_dir().join(format!("experiment-broken-summary-{}.json", std::process::id()));
        std::fs::write(&path, "{\"acked\": 3").unwrap();
        let err = format!("{:#}", ProducerSummary::read(&path).unwrap_err());
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains("is not a producer summary"), "{err}");
    }
}
