//! A child process the harness starts (a consumer, a producer), stopped and reaped here, with what the kernel
//! counted for it: the CPU time it used, from `wait4(2)`, so the figure covers its whole life, and its peak resident
//! set, the high-water mark `VmHWM` of `/proc/<pid>/status` read at every look while it runs (every 10 ms while
//! waiting for it to exit). Not `wait4`'s `ru_maxrss`: a child keeps the high-water mark of the memory it was
//! started from, so every process started here would count at least this process's own resident set (about
//! 16 MiB, seen in the first run of this code as one figure repeated across producers and consumers).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How often a wait looks whether the process has exited.
const POLL: Duration = Duration::from_millis(10);

/// What the process left when it exited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exit {
    /// `wait4`'s status word: 0 for a clean exit.
    pub status: i32,
    /// The largest resident set it had, KiB: its `VmHWM` at the last look before it exited (0 if never seen).
    pub peak_rss_kib: u64,
    /// User plus system CPU time, seconds.
    pub cpu_s: f64,
}

impl Exit {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// The exit code, when it exited rather than being killed by a signal.
    pub fn code(&self) -> Option<i32> {
        libc::WIFEXITED(self.status).then(|| libc::WEXITSTATUS(self.status))
    }

    /// The signal that killed it, if one did.
    pub fn signal(&self) -> Option<i32> {
        libc::WIFSIGNALED(self.status).then(|| libc::WTERMSIG(self.status))
    }

    /// The exit code, or the signal that ended it, as a shell says it.
    pub fn describe(&self) -> String {
        if libc::WIFEXITED(self.status) {
            format!("exit status {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("wait status {}", self.status)
        }
    }
}

/// A running child. Dropped while it still runs, it is SIGKILLed and reaped.
#[derive(Debug)]
pub struct Process {
    /// What to call it in messages (`the consumers of group1`, `consumer c2`).
    pub name: String,
    child: Child,
    exit: Option<Exit>,
    /// The largest `VmHWM` seen.
    peak_kib: u64,
}

/// Resident set now and its high-water mark, KiB (`VmRSS`, `VmHWM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

impl Process {
    /// Starts `program` with `args` and `env` added to this process's environment, stdout and stderr to `log`,
    /// printing the command first (the database URL's password redacted), so it can be replayed by hand.
    ///
    /// # Errors
    /// When the log cannot be created or the program cannot be started.
    pub fn spawn(
        name: impl Into<String>,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(program);
        command.args(args).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Self::start(name, command, log)
    }

    /// Starts `command` as built by the caller (with variables removed from its environment, say), as
    /// [`Process::spawn`] does.
    ///
    /// # Errors
    /// When the log cannot be created or the program cannot be started.
    pub fn start(name: impl Into<String>, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        eprintln!("$ {} >{} 2>&1 &", shown(&command), log.display());
        let file = std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {program} (cargo build first)"))?;
        Ok(Self { name: name.into(), child, exit: None, peak_kib: 0 })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its memory now; `None` once it has exited.
    pub fn memory(&mut self) -> Option<Memory> {
        if self.exit.is_some() {
            return None;
        }
        let memory = memory_of(self.pid())?;
        self.peak_kib = self.peak_kib.max(memory.peak_kib);
        Some(memory)
    }

    /// Reaps it if it has exited, without waiting.
    ///
    /// # Errors
    /// When `wait4` fails (it was reaped elsewhere).
    pub fn try_exit(&mut self) -> anyhow::Result<Option<Exit>> {
        if self.exit.is_none() {
            self.memory();
            self.exit =
                reap(self.pid(), false)?.map(|(status, cpu_s)| Exit { status, peak_rss_kib: self.peak_kib, cpu_s });
        }
        Ok(self.exit)
    }

    /// Waits up to `timeout` for it to exit; `None` when it still runs.
    ///
    /// # Errors
    /// When `wait4` fails.
    pub async fn wait(&mut self, timeout: Duration) -> anyhow::Result<Option<Exit>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.try_exit()? {
                return Ok(Some(exit));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// SIGTERM (a consumer writes, commits and leaves; the producer flushes and writes its summary), then
    /// [`Process::finish`].
    ///
    /// # Errors
    /// When a signal cannot be sent or `wait4` fails.
    pub async fn stop(&mut self, timeout: Duration) -> anyhow::Result<Exit> {
        if let Some(exit) = self.try_exit()? {
            return Ok(exit);
        }
        self.signal_term()?;
        self.finish(timeout).await
    }

    /// Sends SIGTERM without waiting (to stop several processes at once, then [`Process::finish`] each).
    ///
    /// # Errors
    /// When the signal cannot be sent.
    pub fn signal_term(&self) -> anyhow::Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Waits up to `timeout` for the process to exit, then SIGKILLs it, saying so.
    ///
    /// # Errors
    /// When a signal cannot be sent or `wait4` fails.
    pub async fn finish(&mut self, timeout: Duration) -> anyhow::Result<Exit> {
        if let Some(exit) = self.wait(timeout).await? {
            return Ok(exit);
        }
        eprintln!("warning: {} did not exit within {timeout:?} of SIGTERM; killing pid {}", self.name, self.pid());
        self.kill().await
    }

    /// SIGKILL: no write, no commit, no goodbye to the group.
    ///
    /// # Errors
    /// When the signal cannot be sent or `wait4` fails.
    pub async fn kill(&mut self) -> anyhow::Result<Exit> {
        if let Some(exit) = self.try_exit()? {
            return Ok(exit);
        }
        self.signal(libc::SIGKILL)?;
        match self.wait(Duration::from_secs(30)).await? {
            Some(exit) => Ok(exit),
            None => bail!("{} (pid {}) still runs 30 s after SIGKILL", self.name, self.pid()),
        }
    }

    fn signal(&self, signal: libc::c_int) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.pid()).context("pid out of range")?;
        // SAFETY: kill(2) takes plain integers; the pid is our own child, not yet reaped, so it cannot be reused.
        if unsafe { libc::kill(pid, signal) } != 0 {
            bail!("cannot signal {} (pid {pid}): {}", self.name, std::io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exit.is_none() && self.signal(libc::SIGKILL).is_ok() {
            // SIGKILL ends it promptly; reap it so no zombie is left.
            let _ = reap(self.pid(), true);
        }
    }
}

/// `command` as a shell line, its added variables first, with what may hold a secret hidden: a URL's password
/// (`DATABASE_URL`, `MIGRATION_DATABASE_URL`), and the whole value of a password or token variable (`LAB_TOKEN`) or
/// of `KAFKA_PROPERTIES` (which may carry `sasl.password`).
pub(crate) fn shown(command: &Command) -> String {
    command
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_string_lossy(), v?.to_string_lossy())))
        .map(|(k, v)| {
            if k.ends_with("_URL") {
                format!("{k}={}", shared::secret::redact_url(&v))
            } else if k.contains("PASSWORD") || k.contains("TOKEN") || k == "KAFKA_PROPERTIES" {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .chain(std::iter::once(command.get_program().to_string_lossy().into_owned()))
        .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `wait4` on our child `pid`: its status and CPU seconds once it has exited (blocking only when `block`).
fn reap(pid: u32, block: bool) -> anyhow::Result<Option<(i32, f64)>> {
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct, which wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let options = if block { 0 } else { libc::WNOHANG };
    // SAFETY: both pointers are to live locals of the right types.
    let reaped = unsafe { libc::wait4(pid, &mut status, options, &mut usage) };
    match reaped {
        0 => Ok(None),
        r if r == pid => {
            let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            Ok(Some((status, seconds(usage.ru_utime) + seconds(usage.ru_stime))))
        }
        _ => bail!("wait4({pid}): {}", std::io::Error::last_os_error()),
    }
}

/// Memory of any running process, from `/proc/<pid>/status`; `None` when it is gone.
pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    Some(Memory { rss_kib: field("VmRSS:")?, peak_kib: field("VmHWM:")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str, log: &Path) -> Process {
        Process::spawn("sh", Path::new("/bin/sh"), &["-c".into(), script.into()], &[], log).unwrap()
    }

    #[test]
    fn a_printed_command_hides_passwords() {
        let mut command = Command::new("order-consumer");
        command
            .arg("--flag")
            .env("DATABASE_URL", "postgres://orders_app:app-secret@h:5432/db")
            .env("MIGRATION_DATABASE_URL", "postgres://kafka_user:owner-secret@h:5432/db")
            .env("POSTGRES_APP_PASSWORD", "app-secret")
            .env("KAFKA_PROPERTIES", "sasl.password=kafka-secret")
            .env("BATCH_SIZE", "20")
            .env("LAB_TOKEN", "token-secret")
            .env_remove("DATABASE_PASSWORD_FILE");
        let line = shown(&command);
        assert!(!line.contains("secret"), "{line}");
        assert!(line.contains("DATABASE_URL=postgres://orders_app:***@h:5432/db"), "{line}");
        assert!(line.contains("KAFKA_PROPERTIES=*** "), "{line}");
        assert!(line.contains("LAB_TOKEN=*** "), "{line}");
        assert!(line.ends_with("order-consumer --flag"), "{line}");
    }

    #[tokio::test]
    async fn the_exit_carries_status_peak_memory_and_cpu_time() {
        let log = std::env::temp_dir().join(format!("process-test-{}.log", std::process::id()));
        let mut p = shell("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exit 3", &log);
        assert!(p.memory().is_some_and(|m| m.rss_kib > 0 && m.peak_kib >= m.rss_kib));
        let exit = p.wait(Duration::from_secs(30)).await.unwrap().expect("exits");
        assert_eq!(exit.describe(), "exit status 3");
        assert!(!exit.success());
        assert!(exit.peak_rss_kib > 0, "{exit:?}");
        assert!(exit.cpu_s > 0.0, "{exit:?}");
        assert_eq!(p.memory(), None);

        let mut p = shell("trap '' TERM; echo ready; exec sleep 30", &log);
        // Signalled before the trap is set, the shell would end on SIGTERM.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log).unwrap().contains("ready") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let exit = p.stop(Duration::from_millis(300)).await.unwrap();
        assert_eq!(exit.describe(), "killed by signal 9", "SIGTERM ignored, so SIGKILLed");

        let mut p = shell("exec sleep 30", &log);
        assert_eq!(p.stop(Duration::from_secs(10)).await.unwrap().describe(), "killed by signal 15");
        std::fs::remove_file(&log).unwrap();
    }
}
