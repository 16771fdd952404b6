//! Where the replicas are counted and changed: `scripts/scale.sh`, the one place that starts and stops consumers
//! on either stack (local processes, or `docker compose up -d --no-recreate --scale order-consumer=N`).

use std::path::PathBuf;

use tokio::process::Command;

use crate::config::Stack;

/// Why the replicas could not be counted or changed; the count is held.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot run {script}: {source}")]
    Spawn { script: String, source: std::io::Error },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("{command} printed '{output}', not a count")]
    NotACount { command: String, output: String },
}

pub struct Backend {
    scale_sh: PathBuf,
    stack: Stack,
}

impl Backend {
    pub fn new(scripts_dir: PathBuf, stack: Stack) -> Self {
        Self { scale_sh: scripts_dir.join("scale.sh"), stack }
    }

    pub fn stack(&self) -> Stack {
        self.stack
    }

    /// The consumers running now.
    ///
    /// # Errors
    /// `scale.sh count` failed or printed something else than a number.
    pub async fn count(&self) -> Result<u32, BackendError> {
        let output = self.scale(&["count"]).await?;
        let last = output.lines().last().unwrap_or_default().trim().to_owned();
        last.parse().map_err(|_| BackendError::NotACount { command: self.describe(&["count"]), output: last })
    }

    /// Runs `replicas` consumers: starts or stops the difference (a consumer stopped commits and leaves first).
    ///
    /// # Errors
    /// `scale.sh N` failed.
    pub async fn set(&self, replicas: u32) -> Result<(), BackendError> {
        self.scale(&[&replicas.to_string()]).await.map(drop)
    }

    fn describe(&self, args: &[&str]) -> String {
        format!("{} --stack {} {}", self.scale_sh.display(), self.stack.as_str(), args.join(" "))
    }

    async fn scale(&self, args: &[&str]) -> Result<String, BackendError> {
        let output = Command::new(&self.scale_sh)
            .args(["--stack", self.stack.as_str()])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|source| BackendError::Spawn { script: self.scale_sh.display().to_string(), source })?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stderr.lines() {
            tracing::debug!(event = "scale_sh", "{line}");
        }
        if !output.status.success() {
            let last = stderr.lines().last().unwrap_or_default().to_owned();
            return Err(BackendError::Failed { command: self.describe(args), stderr: last });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}
