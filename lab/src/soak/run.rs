//! The soak's run: N orders (default 1,000,000) at a steady rate through a topic, group and database of its own on
//! the local stack, while the group is disrupted; then it drains and reconciles, and it samples each consumer's and
//! the producer's memory once a second. Not part of the tests: at the defaults it runs for about 4 minutes and
//! loads the whole machine.
//!
//! The schedule ([`SCHEDULE`]): each step starts when the table holds that share of the orders, then waits for
//! the group to settle (the expected number of members, every partition owned by exactly one of them). Consumer
//! c1 runs from the first order to the last, so its memory curve spans the whole soak.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use shared::database::Database;

use crate::recorded::Recorder;
use harness::consumers::ConsumerEnv;
use harness::consumers::members::Members;
use harness::process::{Exit, Process, memory_of};
use harness::repo::Repo;
use harness::scripts::Scripts;
use harness::stack::Stack;
use harness::world::World;

/// Options of `lab soak`.
#[derive(Debug, Clone, clap::Args)]
pub struct SoakArgs {
    /// Orders to produce.
    #[arg(long, env = "SOAK_ORDERS", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub orders: u64,
    /// Producer orders/s, 0 = as fast as the broker takes them. With 0 the producer ends within seconds and most
    /// steps land after the last row is stored: the group settles slower than it drains a backlog (docs/soak.md).
    #[arg(long, env = "SOAK_RATE", default_value_t = 5_000)]
    pub rate: u64,
    /// How long each step may take to settle the group.
    #[arg(long, env = "SOAK_SETTLE_TIMEOUT", default_value = "90s", value_parser = humantime::parse_duration)]
    pub settle_timeout: Duration,
    /// How long the drain may take after the producer ends.
    #[arg(long, env = "SOAK_DRAIN_TIMEOUT", default_value = "300s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// Keep the topic, DLQ topic, group and database (default: deleted at the end).
    #[arg(long)]
    pub keep: bool,
    /// Kafka, as reached from this machine.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,
    /// The stack's database, as its owner; the soak creates its database beside it.
    #[command(flatten)]
    pub database: Database,
}

/// What a step does to the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run this many consumers (start new ones, or SIGTERM the newest: they commit and leave).
    Scale(usize),
    /// Raise the topic's partitions to this many (no restart).
    Partitions(i32),
    /// SIGKILL consumer c<N> (no commit, no goodbye: its partitions wait for the session timeout).
    Kill(usize),
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Scale(n) => write!(f, "scale {n}"),
            Self::Partitions(n) => write!(f, "partitions {n}"),
            Self::Kill(n) => write!(f, "kill {n}"),
        }
    }
}

/// Partitions of the topic at the start.
pub const START_PARTITIONS: i32 = 3;

/// The disruptions, in order: (percent of the orders stored, action, members after it). Starting with 1 consumer:
/// 10 % scale to 3; 25 % 6 partitions; 40 % scale to 5 (5 members on 6 partitions: all work, one owns two);
/// 55 % SIGKILL c2; 70 % scale down to 2.
pub const SCHEDULE: [(u64, Action, usize); 5] = [
    (10, Action::Scale(3), 3),
    (25, Action::Partitions(6), 3),
    (40, Action::Scale(5), 5),
    (55, Action::Kill(2), 4),
    (70, Action::Scale(2), 2),
];

/// Runs the soak; returns whether every check passed. The soak's topics, group and database are deleted at the end
/// (unless `--keep`), also when it fails or is interrupted.
///
/// # Errors
/// When the stack does not answer or the results cannot be written.
pub async fn run(args: SoakArgs, repo: &Repo) -> anyhow::Result<bool> {
    let root = repo.root.clone();
    let stack = Stack::connect(&root, &args.bootstrap_servers, args.database.clone()).await?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let id = stamp.to_lowercase();
    let out = root.join("results").join(format!("soak-{stamp}"));
    std::fs::create_dir_all(out.join("consumers")).with_context(|| format!("cannot create {}", out.display()))?;
    let names = Names { topic: format!("soak-{id}"), dlq: format!("soak-{id}-dlq"), database: format!("soak_{id}") };
    let world = World::new(&stack.bootstrap, &names.topic, &names.dlq, &names.topic, &stack.url_of(&names.database))?;
    let mut env = ConsumerEnv::new(&stack.bootstrap, &names.topic, &names.topic, &stack.url_of(&names.database));
    env.log = Some(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()));
    let mut soak = Soak {
        scripts: Scripts { root: root.clone(), env: env.vars() },
        members: Members::new(repo, env, out.join("consumers"), "soak", false),
        producer: None,
        sampled: Arc::new(Mutex::new(BTreeMap::new())),
        rec: Recorder::create(&out.join("results.txt"))?,
        started: Instant::now(),
        failures: 0,
        args,
        names,
        stack,
        world,
        out,
        stamp,
    };
    let sampler = soak.sampler()?;
    let outcome = tokio::select! {
        outcome = soak.all() => outcome,
        () = shared::shutdown::signal() => Err(anyhow::anyhow!("interrupted")),
    };
    sampler.abort();
    soak.cleanup().await;
    outcome?;
    let passed = super::report::report(soak.rec.path(), &soak.out.join("memory.csv"), &soak.out)?;
    print!("{}", std::fs::read_to_string(soak.out.join("summary.md")).unwrap_or_default());
    if soak.failures > 0 || !passed {
        eprintln!("error: {} check(s) failed; see {}", soak.failures, soak.out.join("summary.md").display());
    } else {
        eprintln!("==> soak passed; {}", soak.out.join("summary.md").display());
    }
    Ok(soak.failures == 0 && passed)
}

/// The soak's own topic, dead-letter topic and database (the group is named as the topic).
struct Names {
    topic: String,
    dlq: String,
    database: String,
}

struct Soak {
    args: SoakArgs,
    names: Names,
    stack: Stack,
    world: World,
    members: Members,
    scripts: Scripts,
    producer: Option<Process>,
    /// The processes the memory sampler reads, by label (`producer`, `consumer-1`, …).
    sampled: Arc<Mutex<BTreeMap<String, u32>>>,
    rec: Recorder,
    started: Instant,
    failures: u32,
    out: PathBuf,
    stamp: String,
}

impl Soak {
    async fn all(&mut self) -> anyhow::Result<()> {
        let a = self.args.clone();
        let planned = if a.rate > 0 { a.orders.div_ceil(a.rate) } else { 60 };
        let step_timeout = Duration::from_secs(planned + 120);
        eprintln!(
            "==> soak {}: {} orders at {} orders/s (0 = as fast as possible), planned production {planned}s",
            self.stamp, a.orders, a.rate
        );
        eprintln!(
            "==> topic {}, DLQ {}, group {}, database {}; results in {}",
            self.names.topic,
            self.names.dlq,
            self.names.topic,
            self.names.database,
            self.out.display()
        );
        for (key, value) in self.stack.machine().await? {
            self.rec.record(key, value)?;
        }
        let run = [
            ("run.time", self.stamp.clone()),
            ("run.orders", a.orders.to_string()),
            ("run.rate", a.rate.to_string()),
            ("run.start_partitions", START_PARTITIONS.to_string()),
            ("run.topic", self.names.topic.clone()),
            ("run.group", self.names.topic.clone()),
            ("run.database", self.names.database.clone()),
        ];
        for (key, value) in run {
            self.rec.record(key, value)?;
        }

        eprintln!("==> creating the topic ({START_PARTITIONS} partitions), the DLQ topic and the database");
        self.stack.create_topic(&self.names.topic, START_PARTITIONS).await?;
        self.stack.create_topic(&self.names.dlq, 1).await?;
        self.stack.create_database(&self.names.database).await?.close().await;

        self.scale(1)?;
        let settled = self.settle(1, a.settle_timeout).await;
        let settle_s = settled.with_context(|| {
            format!("consumer c1 not owning all {START_PARTITIONS} partitions after {:?}", a.settle_timeout)
        })?;
        for (key, value) in [("action", "start 1".to_owned()), ("at_s", self.elapsed()), ("rows", "0".to_owned())] {
            self.rec.record(&format!("step0.{key}"), value)?;
        }
        self.rec.record("step0.members", 1)?;
        self.rec.record("step0.settle_s", settle_s)?;

        self.start_producer()?;
        let events = self.schedule(step_timeout).await?;
        let acked = self.finish_producer(Duration::from_secs(planned * 2 + 120)).await?;

        eprintln!(
            "==> draining: waiting until the committed offsets reach the log-end offsets ({:?})",
            a.drain_timeout
        );
        let drain_start = Instant::now();
        let drained = self.wait_with_progress(a.drain_timeout, async |s| s.world.drained().unwrap_or(false)).await;
        let drain_s = if drained { drain_start.elapsed().as_secs().to_string() } else { String::new() };
        self.rec.record("run.drain_s", drain_s)?;
        self.rec.record("run.drained_at_s", self.elapsed())?;
        self.progress().await;

        if !events.is_empty() {
            eprintln!("==> measuring each step's longest stall (lab/src/measure.rs)");
            match crate::measure::longest_stall_lines(&self.world.pool, &events, Utc::now()).await {
                Ok(lines) => {
                    for (key, value) in lines {
                        self.rec.record(&key, value)?;
                    }
                }
                Err(error) => eprintln!("warning: could not measure the stalls: {error:#}"),
            }
        }
        self.reconcile(acked).await?;
        eprintln!("==> stopping the consumers (SIGTERM)");
        self.members.stop_all().await;
        self.rec.record("run.wall_s", self.elapsed())?;
        self.rec.record("run.failures", self.failures)
    }

    /// The steps of [`SCHEDULE`]; returns each step's label and when it began, for the stalls.
    async fn schedule(&mut self, step_timeout: Duration) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
        let mut events = Vec::new();
        for (n, (pct, action, members)) in SCHEDULE.into_iter().enumerate() {
            let n = n + 1;
            let want = i64::try_from(self.args.orders * pct / 100)?;
            let reached =
                self.wait_with_progress(step_timeout, async |s| s.world.rows().await.is_ok_and(|r| r >= want)).await;
            if !reached {
                let rows = self.rows().await;
                self.check(
                    "schedule_reached",
                    false,
                    format!("step {n} ({action}) waited {step_timeout:?} for {want} rows; {rows} stored"),
                )?;
                break;
            }
            eprintln!("==> step {n} at {pct}% ({want} rows): {action}");
            self.rec.record(&format!("step{n}.action"), action)?;
            self.rec.record(&format!("step{n}.at_s"), self.elapsed())?;
            events.push((format!("step{n}"), Utc::now()));
            let rows = self.rows().await;
            self.rec.record(&format!("step{n}.rows"), rows)?;
            self.rec.record(&format!("step{n}.members"), members)?;
            // Other work may take the stack down for a few seconds: each step is idempotent, so it is retried, 5
            // times at most.
            let mut attempt = 1;
            while let Err(error) = self.act(action).await {
                if attempt == 5 {
                    self.check(&format!("step{n}_ran"), false, format!("'{action}' failed 5 times: {error:#}"))?;
                    break;
                }
                eprintln!("warning: '{action}' failed (attempt {attempt} of 5): {error:#}; retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
                attempt += 1;
            }
            self.rec.record(&format!("step{n}.attempts"), attempt)?;
            match self.settle(members, self.args.settle_timeout).await {
                Some(seconds) => {
                    self.rec.record(&format!("step{n}.settle_s"), seconds)?;
                    eprintln!("==> settled after {seconds}s: {members} members, every partition owned once");
                }
                None => {
                    self.rec.record(&format!("step{n}.settle_s"), "")?;
                    let detail = format!(
                        "not {members} members owning every partition once after {:?}",
                        self.args.settle_timeout
                    );
                    self.check(&format!("step{n}_settled"), false, detail)?;
                }
            }
        }
        Ok(events)
    }

    async fn act(&mut self, action: Action) -> anyhow::Result<()> {
        match action {
            Action::Scale(n) => self.scale_to(n).await,
            Action::Partitions(n) => self.scripts.set_partitions(&self.names.topic, n).await,
            Action::Kill(slot) => {
                self.members.kill(slot).await?;
                self.refresh_sampled();
                Ok(())
            }
        }
    }

    /// Starts consumers up to `n` (new slots after the highest), or SIGTERMs the newest down to `n`.
    async fn scale_to(&mut self, n: usize) -> anyhow::Result<()> {
        while self.members.live_count() > n {
            let newest = self.members.slots().last().map(|(slot, _)| *slot).context("no consumer runs")?;
            self.members.stop(newest).await?;
        }
        self.scale(n)?;
        self.refresh_sampled();
        Ok(())
    }

    /// Starts consumers until `n` run, numbering new ones after every slot used so far.
    fn scale(&mut self, n: usize) -> anyhow::Result<()> {
        while self.members.live_count() < n {
            let used = self
                .members
                .slots()
                .iter()
                .map(|(slot, _)| *slot)
                .chain(self.members.exits().iter().map(|(slot, _)| *slot))
                .max();
            self.members.start(used.unwrap_or(0) + 1)?;
        }
        self.refresh_sampled();
        Ok(())
    }

    fn start_producer(&mut self) -> anyhow::Result<()> {
        eprintln!("==> starting the producer: {} orders at {}/s", self.args.orders, self.args.rate);
        let args: Vec<String> = [
            "--topic",
            &self.names.topic,
            "--count",
            &self.args.orders.to_string(),
            "--rate",
            &self.args.rate.to_string(),
            "--seed",
            "1",
            "--progress-interval",
            "10s",
            "--summary-file",
            &self.out.join("producer-summary.json").display().to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let env = [("KAFKA_BOOTSTRAP_SERVERS".to_owned(), self.stack.bootstrap.clone())];
        let producer = Process::spawn(
            "the producer",
            &self.stack.binary("order-producer"),
            &args,
            &env,
            &self.out.join("producer.log"),
        )?;
        self.lock_sampled().insert("producer".to_owned(), producer.pid());
        self.producer = Some(producer);
        self.rec.record("run.producer_start_s", self.elapsed())
    }

    /// Waits for the producer to finish (SIGTERM after `deadline`: it flushes and writes its summary); records its
    /// summary; returns the orders it acknowledged.
    async fn finish_producer(&mut self, deadline: Duration) -> anyhow::Result<u64> {
        eprintln!("==> waiting for the producer to finish (deadline {deadline:?})");
        let finished = self
            .wait_with_progress(deadline, async |s| {
                s.producer.as_mut().is_none_or(|p| p.try_exit().ok().flatten().is_some())
            })
            .await;
        let mut producer = self.producer.take().context("the producer was started")?;
        if !finished {
            eprintln!("warning: the producer is still running after its deadline; stopping it (SIGTERM)");
        }
        let exit = producer.stop(Duration::from_secs(30)).await?;
        self.lock_sampled().remove("producer");
        self.rec.record("run.producer_end_s", self.elapsed())?;
        self.rec.record("producer.exit_status", exit_code(&exit))?;
        let path = self.out.join("producer-summary.json");
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path).with_context(|| format!("no producer summary at {}", path.display()))?,
        )
        .with_context(|| format!("{} is not a producer summary", path.display()))?;
        for field in ["sent", "acked", "acked_new_orders", "failed", "elapsed_s", "rate"] {
            let value = summary.get(field).with_context(|| format!("{} has no {field}", path.display()))?;
            self.rec.record(&format!("producer.{field}"), value)?;
        }
        let acked = summary.get("acked_new_orders").and_then(serde_json::Value::as_u64).context("acked_new_orders")?;
        eprintln!("==> producer done ({}): {acked} orders acknowledged, {} failed", exit.describe(), summary["failed"]);
        Ok(acked)
    }

    /// The group and the table after the drain, checked: rows + dead letters = acknowledged orders, no duplicate
    /// rows, committed = log-end offsets, every partition owned by exactly one member.
    async fn reconcile(&mut self, acked: u64) -> anyhow::Result<()> {
        eprintln!("==> reconciling: the group and the table after the drain");
        match self.scripts.run("group.sh", &["--group", &self.names.topic]).await {
            Ok(view) => {
                print!("{view}");
                std::fs::write(self.out.join("group.txt"), view)?;
            }
            Err(error) => eprintln!("warning: {error:#}"),
        }
        // Every figure read in one go, retried while the stack is briefly down.
        let deadline = Instant::now() + Duration::from_secs(60);
        let seen = loop {
            match self.world.reconciliation().await {
                Ok(seen) => break seen,
                Err(error) if Instant::now() >= deadline => {
                    bail!("could not read the offsets and the table for 60 s: {error:#}")
                }
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        };
        let joined = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let acked = i64::try_from(acked)?;
        let (rows, distinct, dead_letters) = (seen.rows, seen.distinct_orders, seen.dead_letters);
        let (end, committed) = (&seen.log_end, &seen.committed);
        self.rec.record("result.acked", acked)?;
        self.rec.record("result.rows", rows)?;
        self.rec.record("result.distinct", distinct)?;
        self.rec.record("result.duplicates", seen.duplicates())?;
        self.rec.record("result.dead_letters", dead_letters)?;
        self.rec.record("result.partitions", end.len())?;
        self.rec.record("result.log_end", joined(end))?;
        self.rec.record("result.committed", joined(committed))?;
        // Not a failure: at a high rate and small N the producer can end before it sees the added partitions (it
        // refreshes its metadata every few seconds), and then they carry no orders; the summary says so.
        let empty: Vec<String> = end.iter().enumerate().filter(|(_, e)| **e == 0).map(|(p, _)| p.to_string()).collect();
        self.rec.record("result.empty_partitions", empty.join(","))?;
        if !empty.is_empty() {
            eprintln!(
                "warning: partitions {} received no orders (the producer ended before it used them)",
                empty.join(",")
            );
        }
        let detail = format!("{rows} rows + {dead_letters} dead letters vs {acked} acked orders");
        self.check("rows_plus_dead_letters_equal_acked", seen.accounts_for(acked), detail)?;
        let detail = format!("{rows} rows, {distinct} distinct order ids");
        self.check("no_duplicate_rows", seen.duplicates() == 0, detail)?;
        let drained = self.poll(Duration::from_secs(30), async |s| s.world.drained().unwrap_or(false)).await;
        let pairs = |v: &[i64]| v.iter().enumerate().map(|(p, o)| format!("{p}:{o}")).collect::<Vec<_>>().join(" ");
        let detail = format!("committed [{}] vs log-end [{}]", pairs(committed), pairs(end));
        self.check("committed_equals_log_end", drained, detail)?;
        let live = self.members.live_count();
        let owned = self.poll(Duration::from_secs(30), async |s| s.owned_once(live)).await;
        let mut partitions: Vec<i32> =
            self.world.group().map(|g| g.members.into_iter().flat_map(|m| m.partitions).collect()).unwrap_or_default();
        partitions.sort_unstable();
        let owners = partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        self.check("each_partition_owned_once", owned, format!("{live} members: {owners}"))
    }

    /// Records a check and says how it went.
    fn check(&mut self, name: &str, ok: bool, detail: String) -> anyhow::Result<()> {
        self.rec.record(&format!("check.{name}"), if ok { "pass" } else { "FAIL" })?;
        if ok {
            eprintln!("==> PASS {name}: {detail}");
        } else {
            eprintln!("warning: FAIL {name}: {detail}");
            self.failures += 1;
        }
        self.rec.record(&format!("detail.{name}"), detail)
    }

    /// Waits until the group has `members` members and each partition of the topic is owned by exactly one;
    /// returns how many whole seconds that took.
    async fn settle(&mut self, members: usize, timeout: Duration) -> Option<u64> {
        let started = Instant::now();
        self.poll(timeout, async |s| s.owned_once(members)).await.then(|| started.elapsed().as_secs())
    }

    fn owned_once(&self, members: usize) -> bool {
        let (Ok(view), Ok(partitions)) = (self.world.group(), self.world.partition_count()) else { return false };
        let mut owned: Vec<i32> = view.members.iter().flat_map(|m| m.partitions.iter().copied()).collect();
        owned.sort_unstable();
        view.members.len() == members && owned == (0..partitions).collect::<Vec<_>>()
    }

    /// Polls `done` every half second until it holds or `timeout` passes.
    async fn poll(&mut self, timeout: Duration, mut done: impl AsyncFnMut(&mut Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self).await {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Like [`Soak::poll`], once a second, printing progress every 10 s.
    async fn wait_with_progress(&mut self, timeout: Duration, mut done: impl AsyncFnMut(&mut Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut next = Instant::now() + Duration::from_secs(10);
        loop {
            if done(self).await {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            if Instant::now() >= next {
                self.progress().await;
                next = Instant::now() + Duration::from_secs(10);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn progress(&mut self) {
        let rows = self.rows().await;
        let largest = self.members.memory().iter().filter_map(|(_, _, m)| m.map(|m| m.rss_kib)).max().unwrap_or(0);
        let producer = match self.producer.as_mut().map(Process::try_exit) {
            Some(Ok(None)) => "running",
            _ => "finished",
        };
        eprintln!(
            "==> t={}s rows={rows} of {}, consumers={}, producer {producer}, largest consumer RSS {:.1} MiB",
            self.elapsed(),
            self.args.orders,
            self.members.live_count(),
            largest as f64 / 1024.0
        );
    }

    /// Rows in the soak's table, or `?` while the database does not answer.
    async fn rows(&self) -> String {
        self.world.rows().await.map_or_else(|_| "?".to_owned(), |r| r.to_string())
    }

    fn elapsed(&self) -> String {
        format!("{:.1}", self.started.elapsed().as_secs_f64())
    }

    fn lock_sampled(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u32>> {
        // A sampler that panicked holding the lock left a valid map.
        self.sampled.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The sampler follows the running consumers.
    fn refresh_sampled(&self) {
        let consumers = self.members.slots();
        let mut sampled = self.lock_sampled();
        sampled.retain(|label, _| !label.starts_with("consumer-"));
        sampled.extend(consumers.into_iter().map(|(slot, pid)| (format!("consumer-{slot}"), pid)));
    }

    /// Once a second, one `memory.csv` row per running consumer and the producer, until aborted.
    fn sampler(&self) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let path = self.out.join("memory.csv");
        let mut csv = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(csv, "time_utc,elapsed_s,label,pid,rss_kib,peak_kib")?;
        let (sampled, started) = (Arc::clone(&self.sampled), self.started);
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
                let at = started.elapsed().as_secs_f64();
                let processes = sampled.lock().map(|s| s.clone()).unwrap_or_default();
                for (label, pid) in processes {
                    if let Some(m) = memory_of(pid) {
                        if let Err(error) = writeln!(csv, "{now},{at:.1},{label},{pid},{},{}", m.rss_kib, m.peak_kib) {
                            eprintln!("warning: cannot write {}: {error}", path.display());
                            return;
                        }
                    }
                }
            }
        }))
    }

    /// Stops what still runs and, unless `--keep`, deletes the soak's group, topics and database.
    async fn cleanup(&mut self) {
        if let Some(mut producer) = self.producer.take() {
            if let Err(error) = producer.stop(Duration::from_secs(30)).await {
                eprintln!("warning: {error:#}");
            }
        }
        self.members.stop_all().await;
        self.world.pool.close().await;
        if self.args.keep {
            let n = &self.names;
            eprintln!("==> kept: topics {} and {}, group {}, database {}", n.topic, n.dlq, n.topic, n.database);
            return;
        }
        eprintln!("==> deleting the soak's topics, group and database (--keep keeps them)");
        if let Err(error) = self.delete_kafka().await {
            eprintln!("warning: {error:#}");
        }
        if let Err(error) = self.stack.drop_database(&self.names.database, Duration::from_secs(30)).await {
            eprintln!("warning: {error:#}");
        }
    }

    async fn delete_kafka(&self) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &self.stack.bootstrap).create()?;
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.delete_groups(&[&self.names.topic], &options).await? {
            result.map_err(|(g, e)| anyhow::anyhow!("group {g} not deleted: {e}"))?;
        }
        for result in admin.delete_topics(&[&self.names.topic, &self.names.dlq], &options).await? {
            result.map_err(|(t, e)| anyhow::anyhow!("topic {t} not deleted: {e}"))?;
        }
        Ok(())
    }
}

/// The exit status as a shell's `$?` gives it: the code, or 128 + the signal.
fn exit_code(exit: &Exit) -> i32 {
    exit.code().unwrap_or_else(|| 128 + exit.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_are_recorded_as_the_report_reads_them() {
        let actions: Vec<String> = SCHEDULE.iter().map(|(_, action, _)| action.to_string()).collect();
        assert_eq!(actions, ["scale 3", "partitions 6", "scale 5", "kill 2", "scale 2"]);
    }

    fn parse(args: &[&str]) -> Result<SoakArgs, String> {
        crate::parse_options(args)
    }

    #[test]
    fn options_are_checked_before_anything_runs() {
        let a = parse(&["--orders", "60000", "--rate", "2000", "--settle-timeout", "2m", "--keep"]).unwrap();
        assert_eq!(
            (a.orders, a.rate, a.settle_timeout, a.drain_timeout, a.keep),
            (60_000, 2_000, Duration::from_secs(120), Duration::from_secs(300), true)
        );
        assert!(parse(&["--orders", "0"]).unwrap_err().contains("invalid value '0' for '--orders <ORDERS>'"));
        assert!(parse(&["--rate", "fast"]).unwrap_err().contains("invalid value 'fast' for '--rate <RATE>'"));
        assert!(parse(&["--drain-timeout", "soon"]).unwrap_err().contains("invalid value 'soon'"));
        assert!(parse(&["--now"]).unwrap_err().contains("unexpected argument '--now'"));
    }

    #[test]
    fn the_exit_status_reads_as_a_shell_gives_it() {
        let exit = |status| Exit { status, peak_rss_kib: 0, cpu_s: 0.0 };
        assert_eq!(exit_code(&exit(0)), 0);
        assert_eq!(exit_code(&exit(3 << 8)), 3);
        assert_eq!(exit_code(&exit(15)), 143, "SIGTERM");
    }
}
