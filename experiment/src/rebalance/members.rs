//! The consumer processes of one configuration. Each has a slot (`c1`, `c2`, …) that outlives restarts and an
//! incarnation per process; the client id base `{prefix}-c{slot}-i{incarnation}` makes every row's `processed_by`
//! tell both. With static membership the slot's `GROUP_INSTANCE_ID` is `{prefix}-c{slot}`, the same for every
//! incarnation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How long a SIGTERMed consumer may take to write, commit and leave.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

struct Process {
    base: String,
    child: Child,
}

/// The running consumers of one configuration.
pub struct Members {
    binary: PathBuf,
    /// Environment shared by every member (servers, topic, group, database, protocol, assignor).
    env: Vec<(String, String)>,
    logs: PathBuf,
    prefix: String,
    static_membership: bool,
    running: BTreeMap<usize, Process>,
    incarnations: BTreeMap<usize, u32>,
}

impl Members {
    pub fn new(root: &Path, env: Vec<(String, String)>, logs: PathBuf, prefix: &str, static_membership: bool) -> Self {
        Self {
            binary: root.join("target/release/order-consumer"),
            env,
            logs,
            prefix: prefix.to_owned(),
            static_membership,
            running: BTreeMap::new(),
            incarnations: BTreeMap::new(),
        }
    }

    /// Starts a new incarnation of `slot`, printing the command.
    ///
    /// # Errors
    /// When the binary cannot be started.
    pub fn start(&mut self, slot: usize) -> anyhow::Result<()> {
        let incarnation = self.incarnations.entry(slot).and_modify(|i| *i += 1).or_insert(0);
        let base = format!("{}-c{slot}-i{incarnation}", self.prefix);
        let mut own = vec![("CLIENT_ID_BASE".to_owned(), base.clone())];
        if self.static_membership {
            own.push(("GROUP_INSTANCE_ID".to_owned(), format!("{}-c{slot}", self.prefix)));
        }
        let log = self.logs.join(format!("c{slot}-i{incarnation}.log"));
        let shown: Vec<String> = self
            .env
            .iter()
            .chain(&own)
            .map(|(k, v)| {
                if k == "DATABASE_URL" { format!("{k}={}", shared::secret::redact_url(v)) } else { format!("{k}={v}") }
            })
            .collect();
        eprintln!("$ {} {} >{} 2>&1 &", shown.join(" "), self.binary.display(), log.display());
        let file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(&self.binary)
            .envs(self.env.iter().chain(&own).map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} (cargo build --release first)", self.binary.display()))?;
        self.running.insert(slot, Process { base, child });
        Ok(())
    }

    /// SIGTERM to `slot` (it writes, commits and leaves), then waits for it to exit.
    ///
    /// # Errors
    /// When the slot is not running or does not exit within 30 s (it is then SIGKILLed).
    pub async fn stop(&mut self, slot: usize) -> anyhow::Result<Duration> {
        let mut process = self.running.remove(&slot).with_context(|| format!("consumer c{slot} is not running"))?;
        let pid = process.child.id().with_context(|| format!("consumer c{slot} already exited"))?;
        eprintln!("$ kill -TERM {pid}   # c{slot}: write, commit, leave");
        let started = Instant::now();
        Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.context("kill -TERM")?;
        match tokio::time::timeout(STOP_TIMEOUT, process.child.wait()).await {
            Ok(status) => {
                status?;
                Ok(started.elapsed())
            }
            Err(_) => {
                process.child.start_kill()?;
                bail!("consumer c{slot} did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed")
            }
        }
    }

    /// SIGKILL to `slot`: no write, no commit, no goodbye to the group.
    ///
    /// # Errors
    /// When the slot is not running.
    pub async fn kill(&mut self, slot: usize) -> anyhow::Result<()> {
        let mut process = self.running.remove(&slot).with_context(|| format!("consumer c{slot} is not running"))?;
        let pid = process.child.id().with_context(|| format!("consumer c{slot} already exited"))?;
        eprintln!("$ kill -KILL {pid}   # c{slot}: no commit, no goodbye");
        process.child.start_kill()?;
        process.child.wait().await?;
        Ok(())
    }

    /// Stops every running member (SIGTERM, in slot order).
    pub async fn stop_all(&mut self) {
        let slots: Vec<usize> = self.running.keys().copied().collect();
        for slot in slots {
            if let Err(error) = self.stop(slot).await {
                eprintln!("warning: {error:#}");
            }
        }
    }

    /// Slots whose process exited on its own (a start-up failure, a crash), with the exit status.
    pub fn exited(&mut self) -> Vec<(usize, String)> {
        self.running
            .iter_mut()
            .filter_map(|(slot, p)| p.child.try_wait().ok().flatten().map(|s| (*slot, s.to_string())))
            .collect()
    }

    pub fn live_count(&self) -> usize {
        self.running.len()
    }

    /// Whether this client id (a row's `processed_by`) belongs to a running process.
    pub fn is_live(&self, client_id: &str) -> bool {
        self.running.values().any(|p| client_id.strip_prefix(&p.base).is_some_and(|rest| rest.starts_with('-')))
    }

    /// The slot (`c2`) a client id belongs to, whichever incarnation wrote it.
    pub fn slot_of(&self, client_id: &str) -> String {
        slot_of(&self.prefix, client_id).map_or_else(|| client_id.to_owned(), |slot| format!("c{slot}"))
    }

    /// The log files written so far.
    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .incarnations
            .iter()
            .flat_map(|(slot, last)| (0..=*last).map(move |i| (*slot, i)))
            .map(|(slot, i)| self.logs.join(format!("c{slot}-i{i}.log")))
            .collect();
        files.sort();
        files
    }
}

/// `{prefix}-c{slot}-i{n}-{host}-{uuid8}` → slot.
fn slot_of(prefix: &str, client_id: &str) -> Option<usize> {
    let rest = client_id.strip_prefix(prefix)?.strip_prefix("-c")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if !rest[digits.len()..].starts_with("-i") {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_survives_incarnations_and_host_names_with_digits() {
        assert_eq!(slot_of("rb1-coop", "rb1-coop-c2-i0-host-1234abcd"), Some(2));
        assert_eq!(slot_of("rb1-coop", "rb1-coop-c12-i3-c4-i1-abcdef01"), Some(12));
        assert_eq!(slot_of("rb1-coop", "rb1-coop-static-c1-i0-h-00000000"), None);
        assert_eq!(slot_of("rb1-coop", "order-consumer-h-00000000"), None);
    }
}
