//! The local consumer processes of one run (a benchmark run, the soak, a rebalance configuration). Each has a slot
//! (`c1`, `c2`, …) that outlives restarts and an incarnation per process; the client id base
//! `{prefix}-c{slot}-i{incarnation}` makes every row's `processed_by` tell both. With static membership the slot's
//! `GROUP_INSTANCE_ID` is `{prefix}-c{slot}`, the same for every incarnation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{ConsumerEnv, STOP_TIMEOUT};
use crate::process::{Exit, Memory, Process};
use crate::repo::Repo;

struct Member {
    base: String,
    process: Process,
}

/// The running consumers of one run, and what the stopped ones left.
pub struct Members {
    binary: PathBuf,
    /// What every member is told (servers, topic, group, database, protocol, assignor).
    env: ConsumerEnv,
    logs: PathBuf,
    prefix: String,
    static_membership: bool,
    running: BTreeMap<usize, Member>,
    incarnations: BTreeMap<usize, u32>,
    exits: Vec<(usize, Exit)>,
}

impl Members {
    pub fn new(repo: &Repo, env: ConsumerEnv, logs: PathBuf, prefix: &str, static_membership: bool) -> Self {
        Self {
            binary: repo.binary("order-consumer"),
            env,
            logs,
            prefix: prefix.to_owned(),
            static_membership,
            running: BTreeMap::new(),
            incarnations: BTreeMap::new(),
            exits: Vec::new(),
        }
    }

    /// Starts a new incarnation of `slot` told the run's settings with `over`'s on top (a batch size of its own,
    /// say), printing the command.
    ///
    /// # Errors
    /// When the binary cannot be started.
    pub fn start_with(&mut self, slot: usize, over: &ConsumerEnv) -> anyhow::Result<()> {
        let incarnation = self.incarnations.entry(slot).and_modify(|i| *i += 1).or_insert(0);
        let base = format!("{}-c{slot}-i{incarnation}", self.prefix);
        let mut env = self.env.overridden_by(over);
        env.client_id_base = Some(base.clone());
        if self.static_membership {
            env.group_instance_id = Some(format!("{}-c{slot}", self.prefix));
        }
        let log = self.logs.join(format!("c{slot}-i{incarnation}.log"));
        let process = Process::start(format!("consumer c{slot}"), env.command(&self.binary), &log)?;
        self.running.insert(slot, Member { base, process });
        Ok(())
    }

    /// Starts a new incarnation of `slot`.
    ///
    /// # Errors
    /// When the binary cannot be started.
    pub fn start(&mut self, slot: usize) -> anyhow::Result<()> {
        self.start_with(slot, &ConsumerEnv::default())
    }

    /// SIGTERM to `slot` (it writes, commits and leaves), then waits for it to exit; returns how long it took.
    ///
    /// # Errors
    /// When the slot is not running or does not exit within 30 s (it is then SIGKILLed).
    pub async fn stop(&mut self, slot: usize) -> anyhow::Result<Duration> {
        let member = self.running.get(&slot).with_context(|| format!("consumer c{slot} is not running"))?;
        eprintln!("$ kill -TERM {}   # c{slot}: write, commit, leave", member.process.pid());
        member.process.signal_term()?;
        self.finish(slot).await
    }

    /// Waits for `slot`, already sent SIGTERM, to exit (SIGKILL after 30 s); returns how long it took.
    async fn finish(&mut self, slot: usize) -> anyhow::Result<Duration> {
        let mut member = self.running.remove(&slot).with_context(|| format!("consumer c{slot} is not running"))?;
        let started = Instant::now();
        let exit = member.process.finish(STOP_TIMEOUT).await?;
        let took = started.elapsed();
        self.exits.push((slot, exit));
        if took >= STOP_TIMEOUT {
            bail!("consumer c{slot} did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed");
        }
        Ok(took)
    }

    /// SIGKILL to `slot`: no write, no commit, no goodbye to the group.
    ///
    /// # Errors
    /// When the slot is not running.
    pub async fn kill(&mut self, slot: usize) -> anyhow::Result<()> {
        let mut member = self.running.remove(&slot).with_context(|| format!("consumer c{slot} is not running"))?;
        eprintln!("$ kill -KILL {}   # c{slot}: no commit, no goodbye", member.process.pid());
        let exit = member.process.kill().await?;
        self.exits.push((slot, exit));
        Ok(())
    }

    /// Stops every running member: SIGTERM to all at once (a group that loses its members one by one rebalances
    /// for each), then waits for each to exit.
    pub async fn stop_all(&mut self) {
        let slots: Vec<usize> = self.running.keys().copied().collect();
        for (slot, member) in &self.running {
            eprintln!("$ kill -TERM {}   # c{slot}: write, commit, leave", member.process.pid());
            if let Err(error) = member.process.signal_term() {
                eprintln!("warning: {error:#}");
            }
        }
        for slot in slots {
            if let Err(error) = self.finish(slot).await {
                eprintln!("warning: {error:#}");
            }
        }
    }

    /// What every stopped or killed member left, in the order they ended.
    pub fn exits(&self) -> &[(usize, Exit)] {
        &self.exits
    }

    /// The running members' slots, pids and memory now.
    pub fn memory(&mut self) -> Vec<(usize, u32, Option<Memory>)> {
        self.running.iter_mut().map(|(slot, m)| (*slot, m.process.pid(), m.process.memory())).collect()
    }

    /// The running members' slots and pids, in slot order.
    pub fn slots(&self) -> Vec<(usize, u32)> {
        self.running.iter().map(|(slot, m)| (*slot, m.process.pid())).collect()
    }

    /// Slots whose process exited on its own (a start-up failure, a crash), with the exit status.
    pub fn exited(&mut self) -> Vec<(usize, String)> {
        self.running
            .iter_mut()
            .filter_map(|(slot, m)| m.process.try_exit().ok().flatten().map(|e| (*slot, e.describe())))
            .collect()
    }

    pub fn live_count(&self) -> usize {
        self.running.len()
    }

    /// Whether this client id (a row's `processed_by`) belongs to a running process.
    pub fn is_live(&self, client_id: &str) -> bool {
        self.running.values().any(|m| client_id.strip_prefix(&m.base).is_some_and(|rest| rest.starts_with('-')))
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

/// `{prefix}-c{slot}-i{n}-{host}-{uuid8}` → slot: the client id's base is `{prefix}-c{slot}-i{n}`.
fn slot_of(prefix: &str, client_id: &str) -> Option<usize> {
    let rest = client_id.strip_prefix(prefix)?.strip_prefix("-c")?;
    let slot: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = rest[slot.len()..].strip_prefix("-i")?;
    let incarnation: String = after.chars().take_while(char::is_ascii_digit).collect();
    let base = format!("{prefix}-c{slot}-i{incarnation}");
    shared::client_id::parse(client_id, &base)?;
    slot.parse().ok()
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
