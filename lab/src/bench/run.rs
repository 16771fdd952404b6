//! The benchmark's runs, in one sitting on the local stack (nothing else should load the machine):
//! (1) the Postgres ceiling, (2) the consumer group end to end with 1, 2, 3 consumers (and 1 with its offsets stored
//! in Postgres, `OFFSET_STORE=postgres`; and the cost of metrics), (3) scaling with simulated work, (4) our producer
//! against `kafka-producer-perf-test`, (5) latency at a steady rate, (6) peak memory, (7) growth with N, (8) the
//! knobs: batch size, linger, compression, (9) the peer a user would pick instead, Kafka Connect's JDBC sink
//! ([`super::peer`]), against 1 and 3 consumers, (10) the consumer's write path against the others Postgres offers
//! ([`super::write_paths`]). Every figure goes to `results.txt` as it is measured
//! ([`crate::recorded::Recorder`]); the report ([`super::report`]) is written from that file at the end.
//!
//! Every run has a topic, group and database of its own (`bench-<id>-…`, `bench_<id>_…`); the databases are dropped
//! at the end, the topics kept.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use shared::database::Database;
use sqlx::PgPool;

use super::peer;
use crate::recorded::Recorder;
use harness::consumers::ConsumerEnv;
use harness::consumers::members::Members;
use harness::process::Process;
use harness::repo::Repo;
use harness::stack::Stack;
use harness::world::World;

/// Options of `lab bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Orders for the producer, ceiling and group runs.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub orders: u64,
    /// A quick version with small N that checks the benchmark works; writes results/ only, not the doc.
    #[arg(long)]
    pub small: bool,
    /// Only the producer and the consumer group with 1, 2, 3 consumers (results/ only, not the doc).
    #[arg(long, conflicts_with_all = ["latency_only", "peer_only"])]
    pub group_only: bool,
    /// Only the producer and the peer: Kafka Connect's JDBC sink against 1 and 3 consumers, each run of ours paired
    /// with a ceiling run (results/ only, not the doc).
    #[arg(long, conflicts_with = "latency_only")]
    pub peer_only: bool,
    /// Only the consumer's write path against the others Postgres offers, the database alone, each run paired with
    /// a ceiling run (results/ only, not the doc).
    #[arg(long, conflicts_with_all = ["latency_only", "peer_only", "group_only"])]
    pub write_paths: bool,
    /// Only the latency runs: 10 at 1,000 orders/s and one at 10,000 (results/ only, not the doc).
    #[arg(long)]
    pub latency_only: bool,
    /// Also write the Markdown report here, its JSON beside it (`--doc docs/benchmarks.md` rewrites the docs' page);
    /// without it a full run's report is `bench.md` in its results folder and no doc is touched.
    #[arg(long)]
    pub doc: Option<PathBuf>,
    /// Kafka, as reached from this machine.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,
    /// The stack's database, as its owner; the benchmark creates its databases beside it.
    #[command(flatten)]
    pub database: Database,
}

/// How much of each measurement a run does.
#[derive(Debug, Clone)]
struct Plan {
    orders: u64,
    growth: Vec<u64>,
    latency_rate: u64,
    latency_seconds: u64,
    latency_runs: u32,
    high_rate: u64,
    high_rate_seconds: u64,
    eff_orders: u64,
    eff_delay_ms: u64,
    wide_customers: u64,
    batch_sizes: Vec<u64>,
    lingers: Vec<u64>,
    compressions: Vec<&'static str>,
    knob_orders: u64,
    knob_latency_seconds: u64,
    /// Producer figures swing by a third between runs on two shared cores: each producer runs this many times,
    /// alternating with the other, and the median counts.
    producer_runs: u32,
    metrics_cost_runs: u32,
    /// The figures held against the ceiling are ratios of pairs, a ceiling run right before each consumer run,
    /// and their median counts: 3 consumers on the even topic this many times, 1 consumer in its default runs
    /// (the group run and the metrics-on runs). Scaling efficiency is the median of this many sets of 1, 2, 3.
    target_runs: u32,
    /// Rounds of the write paths, each path once a round after a ceiling run of its own.
    write_path_rounds: u32,
}

impl Plan {
    fn new(orders: u64, small: bool) -> Self {
        let full = Self {
            orders,
            growth: vec![100_000, 500_000, 1_000_000],
            latency_rate: 1_000,
            latency_seconds: 30,
            latency_runs: 10,
            high_rate: 10_000,
            high_rate_seconds: 15,
            eff_orders: 3_000,
            eff_delay_ms: 5,
            wide_customers: 1_000,
            batch_sizes: vec![100, 500, 1_000, 5_000],
            lingers: vec![0, 5, 50],
            compressions: vec!["none", "lz4", "zstd"],
            knob_orders: 200_000,
            knob_latency_seconds: 15,
            producer_runs: 3,
            metrics_cost_runs: 4,
            target_runs: 3,
            write_path_rounds: 5,
        };
        if !small {
            return full;
        }
        Self {
            orders: orders.min(5_000),
            growth: vec![2_000, 5_000, 10_000],
            latency_seconds: 5,
            latency_runs: 2,
            high_rate_seconds: 2,
            eff_orders: 300,
            batch_sizes: vec![100, 1_000],
            lingers: vec![0, 5],
            compressions: vec!["none", "lz4"],
            knob_orders: 5_000,
            knob_latency_seconds: 4,
            producer_runs: 1,
            metrics_cost_runs: 1,
            target_runs: 1,
            write_path_rounds: 1,
            ..full
        }
    }
}

/// A variable of the consumer's environment for one run (`BATCH_SIZE=20`).
/// One benchmark in progress.
struct Bench {
    stack: Stack,
    plan: Plan,
    /// Names this run's topics, groups and databases.
    id: String,
    work: PathBuf,
    rec: Recorder,
    ceiling: Option<Ceiling>,
}

/// The rows of one group run, staged in their database, upserted again by the server alone.
struct Ceiling {
    pool: PgPool,
    rates: Vec<String>,
}

/// Runs the benchmark; returns the folder it wrote.
///
/// # Errors
/// When the stack does not answer or a run fails (the benchmark's databases are dropped all the same).
pub async fn run(args: BenchArgs, repo: &Repo) -> anyhow::Result<PathBuf> {
    let root = repo.root.clone();
    let stack = Stack::connect(&root, &args.bootstrap_servers, args.database.clone()).await?;
    let now = chrono::Utc::now();
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let out = root.join("results").join(format!("bench-{stamp}"));
    let work = out.join("work");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut bench = Bench {
        stack,
        plan: Plan::new(args.orders, args.small),
        id: now.timestamp().to_string(),
        work,
        rec: Recorder::create(&out.join("results.txt"))?,
        ceiling: None,
    };
    eprintln!("==> benchmark {stamp}: results in {}", out.display());
    let outcome = bench.all(&args, &stamp, &out).await;
    bench.drop_databases().await;
    outcome?;
    Ok(out)
}

impl Bench {
    async fn all(&mut self, args: &BenchArgs, stamp: &str, out: &Path) -> anyhow::Result<()> {
        for (key, value) in self.stack.machine().await? {
            self.rec.record(key, value)?;
        }
        let p = self.plan.clone();
        self.rec.record("run.time", stamp)?;
        self.rec.record("run.small", u8::from(args.small))?;
        self.rec.record("settings.latency_rate", p.latency_rate)?;
        self.rec.record("settings.eff_delay_ms", p.eff_delay_ms)?;
        self.rec.record("settings.wide_customers", p.wide_customers)?;
        self.rec.record("settings.high_rate", p.high_rate)?;

        if args.write_paths {
            self.write_paths().await?;
            return self.excerpt(out, "write-paths.txt", &["machine", "paths"]);
        }
        if args.latency_only {
            self.latency_runs().await?;
            return self.excerpt(out, "latency-only.txt", &["latency", "highrate"]);
        }
        let main = self.producers().await?;
        if args.peer_only {
            // The peer's sets pair each run of ours with a ceiling run, as sections 1 and 2 do.
            self.stage_ceiling(&main).await?;
            self.peer(&main).await?;
            self.record_ceiling().await?;
            self.excerpt(out, "peer-only.txt", &["producer", "perftest", "peer"])?;
            let results = super::report::load(&out.join("results.txt"))?;
            super::report::write_peer(&results, &out.join("peer.json"), &out.join("peer.md"))?;
            eprintln!("==> peer only: {}", out.join("peer.md").display());
            return Ok(());
        }
        self.groups(&main).await?;
        if args.group_only {
            eprintln!("==> group only: producer and consumer group figures");
            let prefixes = ["producer", "perftest", "group", "wide", "one.", "pgoffsets", "metrics"];
            return self.excerpt(out, "group-only.txt", &prefixes);
        }
        self.efficiency().await?;
        self.latency_runs().await?;
        self.growth().await?;
        self.knobs().await?;
        self.peer(&main).await?;
        self.write_paths().await?;
        self.drop_databases().await;
        let doc = match (&args.doc, args.small) {
            (_, true) => None,
            (Some(doc), false) => Some(doc.clone()),
            (None, false) => Some(out.join("bench.md")),
        };
        super::report::write(self.rec.path(), &out.join("bench.json"), doc.as_deref())
    }

    /// (4) Our producer against `kafka-producer-perf-test` with the same records and settings, alternating;
    /// returns the first producer run's topic, which the group runs consume.
    async fn producers(&mut self) -> anyhow::Result<String> {
        let p = self.plan.clone();
        let main = format!("bench-{}-main", self.id);
        let (mut ours, mut theirs, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
        for i in 1..=p.producer_runs {
            eprintln!(
                "==> (4) producer, run {i} of {}: {} orders, as fast as the broker takes them",
                p.producer_runs, p.orders
            );
            let label = format!("producer{i}");
            let name = if i == 1 { "main".to_owned() } else { format!("prod{i}") };
            self.filled_topic(&name, &label, p.orders, &[]).await?;
            ours.push(self.value(&format!("{label}.producer_rate"))?);
            peaks.push(self.value(&format!("{label}.producer_rss_kib"))?);
            if i == 1 {
                let bytes = self.sample_payloads(&main).await?;
                self.rec.record("producer.record_bytes", bytes)?;
            }
            eprintln!(
                "==> (4) kafka-producer-perf-test, run {i} of {}: the same records, acks, compression, linger and batch size",
                p.producer_runs
            );
            let perf = format!("bench-{}-perf{i}", self.id);
            self.stack.create_topic(&perf, 3).await?;
            let rate = self.perf_test(&perf, p.orders, i).await?;
            self.rec.record(&format!("perftest{i}.rate"), &rate)?;
            theirs.push(rate);
        }
        self.rec.record("producer.producer_rate", median(&ours)?)?;
        let acked = self.value("producer1.producer_acked")?;
        self.rec.record("producer.producer_acked", acked)?;
        let peak = peaks.iter().max_by(|a, b| number(a).total_cmp(&number(b))).cloned().unwrap_or_default();
        self.rec.record("producer.producer_rss_kib", peak)?;
        self.rec.record("producer.runs", p.producer_runs)?;
        self.rec.record("perftest.rate", median(&theirs)?)?;
        Ok(main)
    }

    /// (1) The ceiling's rows: the orders of `main` stored once by 1 consumer, then staged in their database for
    /// [`Bench::ceiling_run`].
    async fn stage_ceiling(&mut self, main: &str) -> anyhow::Result<()> {
        let orders = self.plan.orders;
        eprintln!("==> (1) Postgres ceiling: the rows of {orders} orders, stored once by 1 consumer, then staged");
        let staging = self.group_run("staging", 1, main, orders, &ConsumerEnv::default()).await?;
        sqlx::query("CREATE TABLE staging AS SELECT * FROM orders").execute(&staging).await?;
        self.ceiling = Some(Ceiling { pool: staging, rates: Vec::new() });
        Ok(())
    }

    /// (1) The ceiling's figures: the rows its last run left and the median of its runs so far.
    async fn record_ceiling(&mut self) -> anyhow::Result<()> {
        let ceiling = self.ceiling.as_ref().context("the ceiling was staged first")?;
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders").fetch_one(&ceiling.pool).await?;
        let (runs, rate) = (ceiling.rates.len(), median(&ceiling.rates)?);
        self.rec.record("ceiling.rows", rows)?;
        self.rec.record("ceiling.rows_per_s", rate)?;
        self.rec.record("ceiling.runs", runs)
    }

    /// (1) the ceiling and (2) the consumer group.
    async fn groups(&mut self, main: &str) -> anyhow::Result<()> {
        let p = self.plan.clone();
        self.stage_ceiling(main).await?;

        eprintln!("==> (2) consumer group end to end: {} orders on 3 partitions, 1, 2 and 3 consumers", p.orders);
        self.paired_run("group1", 1, main, p.orders, &ConsumerEnv::default()).await?;
        // Right after the default run of 1 consumer, so that the cost of storing offsets in Postgres (a second
        // statement in each batch's transaction) is measured under the same conditions.
        eprintln!("==> (2) 1 consumer with OFFSET_STORE=postgres");
        self.group_run("pgoffsets1", 1, main, p.orders, &ConsumerEnv::default().with("OFFSET_STORE", "postgres"))
            .await?;
        for c in [2, 3] {
            self.group_run(&format!("group{c}"), c, main, p.orders, &ConsumerEnv::default()).await?;
        }

        // The cost of metrics: 1 consumer with METRICS_ADDR=off (nothing served, nothing counted) and with its
        // default metrics, on the same topic, in the order off-on, on-off, off-on … so that a drift across the
        // runs (the first runs of a series are often slower) favours neither; the medians count. Throughput is
        // bound by Postgres, so the consumer's own CPU time for the same orders is the finer measure.
        eprintln!(
            "==> (2) the cost of metrics: 1 consumer, METRICS_ADDR=off and default, {} runs each, alternating",
            p.metrics_cost_runs
        );
        let (mut off, mut on, mut off_cpu, mut on_cpu, mut on_ratios) = (vec![], vec![], vec![], vec![], vec![]);
        for i in 1..=p.metrics_cost_runs {
            let order = if i % 2 == 1 { [false, true] } else { [true, false] };
            for metrics in order {
                if metrics {
                    let label = format!("metricson{i}");
                    self.paired_run(&label, 1, main, p.orders, &ConsumerEnv::default()).await?;
                    on.push(self.value(&format!("{label}.rows_per_s"))?);
                    on_ratios.push(self.value(&format!("{label}.to_ceiling"))?);
                    on_cpu.push(self.value(&format!("{label}.consumer_cpu_s"))?);
                } else {
                    let label = format!("metricsoff{i}");
                    self.paired_run(&label, 1, main, p.orders, &ConsumerEnv::default().with("METRICS_ADDR", "off"))
                        .await?;
                    off.push(self.value(&format!("{label}.rows_per_s"))?);
                    off_cpu.push(self.value(&format!("{label}.consumer_cpu_s"))?);
                }
            }
        }
        self.rec.record("metrics_cost.runs", p.metrics_cost_runs)?;
        self.rec.record("metrics_cost.off_rows_per_s", median(&off)?)?;
        self.rec.record("metrics_cost.on_rows_per_s", median(&on)?)?;
        self.rec.record("metrics_cost.on_to_off", format!("{:.3}", number(&median(&on)?) / number(&median(&off)?)))?;
        self.rec.record("metrics_cost.off_cpu_s", median(&off_cpu)?)?;
        self.rec.record("metrics_cost.on_cpu_s", median(&on_cpu)?)?;
        let cpu = number(&median(&on_cpu)?) / number(&median(&off_cpu)?);
        self.rec.record("metrics_cost.cpu_on_to_off", format!("{cpu:.3}"))?;

        eprintln!(
            "==> (2) the same with keys spread wider: {} orders of {} customers, 3 consumers",
            p.orders, p.wide_customers
        );
        let customers = ["--customers".to_owned(), p.wide_customers.to_string()];
        let wide = self.filled_topic("wide", "wide", p.orders, &customers).await?;
        let (mut wides, mut wide_ratios) = (Vec::new(), Vec::new());
        for i in 1..=p.target_runs {
            let label = if i == 1 { "wide3".to_owned() } else { format!("widerun{i}") };
            if i > 1 {
                eprintln!("==> (2) 3 consumers, {} customers, run {i} of {}", p.wide_customers, p.target_runs);
            }
            self.paired_run(&label, 3, &wide, p.orders, &ConsumerEnv::default()).await?;
            wides.push(self.value(&format!("{label}.rows_per_s"))?);
            wide_ratios.push(self.value(&format!("{label}.to_ceiling"))?);
        }
        self.rec.record("wide3.median_rows_per_s", median(&wides)?)?;
        self.rec.record("wide3.median_to_ceiling", median(&wide_ratios)?)?;
        self.rec.record("wide3.runs", p.target_runs)?;
        let ones: Vec<String> = std::iter::once(self.value("group1.rows_per_s")?).chain(on).collect();
        self.rec.record("one.median_rows_per_s", median(&ones)?)?;
        let ratios: Vec<String> = std::iter::once(self.value("group1.to_ceiling")?).chain(on_ratios).collect();
        self.rec.record("one.median_to_ceiling", median(&ratios)?)?;
        self.rec.record("one.runs", ratios.len())?;
        self.record_ceiling().await
    }

    /// (3) Scaling with simulated work per order: sets of 1, 2, 3 consumers.
    async fn efficiency(&mut self) -> anyhow::Result<()> {
        let p = self.plan.clone();
        eprintln!(
            "==> (3) scaling with {} ms of simulated work per order: {} orders, 1, 2, 3 consumers",
            p.eff_delay_ms, p.eff_orders
        );
        let customers = ["--customers".to_owned(), p.wide_customers.to_string()];
        let eff = self.filled_topic("eff", "eff", p.eff_orders, &customers).await?;
        let env = ConsumerEnv {
            processing_delay: Some(Duration::from_millis(p.eff_delay_ms)),
            batch_size: Some(20),
            ..ConsumerEnv::default()
        };
        for i in 1..=p.target_runs {
            for c in 1..=3 {
                let label = if i == 1 { format!("eff{c}") } else { format!("eff{c}run{i}") };
                self.group_run(&label, c, &eff, p.eff_orders, &env).await?;
            }
        }
        self.rec.record("eff.runs", p.target_runs)?;
        Ok(())
    }

    /// (5) (6) Latency and memory at a steady rate, several runs in a row, and one at a high rate.
    async fn latency_runs(&mut self) -> anyhow::Result<()> {
        let p = self.plan.clone();
        eprintln!(
            "==> (5)(6) latency and memory at a steady {} orders/s for {}s, 3 consumers, {} runs in a row",
            p.latency_rate, p.latency_seconds, p.latency_runs
        );
        for i in 1..=p.latency_runs {
            let label = if i == 1 { "latency".to_owned() } else { format!("latency{i}") };
            self.latency_run(&label, p.latency_seconds, p.latency_rate, &[], &ConsumerEnv::default()).await?;
        }
        self.rec.record("latency.runs", p.latency_runs)?;
        eprintln!("==> (5) latency at {} orders/s for {}s, 3 consumers", p.high_rate, p.high_rate_seconds);
        self.latency_run("highrate", p.high_rate_seconds, p.high_rate, &[], &ConsumerEnv::default()).await
    }

    /// (7) Growth: 3 consumers, N orders for each N.
    async fn growth(&mut self) -> anyhow::Result<()> {
        let p = self.plan.clone();
        eprintln!("==> (7) growth: 3 consumers, N = {:?}", p.growth);
        for n in p.growth {
            let label = format!("grow{n}");
            let topic = self.filled_topic(&label, &label, n, &[]).await?;
            self.group_run(&label, 3, &topic, n, &ConsumerEnv::default()).await?;
        }
        Ok(())
    }

    /// (8) The knobs: the consumer's batch size, the producer's compression and linger.
    async fn knobs(&mut self) -> anyhow::Result<()> {
        let p = self.plan.clone();
        eprintln!("==> (8) knobs: consumer batch size {:?}", p.batch_sizes);
        let knob = self.filled_topic("knob", "knob", p.knob_orders, &[]).await?;
        for b in &p.batch_sizes {
            let env = ConsumerEnv { batch_size: Some(*b as usize), ..ConsumerEnv::default() };
            self.group_run(&format!("batch{b}"), 1, &knob, p.knob_orders, &env).await?;
            self.latency_run(&format!("batchlat{b}"), p.knob_latency_seconds, p.latency_rate, &[], &env).await?;
        }
        eprintln!("==> (8) knobs: producer compression {:?} and linger {:?}", p.compressions, p.lingers);
        for c in &p.compressions {
            let compression = ["--compression".to_owned(), (*c).to_owned()];
            let topic =
                self.filled_topic(&format!("comp-{c}"), &format!("comp{c}"), p.knob_orders, &compression).await?;
            self.rec.record(&format!("comp{c}.log_bytes"), log_bytes(&self.stack.root, &topic)?)?;
        }
        for l in &p.lingers {
            let linger = ["--linger-ms".to_owned(), l.to_string()];
            self.filled_topic(&format!("linger{l}"), &format!("linger{l}"), p.knob_orders, &linger).await?;
            self.latency_run(
                &format!("lingerlat{l}"),
                p.knob_latency_seconds,
                p.latency_rate,
                &linger,
                &ConsumerEnv::default(),
            )
            .await?;
        }
        Ok(())
    }

    /// (9) The peer: the orders of `main` copied as Kafka Connect's JSON, then, in sets, 1 consumer, Kafka Connect's
    /// JDBC sink with 1 task at its defaults and tuned, then the same with 3 consumers and 3 tasks; the order of
    /// each set's runs alternates from set to set, so that a drift favours neither, and each run of ours comes right
    /// after a ceiling run. Records each run, ours ÷ peer and ours ÷ ceiling within each set, and the medians.
    async fn peer(&mut self, main: &str) -> anyhow::Result<()> {
        let p = self.plan.clone();
        let plugins = peer::fetch_plugin(&Repo { root: self.stack.root.clone() }.local()).await?;
        let target = format!("bench-{}-connect", self.id);
        self.stack.create_topic(&target, 3).await?;
        eprintln!("==> (9) the peer: {} orders copied to {target} as Kafka Connect's JSON with its schema", p.orders);
        let (bootstrap, source, to) = (self.stack.bootstrap.clone(), main.to_owned(), target.clone());
        let copied = tokio::task::spawn_blocking(move || peer::copy_as_connect_json(&bootstrap, &source, &to, 3))
            .await
            .context("the copy to Kafka Connect's JSON panicked")??;
        if copied.records != p.orders {
            bail!("copied {} records of {main}, expected {}", copied.records, p.orders);
        }
        self.rec.record("peer.connector", peer::CONNECTOR_ARTIFACT)?;
        self.rec.record("peer.tuned_batch", peer::TUNED_BATCH)?;
        self.rec.record("peer.record_bytes", copied.record_bytes)?;
        self.rec.record("peer.copy_rows_per_s", format!("{:.0}", copied.records as f64 / copied.seconds))?;
        let worker = peer::Worker::start(&self.stack, &plugins, &self.work).await?;
        let outcome = self.peer_sets(&worker, main, &target).await;
        let exit = worker.stop().await;
        outcome?;
        self.rec.record("peer.worker_rss_kib", exit?.peak_rss_kib)?;
        for (c, name) in [(1, "one"), (3, "three")] {
            for kind in ["ours", "default", "tuned"] {
                self.record_set_median(c, kind, "rows_per_s", &format!("peer.{name}_{kind}_rows_per_s"))?;
            }
            for kind in ["default", "tuned"] {
                self.record_set_median(c, kind, "ours_over", &format!("peer.{name}_over_{kind}"))?;
            }
            self.record_set_median(c, "ours", "ceiling_rows_per_s", &format!("peer.{name}_ceiling_rows_per_s"))?;
            self.record_set_median(c, "ours", "to_ceiling", &format!("peer.{name}_ours_to_ceiling"))?;
        }
        self.rec.record("peer.runs", p.target_runs)
    }

    /// Records as `key` the median over the peer's sets of `peer<consumers><kind><set>.<field>`.
    fn record_set_median(&mut self, consumers: usize, kind: &str, field: &str, key: &str) -> anyhow::Result<()> {
        let values = (1..=self.plan.target_runs)
            .map(|i| self.value(&format!("peer{consumers}{kind}{i}.{field}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.rec.record(key, median(&values)?)
    }

    /// The sets of [`Bench::peer`].
    async fn peer_sets(&mut self, worker: &peer::Worker, main: &str, target: &str) -> anyhow::Result<()> {
        let p = self.plan.clone();
        for i in 1..=p.target_runs {
            for c in [1, 3] {
                let mut set = vec![
                    ("ours", None),
                    ("default", Some(peer::Settings { tasks: c, batch: None })),
                    ("tuned", Some(peer::Settings { tasks: c, batch: Some(peer::TUNED_BATCH) })),
                ];
                if i % 2 == 0 {
                    set.reverse();
                }
                for (kind, settings) in set {
                    let label = format!("peer{c}{kind}{i}");
                    match settings {
                        None => {
                            eprintln!("==> (9) {label}: {c} order-consumer(s), set {i} of {}", p.target_runs);
                            self.paired_run(&label, c, main, p.orders, &ConsumerEnv::default()).await?;
                        }
                        Some(settings) => self.peer_run(worker, &label, target, settings).await?,
                    }
                }
                let ours = self.number(&format!("peer{c}ours{i}.rows_per_s"))?;
                for kind in ["default", "tuned"] {
                    let theirs = self.number(&format!("peer{c}{kind}{i}.rows_per_s"))?;
                    self.rec.record(&format!("peer{c}{kind}{i}.ours_over"), format!("{:.2}", ours / theirs))?;
                }
            }
        }
        Ok(())
    }

    /// One connector of the peer, into a fresh database, until every order of `topic` is a row and its group has
    /// committed to the end; a failed task ends the run with the worker's trace. Records the same figures as
    /// [`Bench::group_run`].
    async fn peer_run(
        &mut self,
        worker: &peer::Worker,
        label: &str,
        topic: &str,
        settings: peer::Settings,
    ) -> anyhow::Result<()> {
        let expected = i64::try_from(self.plan.orders)?;
        let database = self.database(label);
        let pool = self.stack.create_database(&database).await?;
        let url = self.stack.url_of(&database);
        self.migrate(label, &url).await?;
        self.stack.checkpoint().await;
        let name = format!("bench-{}-{label}", self.id);
        let what = settings.batch.map_or_else(
            || "the connector's defaults".to_owned(),
            |b| format!("batch.size and max.poll.records {b}, reWriteBatchedInserts"),
        );
        eprintln!("==> (9) {label}: Kafka Connect's JDBC sink, {} task(s), {what}", settings.tasks);
        let started = Instant::now();
        worker.create(&name, settings.connector_config(topic, &url)?).await?;
        let world = World::new(&self.stack.bootstrap, topic, "", &format!("connect-{name}"), &url)?;
        let failed = async {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Err(error) = worker.healthy(&name).await {
                    break error;
                }
            }
        };
        let stored = tokio::select! {
            stored = world.wait_stored(expected, Duration::from_secs(30 * 60)) => stored.map(drop),
            error = failed => Err(error),
        };
        let wall = started.elapsed();
        world.pool.close().await;
        let deleted = worker.delete(&name).await;
        stored?;
        deleted?;
        self.rec.record(&format!("{label}.wall_s"), format!("{:.2}", wall.as_secs_f64()))?;
        self.stored_figures(label, &pool).await?;
        pool.close().await;
        Ok(())
    }

    /// Makes `orders` in the database at `url` for run `label` as the product does, with `order-consumer
    /// --migrate-only` (built by [`ConsumerEnv`], started as every consumer is): the peer's connector writes into
    /// the table it finds (`schema.evolution=none`).
    async fn migrate(&self, label: &str, url: &str) -> anyhow::Result<()> {
        let env = ConsumerEnv { database_url: Some(url.to_owned()), ..ConsumerEnv::default() };
        let mut command = env.command(&self.stack.binary("order-consumer"));
        command.arg("--migrate-only");
        let log = self.work.join(format!("{label}-migrate.log"));
        let mut process = Process::start("order-consumer --migrate-only", command, &log)?;
        match process.wait(Duration::from_secs(60)).await? {
            Some(exit) if exit.success() => Ok(()),
            Some(exit) => bail!("order-consumer --migrate-only ended with {}; see {}", exit.describe(), log.display()),
            None => {
                process.kill().await?;
                bail!("order-consumer --migrate-only did not end within a minute; see {}", log.display())
            }
        }
    }

    /// Creates topic `bench-<id>-<name>` (3 partitions) and fills it with `count` orders as run `label` (the
    /// producer's figures recorded under it, `extra` its further arguments); returns the topic.
    async fn filled_topic(&mut self, name: &str, label: &str, count: u64, extra: &[String]) -> anyhow::Result<String> {
        let topic = format!("bench-{}-{name}", self.id);
        self.stack.create_topic(&topic, 3).await?;
        self.produce(label, &topic, count, 0, extra).await?;
        Ok(topic)
    }

    /// Runs the release producer to the end ([`harness::producer::produce`]); records its rate, acknowledged
    /// orders and peak RSS.
    async fn produce(
        &mut self,
        label: &str,
        topic: &str,
        count: u64,
        rate: u64,
        extra: &[String],
    ) -> anyhow::Result<()> {
        let summary = self.work.join(format!("{label}-producer-summary.json"));
        let log = self.work.join(format!("{label}-producer.log"));
        let name = format!("the producer of {label}");
        let produced =
            harness::producer::produce(&self.stack, &name, topic, (count, rate), extra, &log, &summary).await?;
        for (key, field) in [("producer_rate", "rate"), ("producer_acked", "acked")] {
            let value = produced.summary.get(field).with_context(|| format!("{} has no {field}", summary.display()))?;
            self.rec.record(&format!("{label}.{key}"), value)?;
        }
        self.rec.record(&format!("{label}.producer_rss_kib"), produced.exit.peak_rss_kib)
    }

    /// Reads up to 10,000 records of `topic` from the beginning into `payloads.txt` (one per line, for
    /// `kafka-producer-perf-test --payload-file`); returns their mean size in bytes.
    async fn sample_payloads(&self, topic: &str) -> anyhow::Result<u64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.stack.bootstrap)
            .set("group.id", format!("bench-{}-sampler", self.id))
            .set("enable.auto.commit", "false")
            .create()
            .context("Kafka client for the payload sample")?;
        let mut assignment = TopicPartitionList::new();
        for partition in 0..3 {
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let (mut payloads, mut bytes, mut count) = (String::new(), 0_u64, 0_u64);
        let deadline = Instant::now() + Duration::from_secs(30);
        while count < 10_000 && Instant::now() < deadline {
            let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
            let Some(payload) = message?.payload().map(|p| String::from_utf8_lossy(p).into_owned()) else { continue };
            bytes += payload.len() as u64;
            count += 1;
            payloads.push_str(&payload);
            payloads.push('\n');
        }
        if count == 0 {
            bail!("no record of {topic} read within 30 s");
        }
        std::fs::write(self.work.join("payloads.txt"), payloads)?;
        Ok(bytes / count)
    }

    /// `kafka-producer-perf-test` with the sampled records and our producer's settings; returns its records/s
    /// (the last line of its output, the only place the tool gives it).
    async fn perf_test(&self, topic: &str, orders: u64, run: u32) -> anyhow::Result<String> {
        let payloads = self.work.join("payloads.txt");
        let args: Vec<String> = [
            "kafka-producer-perf-test",
            "--topic",
            topic,
            "--num-records",
            &orders.to_string(),
            "--throughput",
            "-1",
            "--payload-file",
            &payloads.display().to_string(),
            "--producer-props",
            &format!("bootstrap.servers={}", self.stack.bootstrap),
            "acks=all",
            "compression.type=lz4",
            "linger.ms=5",
            "batch.size=1000000",
            "enable.idempotence=true",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let script = self.stack.root.join("scripts/kafka.sh");
        eprintln!("$ {} {}", script.display(), args.join(" "));
        let output = tokio::process::Command::new(&script).args(&args).stdin(Stdio::null()).output().await?;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let log = self.work.join(format!("perf-test{run}.log"));
        std::fs::write(&log, &text)?;
        let last = text.lines().rev().find(|l| l.contains(" records sent, ")).unwrap_or_default();
        eprintln!("{last}");
        if !output.status.success() {
            bail!("kafka-producer-perf-test failed ({}); see {}", output.status, log.display());
        }
        let rate = last.split(" records sent, ").nth(1).and_then(|r| r.split(" records/sec").next());
        rate.map(str::to_owned).with_context(|| format!("no rate in the last line of {}", log.display()))
    }

    /// `CONSUMERS` release consumers in group `label` on a fresh database until `expected` rows are stored;
    /// records their peak RSS and CPU time, the wall time from their start, the rate between the first and the
    /// last row, the sum of each consumer's own rate and the largest partition's share. Returns a pool to the
    /// database.
    async fn group_run(
        &mut self,
        label: &str,
        consumers: usize,
        topic: &str,
        expected: u64,
        env: &ConsumerEnv,
    ) -> anyhow::Result<PgPool> {
        let database = self.database(label);
        let pool = self.stack.create_database(&database).await?;
        self.stack.checkpoint().await;
        let started = Instant::now();
        let mut members = self.start_consumers(label, consumers, topic, &database, env).await?;
        let world = World::new(&self.stack.bootstrap, topic, "", label, &self.stack.url_of(&database))?;
        let stored = world.wait_stored(i64::try_from(expected)?, Duration::from_secs(30 * 60)).await;
        let wall = started.elapsed();
        world.pool.close().await;
        self.stop_consumers(label, &mut members).await?;
        stored?;
        self.rec.record(&format!("{label}.wall_s"), format!("{:.2}", wall.as_secs_f64()))?;
        self.stored_figures(label, &pool).await?;
        Ok(pool)
    }

    /// The figures of the rows a run stored: the rate between the first and the last row, the sum of each writer's
    /// own rate (`processed_by`) and the largest partition's share.
    async fn stored_figures(&mut self, label: &str, pool: &PgPool) -> anyhow::Result<()> {
        let figures = [
            (
                "rows_per_s",
                "SELECT ROUND(COUNT(*) / EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)))::bigint::text FROM orders",
            ),
            (
                "busy_rows_per_s",
                "SELECT ROUND(SUM(n / NULLIF(s, 0)))::bigint::text FROM (SELECT COUNT(*) n, EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)) s FROM orders GROUP BY processed_by) t",
            ),
            (
                "largest_partition_share",
                "SELECT ROUND(MAX(n)::numeric / SUM(n), 3)::text FROM (SELECT COUNT(*) n FROM orders GROUP BY kafka_partition) t",
            ),
        ];
        for (name, sql) in figures {
            let value: Option<String> = sqlx::query_scalar(sql).fetch_one(pool).await?;
            self.rec.record(&format!("{label}.{name}"), value.unwrap_or_default())?;
        }
        Ok(())
    }

    /// The ceiling, then [`Bench::group_run`] right after it; records the run's rate over that ceiling. The
    /// machine's speed drifts by a third within minutes, so a ratio of two runs minutes apart says more about the
    /// drift than about the consumer.
    async fn paired_run(
        &mut self,
        label: &str,
        consumers: usize,
        topic: &str,
        expected: u64,
        env: &ConsumerEnv,
    ) -> anyhow::Result<()> {
        self.ceiling_run(label).await?;
        self.group_run(label, consumers, topic, expected, env).await?;
        let ratio =
            self.number(&format!("{label}.rows_per_s"))? / self.number(&format!("{label}.ceiling_rows_per_s"))?;
        self.rec.record(&format!("{label}.to_ceiling"), format!("{ratio:.4}"))
    }

    /// (10) The consumer's write path against the others Postgres offers, the database alone, in a database of its
    /// own ([`super::write_paths`]).
    async fn write_paths(&mut self) -> anyhow::Result<()> {
        let name = self.database("paths");
        let pool = self.stack.create_database(&name).await?;
        self.migrate("paths", &self.stack.url_of(&name)).await?;
        let (orders, rounds) = (self.plan.orders, self.plan.write_path_rounds);
        let measured = super::write_paths::measure(&self.stack, &pool, &mut self.rec, orders, rounds).await;
        pool.close().await;
        measured
    }

    /// Empties the staged database's table, then upserts the staged rows into it in one statement: the consumer's
    /// upsert done by the server itself. Records the rows per second.
    async fn ceiling_run(&mut self, label: &str) -> anyhow::Result<()> {
        let ceiling = self.ceiling.as_mut().context("the ceiling was staged first")?;
        sqlx::query("TRUNCATE orders").execute(&ceiling.pool).await?;
        self.stack.checkpoint().await;
        let started = Instant::now();
        sqlx::query(&super::write_paths::ceiling()).execute(&ceiling.pool).await.context("the ceiling's upsert")?;
        let rate = format!("{:.0}", self.plan.orders as f64 / started.elapsed().as_secs_f64());
        ceiling.rates.push(rate.clone());
        self.rec.record(&format!("{label}.ceiling_rows_per_s"), rate)
    }

    /// 3 consumers on 3 partitions, the producer at `rate` orders/s for `seconds`; records the producer's figures,
    /// the consumers' peak RSS and p50/p95/p99/max of `processed_at - produced_at`.
    async fn latency_run(
        &mut self,
        label: &str,
        seconds: u64,
        rate: u64,
        producer: &[String],
        env: &ConsumerEnv,
    ) -> anyhow::Result<()> {
        let topic = format!("bench-{}-{label}", self.id);
        let database = self.database(label);
        self.stack.create_topic(&topic, 3).await?;
        let pool = self.stack.create_database(&database).await?;
        self.stack.checkpoint().await;
        let mut members = self.start_consumers(label, 3, &topic, &database, env).await?;
        let world = World::new(&self.stack.bootstrap, &topic, "", label, &self.stack.url_of(&database))?;
        let outcome = async {
            harness::wait::wait_for(
                &format!("3 consumers of {label} owning partitions"),
                Duration::from_secs(60),
                async || world.group().ok().filter(|g| g.owners() >= 3).map(drop),
            )
            .await?;
            self.produce(label, &topic, rate * seconds, rate, producer).await?;
            world.wait_stored(i64::try_from(rate * seconds)?, Duration::from_secs(120)).await
        }
        .await;
        world.pool.close().await;
        self.stop_consumers(label, &mut members).await?;
        outcome?;
        let latency = "EXTRACT(EPOCH FROM processed_at - produced_at) * 1000";
        let percentile =
            |q: f64| format!("ROUND((percentile_cont({q}) WITHIN GROUP (ORDER BY {latency}))::numeric, 1)::text");
        let sql = format!(
            "SELECT {}, {}, {}, ROUND(MAX({latency})::numeric, 1)::text FROM orders",
            percentile(0.5),
            percentile(0.95),
            percentile(0.99)
        );
        let (p50, p95, p99, max): (String, String, String, String) = sqlx::query_as(&sql).fetch_one(&pool).await?;
        for (name, value) in [("p50_ms", p50), ("p95_ms", p95), ("p99_ms", p99), ("max_ms", max)] {
            self.rec.record(&format!("{label}.{name}"), value)?;
        }
        pool.close().await;
        Ok(())
    }

    /// Starts `n` release consumers in group `label` ([`Stack::start_consumers`]).
    async fn start_consumers(
        &self,
        label: &str,
        n: usize,
        topic: &str,
        database: &str,
        env: &ConsumerEnv,
    ) -> anyhow::Result<Members> {
        let logs = self.work.join(format!("{label}-consumers"));
        self.stack.start_consumers(label, n, topic, database, logs, env).await
    }

    /// Stops the consumers (SIGTERM, SIGKILL after 30 s) and waits until every one has exited, so their sessions
    /// close before the next run and before the drop; records the largest peak RSS among them and the CPU time
    /// they used together.
    async fn stop_consumers(&mut self, label: &str, members: &mut Members) -> anyhow::Result<()> {
        members.stop_all().await;
        let exits = members.exits();
        let peak = exits.iter().map(|(_, e)| e.peak_rss_kib).max().unwrap_or(0);
        let cpu: f64 = exits.iter().map(|(_, e)| e.cpu_s).sum();
        self.rec.record(&format!("{label}.consumer_rss_kib"), peak)?;
        self.rec.record(&format!("{label}.consumer_cpu_s"), format!("{cpu:.2}"))
    }

    /// The database of run `label`.
    fn database(&self, label: &str) -> String {
        let label: String =
            label.chars().map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '_' }).collect();
        format!("bench_{}_{label}", self.id)
    }

    /// Every consumer has exited; what may still be in these databases is autovacuum, which a plain DROP ends
    /// itself. A database that cannot be dropped is named, and the report is written all the same.
    async fn drop_databases(&mut self) {
        if let Some(ceiling) = self.ceiling.take() {
            ceiling.pool.close().await;
        }
        self.stack.drop_databases_like(&format!("bench_{}_", self.id), Duration::from_secs(30)).await;
    }

    /// Writes the lines recorded so far that start with one of `prefixes` to `out/name`, and prints them.
    fn excerpt(&self, out: &Path, name: &str, prefixes: &[&str]) -> anyhow::Result<()> {
        let lines = self.rec.lines_starting(prefixes).join("\n");
        println!("{lines}");
        std::fs::write(out.join(name), format!("{lines}\n")).with_context(|| format!("cannot write {name}"))
    }

    fn value(&self, key: &str) -> anyhow::Result<String> {
        self.rec.value(key).map(str::to_owned).with_context(|| format!("{key} was not recorded"))
    }

    fn number(&self, key: &str) -> anyhow::Result<f64> {
        self.rec.number(key).with_context(|| format!("{key} was not recorded as a number"))
    }
}

/// The recorded value in the middle, as recorded (the lower of the two middle ones for an even count).
fn median(values: &[String]) -> anyhow::Result<String> {
    if values.is_empty() {
        bail!("a median of no values");
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| number(a).total_cmp(&number(b)));
    Ok(sorted.swap_remove(sorted.len().div_ceil(2) - 1))
}

fn number(value: &str) -> f64 {
    value.parse().unwrap_or(f64::NAN)
}

/// Bytes of `topic`'s log segments on the local broker's disk (`.local/kafka/data/<topic>-<partition>/*.log`).
fn log_bytes(root: &Path, topic: &str) -> anyhow::Result<u64> {
    let data = Repo { root: root.to_owned() }.local().join("kafka/data");
    let prefix = format!("{topic}-");
    let mut bytes = 0;
    for dir in std::fs::read_dir(&data).with_context(|| format!("cannot read {}", data.display()))? {
        let dir = dir?;
        let name = dir.file_name().to_string_lossy().into_owned();
        if !name.strip_prefix(&prefix).is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        for file in std::fs::read_dir(dir.path())? {
            let file = file?;
            if file.path().extension().is_some_and(|e| e == "log") {
                bytes += file.metadata()?.len();
            }
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_a_recorded_value() {
        let values = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(median(&values(&["0.62", "0.48", "0.68"])).unwrap(), "0.62");
        assert_eq!(median(&values(&["4", "1", "3", "2"])).unwrap(), "2", "the lower middle, as the script took it");
        assert_eq!(median(&values(&["48000.0"])).unwrap(), "48000.0");
        assert!(median(&[]).is_err());
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, String> {
        crate::parse_options(args)
    }

    #[test]
    fn options_are_checked_before_anything_runs() {
        let defaults = parse(&[]).unwrap();
        assert_eq!((defaults.orders, defaults.small, defaults.doc.as_deref()), (500_000, false, None));
        assert!(parse(&["--orders", "0"]).unwrap_err().contains("invalid value '0' for '--orders <ORDERS>'"));
        assert!(parse(&["--group-only", "--latency-only"]).unwrap_err().contains("cannot be used with"));
        assert!(parse(&["--peer-only", "--group-only"]).unwrap_err().contains("cannot be used with"));
        assert!(parse(&["--now"]).unwrap_err().contains("unexpected argument '--now'"));
    }

    #[test]
    fn small_keeps_the_orders_under_five_thousand() {
        assert_eq!(Plan::new(500_000, true).orders, 5_000);
        assert_eq!(Plan::new(1_000, true).orders, 1_000);
        assert_eq!(Plan::new(500_000, false).latency_runs, 10);
    }
}
