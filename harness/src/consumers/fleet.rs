//! The stack's consumers: the ones a person scales (`scripts/scale.sh` is `lab scale`), and the experiment, the
//! autoscaler demo and `order-autoscaler`'s local backend with them.
//!
//! On the local stack each is an `order-consumer` process that outlives the command that started it, tracked in
//! `.local/consumers/`: `consumer-N.pid`, `consumer-N.log` and `consumer-N.metrics-addr`, numbered in start order
//! (`next` holds the last number), and registered with Prometheus' file discovery while it runs. Scaling down stops
//! the newest first. On the compose stack they are the `order-consumer` service's containers, scaled with
//! `up -d --no-recreate --scale`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{ConsumerEnv, STOP_TIMEOUT};
use crate::compose::{Compose, docker};
use crate::repo::Repo;

/// The compose service of the consumers.
const SERVICE: &str = "order-consumer";

/// One running consumer of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// `consumer-N` on the local stack, the container's short id on compose.
    pub name: String,
    /// The local process (none on compose).
    pub pid: Option<u32>,
    /// The client id it logged at start (local; compose names it by its container's host name).
    pub client_id: Option<String>,
}

/// The consumers of one stack.
#[derive(Debug, Clone)]
pub enum Fleet {
    Local(Box<Local>),
    Compose(Compose),
}

/// The local stack's consumers.
#[derive(Debug, Clone)]
pub struct Local {
    /// `.local/consumers/`.
    pub dir: PathBuf,
    binary: PathBuf,
    /// Prometheus' file-discovery folder (`.local/prometheus/targets/`).
    targets: PathBuf,
    /// What every new consumer is told, on top of the environment this process inherited.
    pub env: ConsumerEnv,
}

impl Fleet {
    /// The local stack's consumers, in `LOCAL_DIR` (default `.local/` in the repository).
    pub fn local(repo: &Repo, env: ConsumerEnv) -> Self {
        Self::local_in(repo, &repo.local(), env)
    }

    /// The local consumers tracked in `local` (a `LOCAL_DIR` of its own: `consumers/` and `prometheus/targets/`
    /// under it), as a `lab serve` started with that `LOCAL_DIR` tracks them.
    pub fn local_in(repo: &Repo, local: &Path, env: ConsumerEnv) -> Self {
        Self::Local(Box::new(Local {
            dir: local.join("consumers"),
            binary: repo.binary("order-consumer"),
            targets: local.join("prometheus/targets"),
            env,
        }))
    }

    /// The consumers running now, oldest first.
    ///
    /// # Errors
    /// When the folder or the compose stack cannot be read.
    pub async fn running(&self) -> anyhow::Result<Vec<Running>> {
        match self {
            Self::Local(local) => local.running(),
            Self::Compose(compose) => {
                let mut running = Vec::new();
                for id in compose.containers(SERVICE).await? {
                    if docker(&["inspect", "-f", "{{.State.Running}}", &id]).await? == "true" {
                        running.push(Running { name: id.chars().take(12).collect(), pid: None, client_id: None });
                    }
                }
                Ok(running)
            }
        }
    }

    /// Runs `target` consumers: starts the difference, or stops the newest (SIGTERM: each writes, commits and
    /// leaves the group; SIGKILL after 30 s).
    ///
    /// # Errors
    /// When a consumer cannot be started or stopped, or the compose stack refuses.
    pub async fn scale(&self, target: usize) -> anyhow::Result<()> {
        match self {
            Self::Local(local) => local.scale(target).await,
            Self::Compose(compose) => {
                let scale = format!("{SERVICE}={target}");
                compose.run(&["up", "-d", "--no-recreate", "--scale", &scale, SERVICE]).await
            }
        }
    }

    /// SIGKILLs the consumer with this client id (or, locally, this pid): no write, no commit, no goodbye.
    ///
    /// # Errors
    /// When no running consumer has it, or the signal cannot be sent.
    pub async fn kill(&self, id: &str) -> anyhow::Result<()> {
        match self {
            Self::Local(local) => local.kill(id),
            Self::Compose(_) => {
                let host = container_of(id)?;
                eprintln!("$ docker kill --signal KILL {host}");
                docker(&["kill", "--signal", "KILL", host]).await.map(drop)
            }
        }
    }

    /// SIGTERMs the consumer with this client id (or, locally, this pid): it writes, commits and leaves the group.
    /// Does not wait for it to exit.
    ///
    /// # Errors
    /// When no running consumer has it, or the signal cannot be sent.
    pub async fn stop(&self, id: &str) -> anyhow::Result<()> {
        match self {
            Self::Local(local) => {
                let (pid, name) = local.find(id)?;
                eprintln!("$ kill -TERM {pid}   # {name}: write, commit, leave the group");
                signal(pid, libc::SIGTERM)
            }
            Self::Compose(_) => {
                let host = container_of(id)?;
                eprintln!("$ docker stop --time 30 {host}");
                docker(&["stop", "--time", "30", host]).await.map(drop)
            }
        }
    }
}

/// The container of a compose consumer: its host name is the container's short id, and the client id is
/// order-consumer-{hostname}-{uuid8}.
fn container_of(id: &str) -> anyhow::Result<&str> {
    Ok(shared::client_id::parse(id, SERVICE)
        .with_context(|| format!("'{id}' is not a client id order-consumer-{{hostname}}-{{uuid8}}"))?
        .host)
}

impl Local {
    fn running(&self) -> anyhow::Result<Vec<Running>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.dir.display())),
        };
        let mut running = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let Some(n) = path
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_prefix("consumer-")?.strip_suffix(".pid"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let pid = std::fs::read_to_string(&path).ok().and_then(|p| p.trim().parse::<u32>().ok());
            match pid.filter(|pid| is_consumer(*pid)) {
                Some(pid) => {
                    let client_id = client_id_in(&self.dir.join(format!("consumer-{n}.log")));
                    running.push((n, Running { name: format!("consumer-{n}"), pid: Some(pid), client_id }));
                }
                None => self.forget(n),
            }
        }
        running.sort_by_key(|(n, _)| *n);
        Ok(running.into_iter().map(|(_, r)| r).collect())
    }

    async fn scale(&self, target: usize) -> anyhow::Result<()> {
        let running = self.running()?;
        for _ in running.len()..target {
            self.start()?;
        }
        for consumer in running.iter().skip(target).rev() {
            let pid = consumer.pid.context("a local consumer has a pid")?;
            eprintln!("$ kill -TERM {pid}   # {}: write, commit, leave the group", consumer.name);
            signal(pid, libc::SIGTERM)?;
            if !gone_within(pid, STOP_TIMEOUT).await {
                eprintln!("warning: {} did not exit within {STOP_TIMEOUT:?}; killing pid {pid}", consumer.name);
                signal(pid, libc::SIGKILL)?;
                gone_within(pid, Duration::from_secs(5)).await;
            }
            self.forget(number(&consumer.name));
        }
        eprintln!("==> {target} consumer(s) running");
        Ok(())
    }

    /// Starts one more consumer, detached: its own process group, so that the command that started it may end.
    fn start(&self) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt as _;
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        let next = self.dir.join("next");
        let n = std::fs::read_to_string(&next).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0) + 1;
        std::fs::write(&next, n.to_string())?;
        let log = self.dir.join(format!("consumer-{n}.log"));
        let addr_file = self.dir.join(format!("consumer-{n}.metrics-addr"));
        let _stale = std::fs::remove_file(&addr_file);
        let mut command = self.env.command(&self.binary);
        command.env("METRICS_ADDR", "127.0.0.1:0").env("METRICS_ADDR_FILE", &addr_file).process_group(0);
        let file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        eprintln!("$ {} >{} 2>&1 &", crate::process::shown(&command), log.display());
        let mut child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {} (cargo build --release first)", self.binary.display()))?;
        std::fs::write(self.dir.join(format!("consumer-{n}.pid")), child.id().to_string())?;
        eprintln!("==> started consumer {n} (pid {}, log {})", child.id(), log.display());
        // Reaped here while this process lives; once it ends, the consumer is init's to reap.
        std::thread::spawn(move || child.wait());
        self.register(n, &addr_file);
        Ok(())
    }

    /// The pid and name of the running consumer with this client id or pid.
    fn find(&self, id: &str) -> anyhow::Result<(u32, String)> {
        let consumer = self
            .running()?
            .into_iter()
            .find(|c| c.client_id.as_deref() == Some(id) || c.pid.is_some_and(|pid| pid.to_string() == id))
            .with_context(|| {
                format!("no running local consumer with client id or pid '{id}' (scripts/scale.sh status)")
            })?;
        Ok((consumer.pid.context("a local consumer has a pid")?, consumer.name))
    }

    fn kill(&self, id: &str) -> anyhow::Result<()> {
        let (pid, name) = self.find(id)?;
        eprintln!("$ kill -KILL {pid}   # {name}: no commit, no goodbye to the group");
        signal(pid, libc::SIGKILL)?;
        self.forget(number(&name));
        Ok(())
    }

    /// Writes the Prometheus target of consumer `n` once it says where its /metrics listens (up to 30 s; a
    /// consumer that never says so is only missing from Prometheus, so a warning).
    fn register(&self, n: u64, addr_file: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            match std::fs::read_to_string(addr_file) {
                Ok(addr) if !addr.trim().is_empty() => break addr.trim().to_owned(),
                _ if Instant::now() >= deadline => {
                    eprintln!(
                        "warning: consumer {n} wrote no metrics address within 30 s; Prometheus will not scrape it"
                    );
                    return;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let target = serde_json::json!([{ "targets": [addr], "labels": { "process": format!("consumer-{n}") } }]);
        let (tmp, file) = (self.target(n, "."), self.target(n, ""));
        let written = std::fs::create_dir_all(&self.targets)
            .and_then(|()| std::fs::write(&tmp, target.to_string()))
            .and_then(|()| std::fs::rename(&tmp, &file));
        if let Err(error) = written {
            eprintln!("warning: cannot write {}: {error}", file.display());
        }
    }

    fn target(&self, n: u64, hidden: &str) -> PathBuf {
        self.targets.join(format!("{hidden}{SERVICE}-consumer-{n}.json"))
    }

    /// Consumer `n` is gone: its pid file and its Prometheus target go too.
    fn forget(&self, n: u64) {
        let _gone = std::fs::remove_file(self.dir.join(format!("consumer-{n}.pid")));
        let _gone = std::fs::remove_file(self.target(n, ""));
    }
}

/// `consumer-N` → N.
fn number(name: &str) -> u64 {
    name.strip_prefix("consumer-").and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Whether `pid` is a live (not a zombie) `order-consumer`: a pid file may outlive its process, and the pid be
/// reused.
fn is_consumer(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    matches!(state, Some(s) if s != 'Z' && s != 'X') && program.ends_with(b"order-consumer")
}

/// The client id a consumer logged at start (`client_id=…`): the group view names members by client id and knows
/// no pids, so a client id taken from it is matched to a local process by the process's own word.
fn client_id_in(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let rest = &text[text.find("client_id=")? + "client_id=".len()..];
    let id: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '}' && *c != ':').collect();
    (!id.is_empty()).then_some(id)
}

fn signal(pid: u32, signal: libc::c_int) -> anyhow::Result<()> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) takes plain integers; the pid was just checked to be a live order-consumer.
    if unsafe { libc::kill(pid, signal) } != 0 {
        bail!("cannot signal pid {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `pid` is gone (or a zombie) within `timeout`.
async fn gone_within(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_consumer(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_id_is_read_from_the_first_line_that_names_it() {
        let dir = std::env::temp_dir().join(format!("fleet-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("consumer-1.log");
        std::fs::write(&log, "INFO starting\nINFO consumer{client_id=order-consumer-h-0123abcd}: joined\n").unwrap();
        assert_eq!(client_id_in(&log).as_deref(), Some("order-consumer-h-0123abcd"));
        std::fs::write(&log, "INFO starting\n").unwrap();
        assert_eq!(client_id_in(&log), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn this_test_process_is_not_a_consumer_and_a_pid_file_of_nobody_is_forgotten() {
        assert!(!is_consumer(std::process::id()));
        let dir = std::env::temp_dir().join(format!("fleet-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("consumer-4.pid"), std::process::id().to_string()).unwrap();
        let local = Local {
            dir: dir.clone(),
            binary: PathBuf::from("order-consumer"),
            targets: dir.join("targets"),
            env: ConsumerEnv::default(),
        };
        assert!(local.running().unwrap().is_empty());
        assert!(!dir.join("consumer-4.pid").exists(), "the stale pid file is removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
