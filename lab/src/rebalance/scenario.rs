//! One configuration, start to finish: its own topic (6 partitions), group and database; 3 consumers and the
//! producer at a steady rate; then four events, each after a steady window and followed by a wait (with a
//! deadline) for the group to settle; then drain and reconcile. Everything measured lands in [`ConfigResult`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::configs::GroupConfig;
use super::rows;
use super::settings::BenchSettings;
use crate::measure::{self, Stall};
use harness::consumers::ConsumerEnv;
use harness::consumers::members::Members;
use harness::producer::ProducerProcess;
use harness::repo::Repo;
use harness::scripts::Scripts;
use harness::stack::Stack;
use harness::wait::wait_for;
use harness::world::World;

/// Partitions of each configuration's topic.
pub const PARTITIONS: i32 = 6;
/// Consumers running before the first event.
pub const CONSUMERS: usize = 3;
/// Delay between the first consumers' starts, so their heartbeats (every 3.3 s with the default session
/// timeout, 5 s with KIP-848) do not tick in step: in step, every member hears of a rebalance at the same moment,
/// which flatters the eager protocol.
const START_STAGGER: Duration = Duration::from_millis(1100);
/// A partition counts as flowing when its newest row is at most this old.
const RECENT_S: f64 = 1.0;
/// A partition counts as paused when its longest gap exceeds twice the baseline, and at least this (below it,
/// a busy shared machine alone makes pauses).
const PAUSE_FLOOR_S: f64 = 1.0;
/// How long the settle condition must hold without a break.
const STABLE_FOR: Duration = Duration::from_secs(2);
/// How often the settle condition is checked.
const POLL: Duration = Duration::from_millis(200);
/// Longest wait for the last orders to be stored once the producer stopped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(90);

/// What happens to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A new consumer starts.
    Join,
    /// A consumer gets SIGTERM: it writes, commits and leaves (a static member does not send LeaveGroup).
    Leave,
    /// SIGTERM, then the same consumer (same slot, same `GROUP_INSTANCE_ID`) starts again at once.
    Restart,
    /// SIGKILL: no commit, no goodbye; the group notices at the session timeout.
    Kill,
}

/// The events of every configuration, in order, with the slot each acts on: c4 joins, c4 leaves (the newest
/// first, as `scripts/scale.sh` scales down), c1 restarts, c2 is killed.
pub const EVENTS: [(EventKind, usize); 4] =
    [(EventKind::Join, 4), (EventKind::Leave, 4), (EventKind::Restart, 1), (EventKind::Kill, 2)];

/// What one event did.
#[derive(Debug, Clone, Serialize)]
pub struct EventResult {
    pub event: EventKind,
    /// The slot acted on, `c1`…`c4`.
    pub member: String,
    pub members_before: usize,
    pub members_after: usize,
    /// Whether every partition flowed again, from live members only, each live member owning one (when there are
    /// enough partitions), before the deadline.
    pub settled: bool,
    /// From the signal (or start) to that state, wall clock, ±0.2 s.
    pub settle_s: f64,
    /// Kafka or Postgres did not answer at some point between the steady window and the end of the measurement
    /// (someone else's fault test on the shared stack): the figures are not the rebalance's alone.
    pub disturbed: bool,
    /// SIGTERM to exit, for leave and restart.
    pub stop_s: Option<f64>,
    /// Longest gap on any partition in the steady window before the event.
    pub baseline_gap_s: f64,
    /// Gaps above this count as a pause: max(2 × baseline, 1 s).
    pub pause_threshold_s: f64,
    /// Per partition, the longest gap that ended after the event.
    pub gaps: BTreeMap<i32, Stall>,
    /// Slot that stored each partition's last row before the event, and after the group settled.
    pub owners_before: Vec<String>,
    pub owners_after: Vec<String>,
    /// Partitions whose slot differs after the event (a restarted slot keeping its partitions is not a move).
    pub moved: Vec<i32>,
    /// Partitions that paused (gap above the threshold) but stayed with their slot.
    pub paused_not_moved: Vec<i32>,
    /// Changes of the storing slot between consecutive rows, all partitions: counts a partition that moved away
    /// and back twice.
    pub handovers: usize,
    /// Over the affected partitions (the acted-on member's, moved or paused): the longest gap, and the sum of
    /// their gaps.
    pub max_gap_affected_s: Option<f64>,
    pub sum_gap_affected_s: f64,
    /// Longest gap on the partitions neither moved nor paused.
    pub max_gap_unaffected_s: Option<f64>,
}

/// Rows against what the producer acknowledged, after the run.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub acked_new_orders: u64,
    pub producer_failed: u64,
    pub rows: i64,
    pub distinct_orders: i64,
    pub dead_letters: i64,
    /// acked − rows − dead letters: orders acknowledged but never stored.
    pub missing: i64,
    pub log_end: Vec<i64>,
    pub committed: Vec<i64>,
    /// Every order stored once, nothing missing, committed offsets at the log end.
    pub ok: bool,
}

/// Everything measured for one configuration.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    pub name: String,
    pub label: String,
    pub config: GroupConfig,
    pub topic: String,
    pub group: String,
    pub database: String,
    /// Which attempt this is (a disturbed attempt is run again, see `--retries`).
    pub attempt: u32,
    /// Why earlier attempts were set aside.
    pub earlier_attempts: Vec<String>,
    /// From the first consumer's start to all partitions flowing.
    pub initial_settle_s: Option<f64>,
    pub events: Vec<EventResult>,
    pub verification: Option<Verification>,
    /// `partitions_lost` lines in the consumers' logs.
    pub partitions_lost_lines: usize,
    /// Why the configuration stopped early, if it did.
    pub error: Option<String>,
    pub wall_s: f64,
}

/// What every configuration shares.
pub struct Context {
    pub settings: BenchSettings,
    pub root: PathBuf,
    pub run_id: String,
    pub dir: PathBuf,
    pub stack: Stack,
}

/// Runs one configuration (`attempt` 1, 2, … gives each attempt its own names). Never fails: an error ends the
/// configuration early and is recorded in the result.
pub async fn run(ctx: &Context, config: GroupConfig, attempt: u32) -> ConfigResult {
    let started = Instant::now();
    let suffix = if attempt > 1 { format!("-a{attempt}") } else { String::new() };
    let name = format!("{}-{}{suffix}", ctx.run_id, config.name);
    let mut result = ConfigResult {
        name: config.name.to_owned(),
        label: config.label(),
        config,
        topic: name.clone(),
        group: name.clone(),
        database: name.replace('-', "_"),
        attempt,
        earlier_attempts: Vec::new(),
        initial_settle_s: None,
        events: Vec::new(),
        verification: None,
        partitions_lost_lines: 0,
        error: None,
        wall_s: 0.0,
    };
    let logs = ctx.dir.join(format!("{}{suffix}", config.name));
    let mut members = None;
    let outcome = async {
        std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
        let mut scenario = Scenario::prepare(ctx, config, &result, &logs).await?;
        let outcome = scenario.run(&mut result).await;
        members = Some(scenario.members);
        outcome
    }
    .await;
    if let Some(mut members) = members {
        members.stop_all().await;
        result.partitions_lost_lines = count_in_logs(&members.log_files(), "partitions_lost");
    }
    if let Err(error) = outcome {
        eprintln!("error: configuration {}: {error:#}", config.name);
        result.error = Some(format!("{error:#}"));
    }
    if !ctx.settings.keep {
        if let Err(error) = ctx.stack.drop_database(&result.database, Duration::from_secs(30)).await {
            eprintln!("warning: {error:#}");
        }
    }
    result.wall_s = started.elapsed().as_secs_f64();
    result
}

struct Scenario<'a> {
    ctx: &'a Context,
    world: World,
    members: Members,
    scripts: Scripts,
    producer_log: PathBuf,
    /// Kafka or Postgres failed to answer since the current event's steady window began.
    outage: bool,
}

impl<'a> Scenario<'a> {
    /// Creates the topic, the dead-letter topic and the database.
    async fn prepare(
        ctx: &'a Context,
        config: GroupConfig,
        result: &ConfigResult,
        logs: &Path,
    ) -> anyhow::Result<Self> {
        let settings = &ctx.settings;
        let dlq = format!("{}-dlq", result.topic);
        let database_url = settings.database.url_beside(&result.database);
        let env = ConsumerEnv::new(&settings.bootstrap_servers, &result.topic, &result.group, &database_url);
        let scripts = Scripts { root: ctx.root.clone(), env: env.vars() };
        for (topic, partitions) in [(&result.topic, PARTITIONS), (&dlq, 1)] {
            ctx.stack.create_topic(topic, partitions).await?;
        }
        ctx.stack.create_database(&result.database).await?.close().await;
        let world = World::new(&settings.bootstrap_servers, &result.topic, &dlq, &result.group, &database_url)?;
        let env = config.env(env, settings.session_timeout);
        // The topic name is also the prefix of every client id and instance id of this configuration.
        let repo = Repo { root: ctx.root.clone() };
        let members = Members::new(&repo, env, logs.to_owned(), &result.topic, config.static_membership);
        Ok(Self { ctx, world, members, scripts, producer_log: logs.join("producer.log"), outage: false })
    }

    async fn run(&mut self, result: &mut ConfigResult) -> anyhow::Result<()> {
        let settings = &self.ctx.settings;
        let started = Instant::now();
        for slot in 1..=CONSUMERS {
            if slot > 1 {
                tokio::time::sleep(START_STAGGER).await;
            }
            self.members.start(slot)?;
        }
        let pool = self.world.pool.clone();
        wait_for("the orders table (the consumers' migration)", Duration::from_secs(60), async || {
            rows::table_exists(&pool).await.then_some(())
        })
        .await?;
        rows::create_index(&self.world.pool).await?;
        let producer = ProducerProcess::start(&self.scripts, None, settings.rate, &self.producer_log).await?;
        let (settled, _) = self.settle(settings.settle_timeout).await?;
        if !settled {
            anyhow::bail!("the group did not settle within {:?} of starting", settings.settle_timeout);
        }
        result.initial_settle_s = Some(started.elapsed().as_secs_f64());
        eprintln!(
            "    {CONSUMERS} consumers, all {PARTITIONS} partitions flowing after {:.1} s",
            started.elapsed().as_secs_f64()
        );

        for (kind, slot) in EVENTS {
            let event = self.event(kind, slot).await?;
            eprintln!("    {}", summary_line(&event));
            result.events.push(event);
        }
        result.verification = Some(self.verify(producer).await?);
        Ok(())
    }

    /// Waits until every partition flows again from a live member and every live member stores some partition,
    /// continuously for [`STABLE_FOR`] (a group still converging fails it within that time). Returns whether that
    /// happened before `timeout`, and when the stable stretch began.
    async fn settle(&mut self, timeout: Duration) -> anyhow::Result<(bool, Duration)> {
        let start = Instant::now();
        let mut stable_since: Option<Duration> = None;
        loop {
            if let Some((slot, status)) = self.members.exited().into_iter().next() {
                anyhow::bail!("consumer c{slot} exited on its own ({status}); see its log");
            }
            let kafka_up = self.kafka_reachable();
            // A failed query (Postgres briefly down during someone else's fault test) just means "not yet".
            let settled_now = match rows::latest(&self.world.pool, PARTITIONS).await {
                Ok(latest) => {
                    let owners: BTreeSet<&str> = latest.iter().map(|l| l.client_id.as_str()).collect();
                    let expected = self.members.live_count().min(PARTITIONS as usize);
                    latest.len() == PARTITIONS as usize
                        && latest.iter().all(|l| l.age_s <= RECENT_S && self.members.is_live(&l.client_id))
                        && owners.len() == expected
                }
                Err(_) => {
                    self.outage = true;
                    false
                }
            };
            if !kafka_up {
                self.outage = true;
            }
            if settled_now {
                let since = *stable_since.get_or_insert(start.elapsed());
                if start.elapsed() - since >= STABLE_FOR {
                    return Ok((true, since));
                }
            } else {
                stable_since = None;
            }
            if start.elapsed() >= timeout {
                return Ok((false, start.elapsed()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Lets `duration` pass, checking every [`POLL`] that Kafka and Postgres answer (an outage caused by someone
    /// else's fault test must not pass for a rebalance pause).
    async fn observe(&mut self, duration: Duration) {
        let start = Instant::now();
        while start.elapsed() < duration {
            if !self.kafka_reachable() || sqlx::query("SELECT 1").execute(&self.world.pool).await.is_err() {
                self.outage = true;
            }
            tokio::time::sleep(POLL.min(duration.saturating_sub(start.elapsed()))).await;
        }
    }

    /// Whether the broker accepts a TCP connection.
    fn kafka_reachable(&self) -> bool {
        use std::net::ToSocketAddrs;
        let bootstrap = self.ctx.settings.bootstrap_servers.split(',').next().unwrap_or_default();
        bootstrap
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|addr| std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok())
    }

    async fn event(&mut self, kind: EventKind, slot: usize) -> anyhow::Result<EventResult> {
        let settings = &self.ctx.settings;
        let steady = settings.steady_window();
        eprintln!("\n  -- {kind:?} (c{slot}) after a {steady:?} steady window");
        self.outage = false;
        self.observe(steady).await;
        let pool = self.world.pool.clone();
        let at = self.world.now().await?;
        let window_start = at - chrono::Duration::from_std(steady)?;
        let before = rows::owners_at(&pool, PARTITIONS, at).await?;
        let members_before = self.members.live_count();
        let signal = Instant::now();
        let stop_s = match kind {
            EventKind::Join => {
                self.members.start(slot)?;
                None
            }
            EventKind::Leave => Some(self.members.stop(slot).await?.as_secs_f64()),
            EventKind::Restart => {
                let stopped = self.members.stop(slot).await?;
                self.members.start(slot)?;
                Some(stopped.as_secs_f64())
            }
            EventKind::Kill => {
                self.members.kill(slot).await?;
                None
            }
        };
        let settle_start = signal.elapsed();
        let (settled, settled_after) = self.settle(settings.settle_timeout).await?;
        let settle_s = (settle_start + settled_after).as_secs_f64();
        if !settled {
            eprintln!("warning: the group did not settle within {:?}; measuring anyway", settings.settle_timeout);
        }
        self.observe(settings.after).await;
        let end = self.world.now().await?;

        let baseline_gap_s =
            measure::stalls(&pool, window_start, window_start, at).await?.values().map(|g| g.gap_s).fold(0.0, f64::max);
        let gaps = measure::stalls(&pool, window_start, at, end).await?;
        let after = rows::owners_at(&pool, PARTITIONS, end).await?;
        let slot_of =
            |owner: &Option<String>| owner.as_deref().map_or_else(|| "-".to_owned(), |c| self.members.slot_of(c));
        let owners_before: Vec<String> = before.iter().map(slot_of).collect();
        let owners_after: Vec<String> = after.iter().map(slot_of).collect();
        let handovers = rows::handovers(&pool, window_start, at, end)
            .await?
            .iter()
            .filter(|h| self.members.slot_of(&h.from) != self.members.slot_of(&h.to))
            .count();
        let member = format!("c{slot}");
        let figures = Figures::new(&gaps, &owners_before, &owners_after, &member, baseline_gap_s);
        Ok(EventResult {
            event: kind,
            member,
            members_before,
            members_after: self.members.live_count(),
            settled,
            settle_s,
            disturbed: self.outage,
            stop_s,
            baseline_gap_s,
            pause_threshold_s: figures.threshold,
            gaps,
            owners_before,
            owners_after,
            moved: figures.moved,
            paused_not_moved: figures.paused_not_moved,
            handovers,
            max_gap_affected_s: figures.max_affected,
            sum_gap_affected_s: figures.sum_affected,
            max_gap_unaffected_s: figures.max_unaffected,
        })
    }

    /// Stops the producer, waits for every acknowledged order to be stored, stops the consumers (they commit),
    /// and compares rows, dead letters, committed offsets and log-end offsets.
    async fn verify(&mut self, producer: ProducerProcess) -> anyhow::Result<Verification> {
        eprintln!("\n  -- stop the producer, drain, reconcile");
        let summary = producer.stop().await?;
        let acked = i64::try_from(summary.acked_new_orders)?;
        let world = &self.world;
        let drained = wait_for("every acknowledged order stored", DRAIN_TIMEOUT, async || {
            let (rows, _) = world.row_counts().await.ok()?;
            let dead = world.dead_letters().ok()?;
            (rows + dead >= acked).then_some(())
        })
        .await;
        if let Err(error) = drained {
            eprintln!("warning: {error:#}");
        }
        self.members.stop_all().await;
        let seen = self.world.reconciliation().await?;
        let missing = acked - seen.rows - seen.dead_letters;
        let ok = seen.accounts_for(acked) && seen.duplicates() == 0 && seen.committed_to_end() && summary.failed == 0;
        eprintln!(
            "    acked {acked}, rows {} ({} distinct), dead letters {}, missing {missing}, committed = log end: {}",
            seen.rows,
            seen.distinct_orders,
            seen.dead_letters,
            seen.committed_to_end()
        );
        Ok(Verification {
            acked_new_orders: summary.acked_new_orders,
            producer_failed: summary.failed,
            rows: seen.rows,
            distinct_orders: seen.distinct_orders,
            dead_letters: seen.dead_letters,
            missing,
            log_end: seen.log_end,
            committed: seen.committed,
            ok,
        })
    }
}

impl ConfigResult {
    /// Why this attempt should be run again: an error, or an outage during an event.
    pub fn disturbance(&self) -> Option<String> {
        if let Some(error) = &self.error {
            return Some(error.clone());
        }
        let disturbed: Vec<String> =
            self.events.iter().filter(|e| e.disturbed).map(|e| format!("{:?}", e.event).to_lowercase()).collect();
        (!disturbed.is_empty()).then(|| format!("Kafka or Postgres stopped answering during: {}", disturbed.join(", ")))
    }
}

/// The figures derived from one event's gaps and owners.
struct Figures {
    threshold: f64,
    moved: Vec<i32>,
    paused_not_moved: Vec<i32>,
    max_affected: Option<f64>,
    sum_affected: f64,
    max_unaffected: Option<f64>,
}

impl Figures {
    /// `member` is the slot acted on: its partitions count as affected even when they stay (a restart).
    fn new(gaps: &BTreeMap<i32, Stall>, before: &[String], after: &[String], member: &str, baseline: f64) -> Self {
        let threshold = (2.0 * baseline).max(PAUSE_FLOOR_S);
        let gap = |p: i32| gaps.get(&p).map_or(0.0, |g| g.gap_s);
        let moved: Vec<i32> = (0..PARTITIONS).filter(|p| before.get(*p as usize) != after.get(*p as usize)).collect();
        let paused_not_moved: Vec<i32> =
            (0..PARTITIONS).filter(|p| !moved.contains(p) && gap(*p) > threshold).collect();
        let own = |p: &i32| before.get(*p as usize).is_some_and(|owner| owner == member);
        let affected: Vec<i32> =
            (0..PARTITIONS).filter(|p| own(p) || moved.contains(p) || paused_not_moved.contains(p)).collect();
        let max =
            |it: &mut dyn Iterator<Item = f64>| it.fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))));
        Self {
            threshold,
            max_affected: max(&mut affected.iter().map(|p| gap(*p))),
            sum_affected: affected.iter().map(|p| gap(*p)).sum(),
            max_unaffected: max(&mut (0..PARTITIONS).filter(|p| !affected.contains(p)).map(gap)),
            moved,
            paused_not_moved,
        }
    }
}

fn summary_line(e: &EventResult) -> String {
    format!(
        "{:?} {}: settled={} in {:.1} s; moved {:?}, paused without moving {:?}, handovers {}; longest gap affected {} \
         (sum {:.2} s), elsewhere {}, baseline {:.2} s",
        e.event,
        e.member,
        e.settled,
        e.settle_s,
        e.moved,
        e.paused_not_moved,
        e.handovers,
        e.max_gap_affected_s.map_or("-".to_owned(), |g| format!("{g:.2} s")),
        e.sum_gap_affected_s,
        e.max_gap_unaffected_s.map_or("-".to_owned(), |g| format!("{g:.2} s")),
        e.baseline_gap_s,
    )
}

/// Runs one of Kafka's tools through `scripts/kafka.sh`, printing the command first.
///
/// # Errors
/// When the tool fails.
pub async fn kafka(scripts: &Scripts, args: &[&str]) -> anyhow::Result<String> {
    eprintln!("$ scripts/kafka.sh {}", args.join(" "));
    scripts.kafka(args).await
}

fn count_in_logs(files: &[PathBuf], needle: &str) -> usize {
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).map(|text| text.matches(needle).count()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(values: &[f64]) -> BTreeMap<i32, Stall> {
        values.iter().enumerate().map(|(p, g)| (p as i32, Stall { gap_s: *g, starts_s: 0.0 })).collect()
    }

    fn slots(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn a_moved_partition_is_affected_and_a_long_pause_without_a_move_is_counted_apart() {
        let f = Figures::new(
            &gaps(&[3.0, 0.1, 2.0, 0.1, 0.1, 0.1]),
            &slots("c1 c1 c2 c2 c3 c3"),
            &slots("c4 c1 c2 c2 c3 c3"),
            "c4",
            0.2,
        );
        assert_eq!(f.threshold, 1.0);
        assert_eq!(f.moved, [0]);
        assert_eq!(f.paused_not_moved, [2]);
        assert_eq!(f.max_affected, Some(3.0));
        assert_eq!(f.sum_affected, 5.0);
        assert_eq!(f.max_unaffected, Some(0.1));
    }

    #[test]
    fn the_threshold_follows_a_noisy_baseline() {
        let f = Figures::new(&gaps(&[1.3; 6]), &slots("c1 c1 c2 c2 c3 c3"), &slots("c1 c1 c2 c2 c3 c3"), "c4", 0.7);
        assert!((f.threshold - 1.4).abs() < 1e-9);
        assert!(f.paused_not_moved.is_empty());
        assert_eq!(f.max_affected, None);
    }

    #[test]
    fn a_restarted_member_s_partitions_are_affected_even_when_they_stay() {
        let f = Figures::new(
            &gaps(&[0.4, 0.3, 0.1, 0.1, 0.1, 0.1]),
            &slots("c1 c1 c2 c2 c3 c3"),
            &slots("c1 c1 c2 c2 c3 c3"),
            "c1",
            0.2,
        );
        assert!(f.moved.is_empty() && f.paused_not_moved.is_empty());
        assert_eq!(f.max_affected, Some(0.4));
        assert!((f.sum_affected - 0.7).abs() < 1e-9);
        assert_eq!(f.max_unaffected, Some(0.1));
    }
}
