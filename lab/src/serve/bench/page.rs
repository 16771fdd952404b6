//! The lab as the measurement sees it: a real `lab serve` process on a topic, group and database of the run's own
//! ([`Page`]), one reader of its `GET /api/events` stream standing for an open page ([`Events`]), and the group
//! reduced to what the board shows ([`Board`]), read either from the coordinator or from the lab's state.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::group::GroupView;
use harness::process::{Exit, Process};
use harness::world::World;
use serde_json::Value;
use tokio::sync::watch;

use crate::serve::http::take_events;

/// How long `lab serve` may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a request to the lab may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The stream sends a state about once a second and a keep-alive every 10 s: this long without a byte is a broken
/// stream.
const SILENCE: Duration = Duration::from_secs(15);
/// How long a control may run before the page shows it done.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(90);

/// What `lab serve` is pointed at.
pub struct Target<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub group: &'a str,
    /// Carries the password: given through the environment, which [`Process`] prints redacted.
    pub database_url: &'a str,
    /// The session timeout of the consumers the lab starts.
    pub session_timeout: Option<Duration>,
    /// The lab's `--count-every`, when not its default.
    pub count_every: Option<Duration>,
}

/// A running `lab serve` (this binary), with `LOCAL_DIR` of the run's own.
pub struct Page {
    process: Process,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Page {
    /// Starts `lab serve` on a free loopback port with a new token, its `LOCAL_DIR` `local` (where its consumers are
    /// tracked), its log `log`; returns once it answers `GET /api/state`.
    ///
    /// # Errors
    /// When it cannot start, exits, or does not answer within 30 s.
    pub async fn start(repo_root: &Path, target: &Target<'_>, local: &Path, log: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("no free loopback port for lab serve")?
            .port();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let exe = std::env::current_exe().context("cannot find the lab binary itself")?;
        std::fs::create_dir_all(local).with_context(|| format!("cannot create {}", local.display()))?;
        let mut command = Command::new(exe);
        command
            .args(["serve", "--stack", "local", "--bind", &format!("127.0.0.1:{port}")])
            .env("LOCAL_DIR", local)
            .env("ROOT_DIR", repo_root)
            .env("LAB_TOKEN", &token)
            .env("KAFKA_BOOTSTRAP_SERVERS", target.bootstrap)
            .env("KAFKA_TOPIC", target.topic)
            .env("DLQ_TOPIC", format!("{}-dlq", target.topic))
            .env("CONSUMER_GROUP", target.group)
            .env("DATABASE_URL", target.database_url);
        if let Some(timeout) = target.session_timeout {
            command.args(["--session-timeout", &format!("{}ms", timeout.as_millis())]);
        }
        if let Some(every) = target.count_every {
            command.args(["--count-every", &format!("{}ms", every.as_millis())]);
        }
        let mut process = Process::start("lab serve", command, log)?;
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().context("an HTTP client")?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(exit) = process.try_exit()? {
                bail!("lab serve ended at start ({}); see {}", exit.describe(), log.display());
            }
            let answered = http.get(format!("{base}/api/state")).send().await;
            if answered.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() >= deadline {
                bail!("lab serve did not answer on {base} within {START_TIMEOUT:?}; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("==> lab serve on {base} (pid {})", process.pid());
        Ok(Self { process, base, token, http })
    }

    /// Connects one reader to `GET /api/events`, as an open page does, reading until [`Events::close`] or
    /// `at_most`.
    ///
    /// # Errors
    /// When the stream cannot be opened.
    pub async fn events(&self, at_most: Duration) -> anyhow::Result<Events> {
        let client = reqwest::Client::builder().connect_timeout(REQUEST_TIMEOUT).build().context("an HTTP client")?;
        let response = client
            .get(format!("{}/api/events", self.base))
            .send()
            .await
            .context("GET /api/events")?
            .error_for_status()
            .context("GET /api/events")?;
        let (latest, seen) = watch::channel(None);
        let (stop, stopped) = watch::channel(false);
        let count = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(read_stream(response, latest, stopped, count.clone(), at_most));
        Ok(Events { seen, count, stop, task })
    }

    /// POSTs a control with the token, as the page's buttons do; returns once the lab accepted it (202).
    ///
    /// # Errors
    /// When the lab refuses it or does not answer.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let response = self
            .http
            .post(format!("{}/api/{path}", self.base))
            .header("x-lab-token", &self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("POST /api/{path}"))?;
        let status = response.status();
        if status.as_u16() != 202 {
            let text = response.text().await.unwrap_or_default();
            bail!("POST /api/{path} {body}: the lab answered {status}: {text}");
        }
        Ok(())
    }

    /// Waits until no control runs (one runs at a time), POSTs a control, and waits until a state sampled after it
    /// shows no control running.
    ///
    /// # Errors
    /// When it is refused, or a control still runs after 90 s.
    pub async fn control(&self, events: &Events, path: &str, body: Value) -> anyhow::Result<()> {
        events
            .until(&format!("no control running before {path}"), CONTROL_TIMEOUT, |s| s.state["busy"].is_null())
            .await?;
        let sent = chrono::Utc::now().timestamp_millis();
        self.post(path, body).await?;
        events
            .until(&format!("{path} done"), CONTROL_TIMEOUT, |s| {
                s.state["at_ms"].as_i64().is_some_and(|at| at > sent) && s.state["busy"].is_null()
            })
            .await
            .map(drop)
    }

    /// Stops it (SIGTERM; SIGKILL after 30 s); returns its exit, with the CPU time it used.
    ///
    /// # Errors
    /// When it cannot be signalled or reaped.
    pub async fn stop(mut self) -> anyhow::Result<Exit> {
        self.process.stop(Duration::from_secs(30)).await
    }
}

/// One state of the stream, and when it arrived here.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// The JSON the page renders (`/api/state`'s).
    pub state: Value,
}

/// One reader of the lab's event stream: the latest state and when it came, and how many states came.
pub struct Events {
    seen: watch::Receiver<Option<Seen>>,
    count: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Option<String>>,
}

impl Events {
    /// Waits up to `timeout` for a state that satisfies `check`; returns when it arrived.
    ///
    /// # Errors
    /// When none does in time, or the stream ended.
    pub async fn until(&self, what: &str, timeout: Duration, check: impl Fn(&Seen) -> bool) -> anyhow::Result<Instant> {
        let mut seen = self.seen.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = String::from("no state yet");
        loop {
            if let Some(s) = seen.borrow_and_update().as_ref() {
                if check(s) {
                    return Ok(s.at);
                }
                last = Board::from_state(&s.state).to_string();
            }
            match tokio::time::timeout_at(deadline, seen.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("{what}: the lab's event stream ended; last state: {last}"),
                Err(_) => bail!("{what}: not shown by the lab within {timeout:?}; last state: {last}"),
            }
        }
    }

    /// The latest state.
    pub fn latest(&self) -> Option<Seen> {
        self.seen.borrow().clone()
    }

    /// Disconnects; returns how many states were read, and why the stream ended early, if it did.
    pub async fn close(self) -> (u64, Option<String>) {
        let _ = self.stop.send(true);
        let ended = self.task.await.unwrap_or_else(|e| Some(format!("the reader failed: {e}")));
        (self.count.load(Ordering::Relaxed), ended)
    }
}

/// Reads server-sent events, parsing each `state` event's JSON as the page does, until told to stop, the stream
/// ends or breaks, or `at_most` passes; returns why it ended when that was not the stop.
async fn read_stream(
    mut response: reqwest::Response,
    latest: watch::Sender<Option<Seen>>,
    mut stopped: watch::Receiver<bool>,
    count: Arc<AtomicU64>,
    at_most: Duration,
) -> Option<String> {
    let deadline = Instant::now() + at_most;
    let mut text = String::new();
    while Instant::now() < deadline {
        let chunk = tokio::select! {
            _ = stopped.wait_for(|s| *s) => return None,
            chunk = tokio::time::timeout(SILENCE, response.chunk()) => chunk,
        };
        let chunk = match chunk {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return Some("the lab closed its event stream".into()),
            Ok(Err(e)) => return Some(format!("the event stream broke: {e}")),
            Err(_) => return Some(format!("nothing on the event stream for {SILENCE:?}")),
        };
        text.push_str(&String::from_utf8_lossy(&chunk));
        for event in take_events(&mut text) {
            if event.name.as_deref() != Some("state") {
                continue;
            }
            if let Ok(state) = serde_json::from_str::<Value>(&event.data) {
                let at = Instant::now();
                count.fetch_add(1, Ordering::Relaxed);
                latest.send_replace(Some(Seen { at, state }));
            }
        }
    }
    Some(format!("read for {at_most:?}, its limit"))
}

/// The group as the board shows it: its state, and each member's partitions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Board {
    pub state: String,
    pub members: Vec<(String, Vec<i32>)>,
    pub partitions: i32,
}

impl Board {
    /// From the coordinator, for a topic of `partitions` partitions.
    pub fn from_view(view: &GroupView, partitions: i32) -> Self {
        Self {
            state: view.state.clone(),
            members: view.members.iter().map(|m| (m.client_id.clone(), m.partitions.clone())).collect(),
            partitions,
        }
    }

    /// From the lab's state JSON (`group_state`, `members`, `partitions`).
    pub fn from_state(state: &Value) -> Self {
        let members = state["members"].as_array().map_or_else(Vec::new, |members| {
            members
                .iter()
                .map(|m| {
                    let partitions = m["partitions"].as_array().map_or_else(Vec::new, |p| {
                        p.iter().filter_map(Value::as_i64).filter_map(|p| i32::try_from(p).ok()).collect()
                    });
                    (m["client_id"].as_str().unwrap_or_default().to_owned(), partitions)
                })
                .collect()
        });
        let partitions = state["partitions"].as_array().map_or(0, Vec::len);
        Self {
            state: state["group_state"].as_str().unwrap_or_default().to_owned(),
            members,
            partitions: i32::try_from(partitions).unwrap_or(i32::MAX),
        }
    }

    /// Stable, every partition owned by exactly one member.
    fn stable_and_covered(&self) -> bool {
        let mut owned: Vec<i32> = self.members.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        owned.sort_unstable();
        self.state == "Stable" && self.partitions > 0 && owned == (0..self.partitions).collect::<Vec<_>>()
    }

    /// `n` members, stable, each partition owned once: the board settled.
    pub fn settled(&self, n: usize) -> bool {
        self.members.len() == n && self.stable_and_covered()
    }

    /// The owner of `partition`.
    pub fn owner_of(&self, partition: i32) -> Option<&str> {
        self.members.iter().find(|(_, p)| p.contains(&partition)).map(|(id, _)| id.as_str())
    }

    /// Members that own no partition.
    pub fn idle(&self) -> usize {
        self.members.iter().filter(|(_, p)| p.is_empty()).count()
    }

    /// The group without `victim`, its partitions with the others, stable.
    pub fn taken_over_from(&self, victim: &str, n: usize) -> bool {
        self.settled(n) && self.members.iter().all(|(id, _)| id != victim)
    }
}

impl std::fmt::Display for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} partitions:", self.state, self.partitions)?;
        for (id, partitions) in &self.members {
            write!(f, " {}={partitions:?}", super::super::observe::short(id))?;
        }
        Ok(())
    }
}

/// Describes the group every `every` until `check` holds for it (up to `timeout`); returns when the answer that
/// showed it came, and the board it showed.
///
/// # Errors
/// When the group has not shown it in time.
pub async fn group_until(
    world: &Arc<World>,
    partitions: i32,
    every: Duration,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Board) -> bool,
) -> anyhow::Result<(Instant, Board)> {
    let deadline = Instant::now() + timeout;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let w = world.clone();
        let last = match tokio::task::spawn_blocking(move || w.group()).await {
            Ok(Ok(view)) => {
                let at = Instant::now();
                let board = Board::from_view(&view, partitions);
                if check(&board) {
                    return Ok((at, board));
                }
                board.to_string()
            }
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            bail!("{what}: the group did not show it within {timeout:?}; last seen: {last}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_reads_the_same_from_the_coordinator_and_from_the_lab_s_state() {
        let state = serde_json::json!({
            "group_state": "Stable",
            "members": [
                {"client_id": "a-h-00000001", "partitions": [0], "idle": false},
                {"client_id": "b-h-00000002", "partitions": [1, 2], "idle": false},
                {"client_id": "c-h-00000003", "partitions": [], "idle": true},
            ],
            "partitions": [{"partition": 0}, {"partition": 1}, {"partition": 2}],
        });
        let board = Board::from_state(&state);
        let view = GroupView {
            protocol: "Classic".into(),
            state: "Stable".into(),
            members: board
                .members
                .iter()
                .map(|(id, p)| harness::group::Member { client_id: id.clone(), partitions: p.clone() })
                .collect(),
        };
        assert_eq!(Board::from_view(&view, 3), board);
        assert!(board.settled(3) && !board.settled(2));
        assert_eq!((board.idle(), board.owner_of(2)), (1, Some("b-h-00000002")));
        assert!(board.taken_over_from("d-h-00000004", 3) && !board.taken_over_from("a-h-00000001", 3));
        let mut moving = board.clone();
        moving.state = "PreparingRebalance".into();
        assert!(!moving.settled(3), "a rebalance is not settled");
        let mut uncovered = board;
        uncovered.members[1].1 = vec![1];
        assert!(!uncovered.settled(3), "partition 2 has no owner");
    }
}
