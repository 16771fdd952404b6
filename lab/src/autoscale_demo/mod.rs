//! The autoscaler shown working (`lab autoscale-demo`, `scripts/lab.sh autoscale-demo`): one consumer holds a topic of
//! several partitions; a burst of orders with simulated work per order arrives at once; `order-autoscaler` (KEDA's
//! rule, docs/kubernetes.md) takes the group up to the partition count and never beyond, the lag drains, and once
//! the scale-down window has passed it returns the group to its minimum. Nothing is lost: the rows and dead letters
//! reconcile with what the producer had acknowledged.
//!
//! With `--stack compose` the same runs on the compose stack: the consumers are `order-consumer` containers that
//! the autoscaler starts and stops with `docker compose up -d --no-recreate --scale`, on the stack's own topic,
//! group and database, which must be fresh (the topic created with `TOPIC_PARTITIONS` partitions, no rows).
//!
//! It samples the group every second (the experiment's sampler) and writes `report.json`, `report.md` and
//! `timeline.svg` (rows/s per consumer, lag per partition, members over time, each change of the group's size
//! marked); the autoscaler's own decisions are read from its `/metrics` at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use serde::Serialize;

use harness::compose::Compose;
use harness::consumers::ConsumerEnv;
use harness::consumers::fleet::Fleet;
use harness::process::Process;
use harness::producer::ProducerSummary;
use harness::repo::Repo;
use harness::sampler::{self, Sample};
use harness::scripts::Scripts;
use harness::stack::Stack;
use harness::wait::wait_for;
use harness::world::World;

use crate::checks::Check;
use crate::timeline::Event;

/// Every option of the demonstration.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoSettings {
    /// Partitions of the demonstration's topic: the most consumers that can share the work.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,

    /// Orders in the burst, sent as fast as the broker takes them.
    #[arg(long, default_value_t = 12_000)]
    pub orders: u64,

    /// Simulated work per order in each consumer, in milliseconds (PROCESSING_DELAY_MS).
    #[arg(long = "processing-delay-ms", default_value = "5", value_parser = shared::duration::millis)]
    pub processing_delay: Duration,

    /// The autoscaler's target lag per consumer (lagThreshold).
    #[arg(long, default_value_t = 500)]
    pub lag_threshold: u64,

    /// Time between two of the autoscaler's polls (pollingInterval).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub polling_interval: Duration,

    /// The autoscaler's scale-down window (the HPA's stabilizationWindowSeconds).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub scale_down_stabilization: Duration,

    /// A quick version for the tests: 3 partitions, 6,000 orders, polls every 2 s, a 15 s window.
    #[arg(long)]
    pub short: bool,

    /// local (processes, with a topic, group and database of its own) or compose (the stack's own, fresh).
    #[arg(long, env = "STACK", default_value = "local", value_parser = ["local", "compose"])]
    pub stack: String,

    /// Folder for the report (default results/autoscale-<time>).
    #[arg(long)]
    pub results: Option<PathBuf>,

    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,

    /// Postgres as reached from this machine; the demonstration creates its own database beside this one.
    #[command(flatten)]
    pub database: shared::database::Database,
}

impl DemoSettings {
    fn effective(mut self) -> Self {
        if self.short {
            self.partitions = 3;
            self.orders = self.orders.min(6_000);
            self.polling_interval = Duration::from_secs(2);
            self.scale_down_stabilization = Duration::from_secs(15);
        }
        self
    }
}

/// What the demonstration saw.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    #[serde(skip)]
    pub dir: PathBuf,
    pub started_at: String,
    pub stack: String,
    pub topic: String,
    pub group: String,
    pub partitions: i32,
    pub orders: u64,
    pub processing_delay_ms: u64,
    pub lag_threshold: u64,
    pub polling_interval_s: f64,
    pub scale_down_stabilization_s: f64,
    /// When the burst's last order was acknowledged, seconds from the start.
    pub burst_sent_s: f64,
    pub peak_lag: i64,
    pub most_members: usize,
    /// When the group first reached the partition count.
    pub reached_partitions_s: Option<f64>,
    /// When the lag reached 0 after its peak.
    pub drained_s: Option<f64>,
    /// When the group first shrank after the drain.
    pub first_scale_down_s: Option<f64>,
    /// When the group was back at its minimum.
    pub back_to_minimum_s: Option<f64>,
    pub acked: u64,
    /// Rows, dead letters and offsets at the end (`rows`, `distinct_orders`, `dead_letters`, `log_end`,
    /// `committed` in report.json).
    #[serde(flatten)]
    pub end: harness::world::Reconciliation,
    /// The autoscaler's `order_autoscaler_decisions_total` by action, and its holds, scraped at the end.
    pub decisions: BTreeMap<String, f64>,
    pub events: Vec<Event>,
    pub checks: Vec<Check>,
    pub timeline: Vec<Sample>,
}

impl DemoReport {
    fn check(&mut self, expectation: &str, passed: bool, observed: String) {
        eprintln!("{} {expectation} (observed: {observed})", if passed { "ok  " } else { "FAIL" });
        self.checks.push(Check { phase: 0, expectation: expectation.into(), passed, observed });
    }

    pub fn failures(&self) -> usize {
        crate::checks::failures(&self.checks)
    }

    fn markdown(&self) -> String {
        let mut md = format!(
            "# Autoscaler demonstration ({} stack)\n\n{} orders at once on {} partitions, {} ms of work per order; \
             lagThreshold {}, pollingInterval {} s, scale-down window {} s. {} of {} checks passed.\n\n",
            self.stack,
            self.orders,
            self.partitions,
            self.processing_delay_ms,
            self.lag_threshold,
            self.polling_interval_s,
            self.scale_down_stabilization_s,
            self.checks.len() - self.failures(),
            self.checks.len()
        );
        md.push_str("| expectation | observed | |\n|---|---|---|\n");
        for c in &self.checks {
            let _ = writeln!(md, "| {} | {} | {} |", c.expectation, c.observed, if c.passed { "ok" } else { "FAILED" });
        }
        md.push_str("\n| the group's size changed to | at (s) |\n|---|---|\n");
        for e in &self.events {
            let _ = writeln!(md, "| {} | {:.1} |", e.name, e.at_s);
        }
        md.push_str("\n![lag and members over time](timeline.svg)\n");
        md
    }
}

/// Runs the demonstration on the local stack and writes its report.
///
/// # Errors
/// When the stack is not running, a process cannot be started, or a wait runs past its deadline. A broken
/// expectation is a failed check in the report, not an error.
pub async fn run(settings: DemoSettings, repo: &Repo) -> anyhow::Result<DemoReport> {
    let s = settings.effective();
    let root = repo.root.clone();
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let dir = s.results.clone().unwrap_or_else(|| root.join("results").join(format!("autoscale-{stamp}")));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let id = Utc::now().timestamp();
    let compose = s.stack == "compose";
    let database = format!("auto_{id}");
    let (topic, dlq, group, database_url) = if compose {
        let (topic, dlq, group) = (shared::ORDERS_TOPIC, shared::DLQ_TOPIC, shared::CONSUMER_GROUP);
        (topic.to_owned(), dlq.to_owned(), group.to_owned(), s.database.url.expose().to_owned())
    } else {
        (format!("auto-{id}"), format!("auto-{id}-dlq"), format!("auto-{id}"), s.database.url_beside(&database))
    };
    // Local consumers read all of these; compose's take PROCESSING_DELAY_MS and BATCH_SIZE through
    // docker-compose.yml, and their topic, group and database are the stack's own.
    let scripts = Scripts {
        root: root.clone(),
        env: vec![
            ("STACK".into(), s.stack.clone()),
            ("KAFKA_TOPIC".into(), topic.clone()),
            ("DLQ_TOPIC".into(), dlq.clone()),
            ("CONSUMER_GROUP".into(), group.clone()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("PROCESSING_DELAY_MS".into(), s.processing_delay.as_millis().to_string()),
            // 100 orders of work per batch: under WORK_WITHOUT_POLLING at these delays, so no pause per batch.
            ("BATCH_SIZE".into(), "100".into()),
            ("RUST_LOG".into(), "info".into()),
        ],
    };
    // The consumers this demo starts or stops itself; the autoscaler scales the same ones through scale.sh.
    let fleet = if compose {
        let knobs = ["PROCESSING_DELAY_MS", "BATCH_SIZE"];
        let env = scripts.env.iter().filter(|(k, _)| knobs.contains(&k.as_str())).cloned().collect();
        Fleet::Compose(Compose::find(&root, env)?)
    } else {
        let mut env = ConsumerEnv::new(&s.bootstrap_servers, &topic, &group, &database_url);
        env.processing_delay = Some(s.processing_delay);
        env.batch_size = Some(100);
        Fleet::local(repo, env)
    };
    fleet.scale(0).await?;
    if !compose {
        let stack = Stack::connect(&root, &s.bootstrap_servers, s.database.clone()).await?;
        stack.create_topic(&topic, s.partitions).await?;
        stack.create_topic(&dlq, 1).await?;
        stack.create_database(&database).await?.close().await;
    }
    let world = Arc::new(World::new(&s.bootstrap_servers, &topic, &dlq, &group, &database_url)?);
    if compose {
        let (partitions, rows) = (world.partition_count()?, world.row_counts().await.map(|r| r.0).unwrap_or(0));
        if partitions != s.partitions || rows != 0 {
            bail!(
                "the compose stack is not fresh ({partitions} partitions, {rows} rows; {} wanted, 0 rows): run \
                 'docker compose down -v && TOPIC_PARTITIONS={} docker compose up -d kafka postgres kafka-init' first",
                s.partitions,
                s.partitions
            );
        }
    }
    fleet.scale(1).await?;
    wait_for("the first consumer owning every partition", Duration::from_secs(60), async || {
        world.group().ok().filter(|g| g.members.len() == 1 && g.owners() == 1)
    })
    .await?;

    let metrics_file = dir.join("autoscaler.metrics-addr");
    let mut autoscaler = start_autoscaler(&s, repo, &scripts.env, &metrics_file, &dir.join("autoscaler.log"))?;

    let t0 = world.now().await?;
    let (stop_sampler, sampler) = sampler::start(Arc::clone(&world), t0);
    let summary_file = dir.join("producer-summary.json");
    burst(&s, repo, &scripts.env, &summary_file, &dir.join("producer.log")).await?;
    let burst_sent_s = (world.now().await? - t0).num_milliseconds() as f64 / 1000.0;
    let summary = ProducerSummary::read(&summary_file)?;

    // Drained, then back to one member: the window, a few polls, and the time to stop consumers.
    let budget = s.scale_down_stabilization + s.polling_interval * 4 + Duration::from_secs(120);
    let waited = wait_for("the lag drained and the group back to one member", budget, async || {
        let (rows, _) = world.row_counts().await.ok()?;
        let members = world.group().ok()?.members.len();
        (rows as u64 + world.dead_letters().ok()? as u64 >= summary.acked && members == 1).then_some(())
    })
    .await;
    // Two more samples, so that the timeline ends on the state just reached.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_sampler.send(true);
    let timeline = sampler.await.unwrap_or_default();
    let decisions = scrape_decisions(&metrics_file).await;
    eprintln!("$ kill -TERM {}   # the autoscaler", autoscaler.pid());
    autoscaler.stop(Duration::from_secs(10)).await?;
    let committed_is_log_end = wait_for("committed = log-end", Duration::from_secs(60), async || {
        world.drained().ok().filter(|drained| *drained)
    })
    .await
    .is_ok();
    fleet.scale(0).await?;

    let mut report = DemoReport {
        dir: dir.clone(),
        started_at: t0.to_rfc3339(),
        stack: s.stack.clone(),
        topic,
        group,
        partitions: s.partitions,
        orders: s.orders,
        processing_delay_ms: s.processing_delay.as_millis() as u64,
        lag_threshold: s.lag_threshold,
        polling_interval_s: s.polling_interval.as_secs_f64(),
        scale_down_stabilization_s: s.scale_down_stabilization.as_secs_f64(),
        burst_sent_s,
        peak_lag: timeline.iter().map(|t| t.lag).max().unwrap_or(0),
        most_members: timeline.iter().map(|t| t.members).max().unwrap_or(0),
        reached_partitions_s: timeline.iter().find(|t| t.members == s.partitions as usize).map(|t| t.t_s),
        drained_s: None,
        first_scale_down_s: None,
        back_to_minimum_s: None,
        acked: summary.acked,
        end: world.reconciliation().await?,
        decisions,
        events: size_changes(&timeline),
        checks: Vec::new(),
        timeline,
    };
    let peak_at = report.timeline.iter().find(|t| t.lag == report.peak_lag).map_or(0.0, |t| t.t_s);
    report.drained_s = report.timeline.iter().find(|t| t.t_s > peak_at && t.lag == 0).map(|t| t.t_s);
    let most = report.most_members;
    let top_at = report.reached_partitions_s.unwrap_or(f64::MAX);
    report.first_scale_down_s = report.timeline.iter().find(|t| t.t_s > top_at && t.members < most).map(|t| t.t_s);
    report.back_to_minimum_s = report.timeline.iter().find(|t| t.t_s > top_at && t.members == 1).map(|t| t.t_s);
    checks(&mut report, &s, waited.is_ok(), committed_is_log_end);
    write(&report)?;
    Ok(report)
}

/// Starts `order-autoscaler` with KEDA's rule for this demo, its log to `log` and its /metrics address written to
/// `metrics_file`; it scales the consumers through scripts/scale.sh with `env` (the demo's topic, group, database).
fn start_autoscaler(
    s: &DemoSettings,
    repo: &Repo,
    env: &[(String, String)],
    metrics_file: &Path,
    log: &Path,
) -> anyhow::Result<Process> {
    let mut command = std::process::Command::new(repo.binary("order-autoscaler"));
    command
        .arg(format!("--lag-threshold={}", s.lag_threshold))
        .arg("--min-replica-count=1")
        .arg(format!("--max-replica-count={}", s.partitions))
        // As the consumers' auto.offset.reset (KEDA's docs ask for the same): a partition the group has not
        // committed on yet counts its whole log, so the first poll after the burst already sees all of it.
        .arg("--offset-reset-policy=earliest")
        .arg(format!("--polling-interval={}s", s.polling_interval.as_secs()))
        .arg(format!("--scale-down-stabilization={}s", s.scale_down_stabilization.as_secs()))
        .arg("--scripts-dir")
        .arg(repo.root.join("scripts"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("KAFKA_BOOTSTRAP_SERVERS", &s.bootstrap_servers)
        .env("METRICS_ADDR_FILE", metrics_file);
    Process::start("order-autoscaler", command, log)
}

/// The burst: `--orders` orders at once, from 1,000 customers, its summary to `summary_file`.
async fn burst(
    s: &DemoSettings,
    repo: &Repo,
    env: &[(String, String)],
    summary_file: &Path,
    log: &Path,
) -> anyhow::Result<()> {
    let mut command = std::process::Command::new(repo.binary("order-producer"));
    command
        .args(["--count", &s.orders.to_string(), "--rate", "0", "--customers", "1000", "--seed", "11"])
        .arg("--summary-file")
        .arg(summary_file)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("KAFKA_BOOTSTRAP_SERVERS", &s.bootstrap_servers);
    let exit = Process::start("the producer", command, log)?.finish(Duration::from_secs(600)).await?;
    if !exit.success() {
        bail!("the producer failed ({}); see {}", exit.describe(), log.display());
    }
    Ok(())
}

/// A time of the timeline, or "never".
fn at(t: Option<f64>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| format!("{t:.1} s"))
}

fn checks(r: &mut DemoReport, s: &DemoSettings, back_in_time: bool, committed_is_log_end: bool) {
    let partitions = s.partitions as usize;
    let most = r.most_members;
    r.check(
        &format!("the autoscaler takes the group from 1 to the partition count ({partitions})"),
        r.reached_partitions_s.is_some(),
        format!("{most} members at most; {partitions} first at {}", at(r.reached_partitions_s)),
    );
    r.check("never beyond the partition count", most <= partitions, format!("{most} members at most"));
    r.check(
        "the lag drains",
        r.drained_s.is_some() && committed_is_log_end,
        format!("lag 0 at {}; committed = log-end: {committed_is_log_end}", at(r.drained_s)),
    );
    // The group may shrink only once every recommendation of its size has left the scale-down window. The last
    // sample whose lag still asked for the most consumers (ceil(lag / lagThreshold), at most the partitions) was
    // at `high`; the lag only falls after its peak, so the poll before that sample (at most one polling interval
    // earlier) asked for them too. Hence no scale-down before high + window - polling interval (less the samples'
    // second).
    let threshold = r.lag_threshold.max(1) as f64;
    let asked = |lag: i64| ((lag.max(0) as f64 / threshold).ceil() as usize).min(partitions);
    let high = r.timeline.iter().filter(|t| asked(t.lag) >= most).map(|t| t.t_s).reduce(f64::max);
    let earliest = high.map(|h| h + r.scale_down_stabilization_s - r.polling_interval_s - 1.0);
    let waited = match (r.first_scale_down_s, earliest) {
        (Some(down), Some(earliest)) => down >= earliest,
        _ => false,
    };
    r.check(
        "no scale-down before the window has passed since the lag last asked for that many consumers",
        waited,
        format!(
            "lag last asked for {most} at {}; first scale-down at {}, not before {}",
            at(high),
            at(r.first_scale_down_s),
            at(earliest)
        ),
    );
    r.check(
        "back to the minimum (1) after the window",
        back_in_time && r.back_to_minimum_s.is_some(),
        format!("1 member again at {}", at(r.back_to_minimum_s)),
    );
    let reconciled = r.end.accounts_for(r.acked as i64) && r.end.duplicates() == 0;
    r.check(
        "nothing lost: rows + dead letters = acknowledged orders, no duplicate",
        reconciled,
        format!(
            "{} rows ({} distinct) + {} dead letters; {} acknowledged",
            r.end.rows, r.end.distinct_orders, r.end.dead_letters, r.acked
        ),
    );
}

/// Every change of the group's size, as a chart mark.
fn size_changes(timeline: &[Sample]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut last = None;
    for t in timeline {
        if t.members > 0 && last != Some(t.members) {
            if last.is_some() {
                events.push(Event {
                    name: format!("{} member{}", t.members, if t.members == 1 { "" } else { "s" }),
                    at_s: t.t_s,
                    partitions_moved: Vec::new(),
                    stalls: BTreeMap::new(),
                    longest_stall_moved_s: None,
                    longest_stall_others_s: None,
                    takeover_s: None,
                });
            }
            last = Some(t.members);
        }
    }
    events
}

/// The autoscaler's decisions by action, and its holds, from its `/metrics`.
async fn scrape_decisions(addr_file: &std::path::Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(addr) = std::fs::read_to_string(addr_file) else { return out };
    let Ok(client) = reqwest::Client::builder().timeout(Duration::from_secs(5)).build() else { return out };
    let Ok(response) = client.get(format!("http://{}/metrics", addr.trim())).send().await else { return out };
    let Ok(text) = response.text().await else { return out };
    for line in text
        .lines()
        .filter(|l| l.starts_with("order_autoscaler_decisions_total") || l.starts_with("order_autoscaler_holds_total"))
    {
        if let Some((series, value)) = line.rsplit_once(' ') {
            out.insert(series.to_owned(), value.parse().unwrap_or(f64::NAN));
        }
    }
    out
}

fn write(report: &DemoReport) -> anyhow::Result<()> {
    std::fs::write(report.dir.join("report.json"), serde_json::to_string_pretty(report)?)?;
    std::fs::write(report.dir.join("report.md"), report.markdown())?;
    std::fs::write(report.dir.join("timeline.svg"), crate::chart::render(&report.timeline, &[], &report.events)?)?;
    eprintln!("report: {}", report.dir.join("report.md").display());
    Ok(())
}
