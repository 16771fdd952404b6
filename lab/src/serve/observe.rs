//! What the page shows, sampled once a second from the real sources: the group as its coordinator describes it
//! ([`harness::group`] through [`World::group`]), committed and log-end offsets and dead letters from the broker, the
//! rows from Postgres; and the event lines that say what changed.
//!
//! Rows are exact where it matters and cheap while orders flow: `SELECT processed_by, COUNT(*) FROM orders GROUP BY
//! processed_by` (one scan gives every member's rows and the total) runs when the group's committed offsets stood
//! still for a look after moving (the consumers commit an offset only after its rows are committed, so that count
//! is exact), and while they keep moving at most once per `--count-every`; while nothing is consumed the table is
//! not read at all. Between counts, each member's rate is its partitions' committed offsets per second (the
//! broker's figures, read each second anyway): a scan of a growing table every second would cost the pipeline
//! more than the page is allowed (docs/lab.md, "What it costs"). Duplicate
//! `order_id`s are 0 by the table's primary key, which is checked once (`pg_constraint`), not counted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::group::GroupView;
use harness::world::World;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use super::Lab;

/// How often the state is sampled.
pub const TICK: Duration = Duration::from_secs(1);
/// How long Postgres may take to answer one look before it is called down.
const POSTGRES_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the broker may take to accept a connection before it is called down.
const BROKER_PROBE: Duration = Duration::from_millis(500);
/// How long one sample waits for the broker's answers (the group, offsets, dead letters) before it is published
/// without them; the look goes on and a later sample uses it.
const BROKER_WAIT: Duration = Duration::from_secs(2);
/// How long a broker that accepts connections may leave a look unanswered before the page calls it down.
const BROKER_SILENT: Duration = Duration::from_secs(5);
/// Event lines kept for a page that connects late.
const LINES_KEPT: usize = 100;

/// The state the page renders (`GET /api/state`, and each `state` event of `/api/events`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct State {
    /// Unix milliseconds of this sample.
    pub at_ms: i64,
    pub stack: String,
    pub topic: String,
    pub group: String,
    /// Which of `broker` and `postgres` did not answer this second.
    pub down: Vec<&'static str>,
    /// The group's protocol (`Classic`, `Consumer`) and state (`Stable`, `PreparingRebalance`, ...).
    pub protocol: String,
    pub group_state: String,
    pub members: Vec<MemberState>,
    pub partitions: Vec<PartitionState>,
    /// The consumers the fleet runs (local: `consumer-N` with pid and client id; compose: containers).
    pub fleet: Vec<FleetMember>,
    pub producer: ProducerState,
    pub reconciliation: Reconciliation,
    /// The control running now, if any.
    pub busy: Option<String>,
    /// The autoscaler: on or off, its threshold, its last decision.
    pub autoscaler: super::autoscale::AutoscalerState,
    /// A look that failed this second, in words.
    pub errors: Vec<String>,
}

/// A member of the group as the coordinator describes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemberState {
    pub client_id: String,
    pub partitions: Vec<i32>,
    /// Owns no partition.
    pub idle: bool,
    /// Rows in `orders` it stored (`processed_by`), as of the last count.
    pub rows: i64,
    /// Records committed per second on the partitions it owns, since the look before.
    pub committed_per_s: f64,
}

/// One partition of the topic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionState {
    pub partition: i32,
    pub owner: Option<String>,
    /// The group's committed offset (-1: none yet).
    pub committed: i64,
    pub log_end: i64,
    /// Log end minus committed (the whole log when nothing is committed).
    pub lag: i64,
}

/// One consumer process or container of the fleet.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetMember {
    pub name: String,
    pub pid: Option<u32>,
    pub client_id: Option<String>,
}

/// The producer this lab runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProducerState {
    pub running: bool,
    /// Its rate while it runs, orders per second.
    pub rate: Option<f64>,
    /// New orders acknowledged by the broker, summed over the producers this lab started and stopped (read from
    /// each one's summary file when it stops).
    pub acked: u64,
    /// Producers this lab stopped.
    pub runs: u64,
}

/// Orders in against orders stored.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reconciliation {
    /// New orders the lab's stopped producers had acknowledged.
    pub acked: u64,
    /// Rows in `orders`, as of the last count.
    pub rows: i64,
    /// Unix milliseconds of that count.
    pub rows_counted_at_ms: i64,
    /// Records in the dead-letter topic.
    pub dead_letters: i64,
    /// Order ids stored more than once: 0 by the primary key on `order_id` (null when the table has none yet).
    pub duplicates: Option<i64>,
    /// Records in the topic (sum of log ends) and the group's committed offsets summed.
    pub log_end: i64,
    pub committed: i64,
    /// Every partition committed up to its log end.
    pub drained: bool,
    /// `acked == rows + dead_letters`, with nothing running and everything drained.
    pub equal: bool,
}

/// One line of what happened, in the project's words.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub at_ms: i64,
    pub text: String,
    /// A short label when the line is also a mark on the timeline (`autoscaler 1→3`, `Postgres down`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<String>,
}

/// The latest state, the lines so far, and their subscribers.
pub struct Observed {
    pub state: watch::Sender<State>,
    pub lines: broadcast::Sender<Line>,
    recent: Mutex<VecDeque<Line>>,
}

impl Observed {
    pub fn new() -> Self {
        Self { state: watch::channel(State::default()).0, lines: broadcast::channel(256).0, recent: Mutex::default() }
    }

    /// Says `text` to every page, and keeps it for pages that connect later.
    pub fn say(&self, text: impl Into<String>) {
        self.publish(Line { at_ms: now_ms(), text: text.into(), mark: None });
    }

    /// Says `text`, and marks it on the timeline with `label`.
    pub fn mark(&self, text: impl Into<String>, label: impl Into<String>) {
        self.publish(Line { at_ms: now_ms(), text: text.into(), mark: Some(label.into()) });
    }

    fn publish(&self, line: Line) {
        eprintln!("lab: {}", line.text);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= LINES_KEPT {
                recent.pop_front();
            }
            recent.push_back(line.clone());
        }
        let _ = self.lines.send(line);
    }

    /// The lines kept, oldest first.
    pub fn recent(&self) -> Vec<Line> {
        self.recent.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }
}

impl Default for Observed {
    fn default() -> Self {
        Self::new()
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `…-` and the client id's last 8 characters (the `uuid8` that tells members apart).
pub fn short(client_id: &str) -> String {
    let tail: String = client_id.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
    if tail.len() < client_id.len() { format!("…-{}", tail.trim_start_matches('-')) } else { client_id.to_owned() }
}

/// The rows as last counted, and the committed offsets they were counted after.
#[derive(Default)]
struct Counted {
    by_member: BTreeMap<String, i64>,
    total: i64,
    at_ms: i64,
    after_committed: Option<Vec<i64>>,
    at: Option<Instant>,
    /// The committed offsets of the look before, and when it was.
    seen: Option<(Vec<i64>, Instant)>,
    has_primary_key: Option<bool>,
    /// Partitions that moved, when, awaiting their stall's measure.
    pending: Vec<(i32, chrono::DateTime<chrono::Utc>, Instant)>,
}

/// Moves awaiting their stall's measure, at most.
const PENDING_KEPT: usize = 64;
/// How long after a move its stall is measured: the stall ends when the new owner stores its first row.
const STALL_AFTER: Duration = Duration::from_secs(15);
/// How far before a move a stall may have begun (a stall starts at the partition's last stored row, or the first
/// record waiting).
const STALL_BEFORE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// What the broker said this second.
struct FromBroker {
    view: anyhow::Result<GroupView>,
    partitions: Vec<(i64, i64)>,
    dead_letters: Option<i64>,
    error: Option<String>,
}

/// Samples the state every [`TICK`] until `stop`, publishing it and the lines for what changed.
pub async fn sample(lab: Arc<Lab>, mut stop: watch::Receiver<bool>) {
    let mut counted = Counted::default();
    let mut previous: Option<GroupView> = None;
    let mut asking = Asking::default();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let Some(broker) = asking.broker(&lab).await else { continue };
        let mut state = look(&lab, broker, &mut counted, &mut previous).await;
        super::autoscale::poll(&lab, &state).await;
        state.autoscaler = lab.autoscaler.state();
        lab.observed.state.send_replace(state);
    }
}

/// What one sample learnt of the broker.
enum Broker {
    Answered(FromBroker),
    /// Refused the connection, or accepted it and left a look unanswered for [`BROKER_SILENT`].
    Down(Option<String>),
}

/// The broker's blocking look (each of its calls may wait seconds while the broker stops), kept across samples so
/// that a slow look never holds the page: the connection probe runs every sample, and one look at a time is in
/// flight.
#[derive(Default)]
struct Asking {
    look: Option<(tokio::task::JoinHandle<FromBroker>, Instant)>,
    /// The broker refused a connection after the look in flight began: its answer is from before, and dropped.
    stale: bool,
}

impl Asking {
    /// The broker's answer for this sample; `None` when a look is in flight within [`BROKER_SILENT`] (the sample is
    /// skipped and the page keeps showing the last one).
    async fn broker(&mut self, lab: &Lab) -> Option<Broker> {
        if !reachable(&lab.settings.bootstrap_servers).await {
            self.stale = self.look.is_some();
            return Some(Broker::Down(None));
        }
        let (mut handle, began) = match self.look.take() {
            Some(look) => look,
            None => {
                let world = lab.world.clone();
                self.stale = false;
                (tokio::task::spawn_blocking(move || from_broker(&world)), Instant::now())
            }
        };
        match tokio::time::timeout(BROKER_WAIT, &mut handle).await {
            // A look from before the broker went away: ask again at the next sample.
            Ok(Ok(_)) if std::mem::take(&mut self.stale) => None,
            Ok(Ok(answer)) => Some(Broker::Answered(answer)),
            Ok(Err(e)) => Some(Broker::Down(Some(format!("the look at the broker failed: {e}")))),
            Err(_) => {
                self.look = Some((handle, began));
                (began.elapsed() >= BROKER_SILENT).then(|| {
                    Broker::Down(Some(format!(
                        "the broker accepts connections but has not answered for {:.0} s",
                        began.elapsed().as_secs_f64()
                    )))
                })
            }
        }
    }
}

async fn look(lab: &Lab, broker: Broker, counted: &mut Counted, previous: &mut Option<GroupView>) -> State {
    let s = &lab.settings;
    let mut state = State {
        at_ms: now_ms(),
        stack: s.stack.clone(),
        topic: s.topic.clone(),
        group: s.group.clone(),
        busy: lab.controls.busy(),
        producer: lab.controls.producer_state(),
        ..State::default()
    };
    let broker_up = matches!(broker, Broker::Answered(_));
    match broker {
        Broker::Down(why) => {
            state.down.push("broker");
            state.errors.extend(why);
        }
        Broker::Answered(b) => {
            if let Some(e) = b.error {
                state.errors.push(e);
            }
            match b.view {
                Ok(view) => {
                    if let Some(before) = previous.as_ref() {
                        for (line, moved) in changes(before, &view) {
                            if let Some(p) = moved
                                && counted.pending.len() < PENDING_KEPT
                            {
                                counted.pending.push((p, chrono::Utc::now(), Instant::now()));
                            }
                            lab.observed.say(line);
                        }
                    }
                    state.protocol = view.protocol.clone();
                    state.group_state = view.state.clone();
                    state.members = view
                        .members
                        .iter()
                        .map(|m| MemberState {
                            client_id: m.client_id.clone(),
                            partitions: m.partitions.clone(),
                            idle: m.partitions.is_empty(),
                            rows: 0,
                            committed_per_s: 0.0,
                        })
                        .collect();
                    state.partitions = b
                        .partitions
                        .iter()
                        .enumerate()
                        .map(|(p, (committed, log_end))| {
                            let p = p as i32;
                            PartitionState {
                                partition: p,
                                owner: view.owner_of(p).map(|m| m.client_id.clone()),
                                committed: *committed,
                                log_end: *log_end,
                                lag: log_end - (*committed).max(0),
                            }
                        })
                        .collect();
                    *previous = Some(view);
                }
                Err(e) => state.errors.push(format!("the group: {e:#}")),
            }
            state.reconciliation.dead_letters = b.dead_letters.unwrap_or(0);
        }
    }
    let committed: Vec<i64> = state.partitions.iter().map(|p| p.committed).collect();
    let still = counted.seen.as_ref().is_some_and(|(before, _)| before == &committed);
    if let Some((before, at)) = counted.seen.as_ref().filter(|(before, _)| before.len() == committed.len()) {
        let dt = at.elapsed().as_secs_f64().max(0.001);
        for m in &mut state.members {
            let records: i64 = m
                .partitions
                .iter()
                .filter_map(|&p| usize::try_from(p).ok())
                .filter_map(|p| Some(committed.get(p)?.max(&0) - before.get(p)?.max(&0)))
                .map(|d| d.max(0))
                .sum();
            m.committed_per_s = records as f64 / dt;
        }
    }
    if broker_up && !committed.is_empty() {
        counted.seen = Some((committed.clone(), Instant::now()));
    }
    match count_rows(lab, counted, &committed, broker_up, still).await {
        Ok(()) => {}
        Err(e) => {
            state.down.push("postgres");
            state.errors.push(format!("Postgres: {e:#}"));
        }
    }
    if counted.has_primary_key != Some(true) {
        // No table yet: nothing was stored, so nothing to measure.
        counted.pending.clear();
    } else if !state.down.contains(&"postgres") {
        measure_stalls(lab, counted).await;
    }
    for m in &mut state.members {
        m.rows = counted.by_member.get(&m.client_id).copied().unwrap_or(0);
    }
    match lab.fleet.running().await {
        Ok(fleet) => {
            state.fleet =
                fleet.into_iter().map(|r| FleetMember { name: r.name, pid: r.pid, client_id: r.client_id }).collect();
        }
        Err(e) => state.errors.push(format!("the fleet: {e:#}")),
    }
    let r = &mut state.reconciliation;
    r.acked = state.producer.acked;
    r.rows = counted.total;
    r.rows_counted_at_ms = counted.at_ms;
    r.duplicates = counted.has_primary_key.and_then(|pk| pk.then_some(0));
    r.log_end = state.partitions.iter().map(|p| p.log_end).sum();
    r.committed = state.partitions.iter().map(|p| p.committed.max(0)).sum();
    r.drained = !state.partitions.is_empty() && state.partitions.iter().all(|p| p.lag == 0);
    r.equal = r.drained
        && !state.producer.running
        && counted.after_committed.as_deref() == Some(committed.as_slice())
        && i64::try_from(r.acked).is_ok_and(|acked| acked == r.rows + r.dead_letters);
    state
}

/// The group, the offsets of every partition and the dead letters, from the broker (blocking calls).
fn from_broker(world: &World) -> FromBroker {
    let view = world.group();
    let offsets = world.partition_count().and_then(|n| Ok((world.committed(n)?, world.log_end(&world.topic, n)?)));
    let (partitions, error) = match offsets {
        Ok((committed, end)) => (committed.into_iter().zip(end).collect(), None),
        Err(e) => (Vec::new(), Some(format!("offsets of {}: {e:#}", world.topic))),
    };
    FromBroker { view, partitions, dead_letters: world.dead_letters().ok(), error }
}

/// Counts the rows again when the committed offsets moved since the last count and now stand `still` (the count is
/// then exact), or while they keep moving once `--count-every` has passed; otherwise only checks that Postgres
/// answers.
async fn count_rows(
    lab: &Lab,
    counted: &mut Counted,
    committed: &[i64],
    broker_up: bool,
    still: bool,
) -> anyhow::Result<()> {
    let pool = &lab.world.pool;
    let ping = tokio::time::timeout(POSTGRES_TIMEOUT, sqlx::query("SELECT 1").execute(pool)).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => anyhow::bail!("no answer within {POSTGRES_TIMEOUT:?}"),
    }
    if counted.has_primary_key != Some(true) {
        let pk: Option<bool> = tokio::time::timeout(
            POSTGRES_TIMEOUT,
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_attribute a
                                    ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                                 WHERE c.conrelid = to_regclass('orders') AND c.contype = 'p'
                                   AND a.attname = 'order_id' AND cardinality(c.conkey) = 1)",
            )
            .fetch_one(pool),
        )
        .await
        .ok()
        .and_then(Result::ok);
        counted.has_primary_key = pk;
    }
    let moved = !broker_up || counted.after_committed.as_deref() != Some(committed);
    let due = still || counted.at.is_none_or(|at| at.elapsed() >= lab.settings.count_every);
    if moved && due {
        let by_member = tokio::time::timeout(Duration::from_secs(30), lab.world.rows_by_consumer(None, None))
            .await
            .map_err(|_| anyhow::anyhow!("the row count took over 30 s"))??;
        counted.total = by_member.values().sum();
        counted.by_member = by_member;
        counted.at_ms = now_ms();
        counted.at = Some(Instant::now());
        counted.after_committed = broker_up.then(|| committed.to_vec());
    }
    Ok(())
}

/// Says how long each partition that moved at least [`STALL_AFTER`] ago stalled, by the experiment's one
/// definition ([`crate::measure::stalls`]: the longest stretch with a record waiting and nothing stored, ending after
/// the move). One windowed query per move, not per second.
async fn measure_stalls(lab: &Lab, counted: &mut Counted) {
    let (due, waiting): (Vec<_>, Vec<_>) =
        counted.pending.drain(..).partition(|(_, _, at)| at.elapsed() >= STALL_AFTER);
    counted.pending = waiting;
    let mut by_time: BTreeMap<chrono::DateTime<chrono::Utc>, Vec<i32>> = BTreeMap::new();
    for (p, at, _) in due {
        by_time.entry(at).or_default().push(p);
    }
    for (at, partitions) in by_time {
        let now = chrono::Utc::now();
        let stalls = tokio::time::timeout(
            Duration::from_secs(30),
            crate::measure::stalls(&lab.world.pool, at - STALL_BEFORE, at, now),
        )
        .await;
        match stalls {
            Ok(Ok(stalls)) => {
                for p in partitions {
                    match stalls.get(&p) {
                        Some(s) => lab.observed.say(format!("partition {p} stalled {:.1} s around its move", s.gap_s)),
                        None => lab.observed.say(format!("partition {p} did not stall (nothing was waiting)")),
                    }
                }
            }
            Ok(Err(e)) => lab.observed.say(format!("the stall of partitions {partitions:?} was not measured: {e:#}")),
            Err(_) => lab.observed.say(format!("the stall of partitions {partitions:?} took over 30 s to measure")),
        }
    }
}

/// Whether the first bootstrap server accepts a connection within [`BROKER_PROBE`].
pub(super) async fn reachable(servers: &str) -> bool {
    let first = servers.split(',').next().unwrap_or_default().to_owned();
    tokio::time::timeout(BROKER_PROBE, tokio::net::TcpStream::connect(first)).await.is_ok_and(|c| c.is_ok())
}

/// What changed between two looks at the group, as lines: members joining and leaving, partitions moving; with
/// each line, the partition that moved to a new owner (whose stall is then measured).
pub fn changes(before: &GroupView, after: &GroupView) -> Vec<(String, Option<i32>)> {
    let mut out: Vec<(String, Option<i32>)> = Vec::new();
    let mut lines = Vec::new();
    let mut moved = Vec::new();
    let ids = |v: &GroupView| v.members.iter().map(|m| m.client_id.clone()).collect::<Vec<_>>();
    let (old, new) = (ids(before), ids(after));
    for id in new.iter().filter(|id| !old.contains(id)) {
        lines.push(format!("{} joined the group", short(id)));
    }
    for id in old.iter().filter(|id| !new.contains(id)) {
        lines.push(format!("{} left the group", short(id)));
    }
    let owners = |v: &GroupView| -> BTreeMap<i32, String> {
        v.members.iter().flat_map(|m| m.partitions.iter().map(|p| (*p, m.client_id.clone()))).collect()
    };
    let (was, is) = (owners(before), owners(after));
    for (p, owner) in &is {
        match was.get(p) {
            Some(from) if from != owner => {
                moved.push((format!("partition {p} moved from {} to {}", short(from), short(owner)), Some(*p)));
            }
            None => moved.push((format!("partition {p} assigned to {}", short(owner)), Some(*p))),
            _ => {}
        }
    }
    for (p, from) in &was {
        if !is.contains_key(p) {
            lines.push(format!("partition {p} revoked from {} (no owner now)", short(from)));
        }
    }
    out.extend(lines.into_iter().map(|l| (l, None)));
    out.extend(moved);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::group::Member;

    fn view(members: &[(&str, &[i32])]) -> GroupView {
        GroupView {
            protocol: "Classic".into(),
            state: "Stable".into(),
            members: members.iter().map(|(id, p)| Member { client_id: (*id).into(), partitions: p.to_vec() }).collect(),
        }
    }

    #[test]
    fn a_moved_partition_is_said_from_whom_to_whom() {
        let before = view(&[("order-consumer-h-00003f2a", &[0, 2]), ("order-consumer-h-00009c1b", &[1])]);
        let after = view(&[("order-consumer-h-00009c1b", &[1, 2]), ("order-consumer-h-00000001", &[0])]);
        let lines: Vec<String> = changes(&before, &after).into_iter().map(|(l, _)| l).collect();
        assert_eq!(
            lines,
            [
                "…-00000001 joined the group",
                "…-00003f2a left the group",
                "partition 0 moved from …-00003f2a to …-00000001",
                "partition 2 moved from …-00003f2a to …-00009c1b",
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }
}
