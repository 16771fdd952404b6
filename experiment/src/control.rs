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

    /// Creates `topic` with `partitions` partitions (replication factor 1), printing the command.
    ///
    /// # Errors
    /// When `kafka-topics` fails, e.g. the topic exists or the broker is down.
    pub async fn create_topic(&self, bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let partitions = partitions.to_string();
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
            "1",
        ];
        eprintln!("$ scripts/kafka.sh {}", args.join(" "));
        self.kafka(&args).await.map(drop)
    }
}

/// The producer, running for the whole experiment.
pub enum ProducerProcess {
    Local { child: Child, log: PathBuf },
    Compose { root: PathBuf, compose: Vec<String> },
}

/// What the producer reported when it stopped.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ProducerSummary {
    pub acked: u64,
    pub acked_new_orders: u64,
    pub failed: u64,
}

impl ProducerProcess {
    /// Starts the release `order-producer` at `rate` (local), or the compose service with `PRODUCER_RATE`.
    ///
    /// # Errors
    /// When the process or container cannot be started.
    pub async fn start(scripts: &Scripts, compose: Option<Vec<String>>, rate: f64, log: &Path) -> anyhow::Result<Self> {
        match compose {
            None => {
                let binary = scripts.root.join("target/release/order-producer");
                let file = std::fs::File::create(log).context("producer log")?;
                eprintln!("$ {} --rate {rate} --customers 100 --seed 7  (log: {})", binary.display(), log.display());
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
                    .envs(scripts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .stdin(Stdio::null())
                    .stdout(file.try_clone()?)
                    .stderr(file)
                    .kill_on_drop(true)
                    .spawn()
                    .context("cannot start order-producer (cargo build --release first)")?;
                Ok(Self::Local { child, log: log.to_owned() })
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
                Ok(Self::Compose { root: scripts.root.clone(), compose })
            }
        }
    }

    /// Stops the producer with SIGTERM (it flushes) and reads its summary.
    ///
    /// # Errors
    /// When it does not stop within 60 s or prints no summary.
    pub async fn stop(self) -> anyhow::Result<ProducerSummary> {
        let text = match self {
            Self::Local { mut child, log } => {
                let pid = child.id().context("producer already exited")?;
                Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
                tokio::time::timeout(Duration::from_secs(60), child.wait())
                    .await
                    .context("producer did not stop")??;
                std::fs::read_to_string(&log)?
            }
            Self::Compose { root, compose } => {
                let run = |args: &[&str]| {
                    let mut c = Command::new(&compose[0]);
                    c.args(&compose[1..]).args(args).current_dir(&root);
                    c
                };
                run(&["stop", "-t", "60", "order-producer"]).status().await?;
                let out = run(&["logs", "--no-color", "order-producer"]).output().await?;
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        };
        ProducerSummary::from_log(&text).context("the producer printed no summary")
    }
}

impl ProducerSummary {
    /// The figures of the last `producer_summary` line in a producer's log.
    pub fn from_log(text: &str) -> Option<Self> {
        let line = text.lines().rev().find(|l| l.contains("producer_summary"))?;
        let field = |name: &str| -> u64 {
            line.split(&format!(" {name}="))
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Some(Self { acked: field("acked"), acked_new_orders: field("acked_new_orders"), failed: field("failed") })
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
