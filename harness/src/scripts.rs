//! The project's own scripts (`scripts/scale.sh`, `partitions.sh`, `kafka.sh`, `group.sh`) run on behalf of a
//! program, with their commands printed, so a reader can replay any step by hand on either stack (`STACK=compose`
//! in the environment drives the compose stack).

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

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

    /// Raises the topic's partition count.
    pub async fn set_partitions(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        self.run("partitions.sh", &["--topic", topic, "set", &partitions.to_string()]).await.map(drop)
    }

    /// Runs one of Kafka's tools on the local stack.
    pub async fn kafka(&self, args: &[&str]) -> anyhow::Result<String> {
        self.run("kafka.sh", args).await
    }
}
