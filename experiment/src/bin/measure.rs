//! `measure`: the benchmark and the soak, and the measures they are made of. `bench`: every benchmark run and its
//! report (`experiment/src/bench/`, scripts/bench.sh). `soak`: the soak, its checks and its report
//! (`experiment/src/soak/`, scripts/soak.sh). `bench-report` and `soak-report`: a report written again from what a
//! run recorded. `stalls`: the measures of `experiment/src/measure.rs`, printed as `key=value` lines, the format of
//! `results.txt`. `wait-stored`: waits until a group has stored a topic, watching its committed offsets rather
//! than counting rows while they are written.
//!
//! ```text
//! measure stalls --database-url URL --event step1=1764600000.25 --event step2=1764600030.5 --until 1764600090
//! ```
//! prints, per event, the longest stall that ended after it and before the next event (or `--until`), and began
//! after the event before it: `step1.longest_stall_s=10.93`, `step1.stall_partition=0`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use harness::world::World;
use scaling_experiment::{bench, measure, soak};
use sqlx::postgres::PgPoolOptions;

#[derive(Debug, clap::Parser)]
#[command(name = "measure", about = "The benchmark and the soak, their reports, and the measures they are made of.")]
enum Command {
    /// Every benchmark run on the local stack (scripts/stack.sh up first; nothing else should load the machine):
    /// writes results/bench-<time>/ (results.txt, bench.json, the logs) and, for a full run, docs/benchmarks.md.
    Bench(bench::run::BenchArgs),
    /// Pushes orders through a topic, group and database of its own on the local stack while scaling consumers up
    /// and down, raising partitions and SIGKILLing one consumer; then drains and checks: rows + dead letters =
    /// acked orders, 0 duplicate rows, committed = log-end offsets, every partition owned by exactly one member.
    /// Samples each consumer's and the producer's RSS every second. Writes results/soak-<time>/: memory.csv,
    /// summary.md, summary.json, memory.svg and every process's log (docs/soak.md). Fails when a check fails.
    Soak(soak::run::SoakArgs),
    /// The longest stall after each event.
    Stalls {
        #[command(flatten)]
        database: shared::database::Database,
        /// `label=unix-seconds`, in the order the events happened.
        #[arg(long = "event", value_parser = parse_event, required = true)]
        events: Vec<(String, DateTime<Utc>)>,
        /// Unix seconds: the end of the last event's window.
        #[arg(long, value_parser = parse_time)]
        until: DateTime<Utc>,
    },
    /// The soak's `summary.json`, `summary.md` and `memory.svg`, from its `results.txt` and `memory.csv`; fails
    /// when a check failed.
    SoakReport {
        #[arg(long)]
        results: PathBuf,
        #[arg(long)]
        memory: PathBuf,
        /// Where the three files go.
        #[arg(long)]
        out: PathBuf,
    },
    /// The benchmark's `bench.json` (the results as recorded and the figures derived from them) and, with
    /// `--doc`, its Markdown report with the same JSON beside it.
    BenchReport {
        /// The benchmark's `results.txt`, or a kept `bench.json` whose report to write again.
        #[arg(long)]
        results: PathBuf,
        /// Where `bench.json` goes.
        #[arg(long)]
        json: PathBuf,
        /// The Markdown report (`docs/benchmarks.md`); the JSON also goes beside it (`docs/benchmarks.json`).
        #[arg(long)]
        doc: Option<PathBuf>,
    },
    /// Waits until the group has committed every partition of the topic up to its log end and the table holds at
    /// least `--expected` rows (the consumers commit only stored rows, so the first check implies the second
    /// unless orders went to the dead-letter topic). Costs the database nothing while the consumers write: one
    /// count at the end. Polling `COUNT(*)` through a new psql twice a second, as the bench did before, took 4.5 %
    /// of the two cores' samples for psql alone during a one-consumer run, besides the backends it opened
    /// (docs/results/upsert-20261202/harness-poll-profile.txt).
    WaitStored(WaitStored),
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let seconds: f64 = s.parse().map_err(|_| format!("'{s}' is not unix seconds"))?;
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64).ok_or_else(|| format!("'{s}' is out of range"))
}

fn parse_event(s: &str) -> Result<(String, DateTime<Utc>), String> {
    let (label, at) = s.split_once('=').ok_or_else(|| format!("'{s}' is not label=unix-seconds"))?;
    Ok((label.to_owned(), parse_time(at)?))
}

async fn stalls(
    database: &shared::database::Database,
    events: &[(String, DateTime<Utc>)],
    until: DateTime<Utc>,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(database.url.expose())
        .await
        .with_context(|| format!("cannot reach Postgres at {}", database.redacted()))?;
    for (key, value) in measure::longest_stall_lines(&pool, events, until).await? {
        println!("{key}={value}");
    }
    pool.close().await;
    Ok(())
}

/// `wait-stored`'s arguments.
#[derive(Debug, clap::Args)]
struct WaitStored {
    #[command(flatten)]
    database: shared::database::Database,
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    bootstrap_servers: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    group: String,
    #[arg(long)]
    expected: i64,
    /// How long to wait before failing (humantime: `90s`, `30m`).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m")]
    timeout: Duration,
}

async fn wait_stored(w: &WaitStored) -> anyhow::Result<()> {
    let world = World::new(&w.bootstrap_servers, &w.topic, "", &w.group, w.database.url.expose())?;
    let rows = world.wait_stored(w.expected, w.timeout).await?;
    println!("group {} stored {rows} rows of {}", w.group, w.topic);
    world.pool.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Command::parse() {
        Command::Bench(args) => {
            bench::run::run(args).await.map(|out| println!("benchmark written to {}", out.display()))
        }
        Command::Soak(args) => soak::run::run(args).await.and_then(|passed| {
            if passed { Ok(()) } else { Err(anyhow::anyhow!("the soak failed a check (see its summary.md)")) }
        }),
        Command::Stalls { database, events, until } => stalls(&database, &events, until).await,
        Command::SoakReport { results, memory, out } => soak::report(&results, &memory, &out).and_then(|passed| {
            println!("wrote {}/summary.json, summary.md and memory.svg", out.display());
            if passed { Ok(()) } else { Err(anyhow::anyhow!("the soak failed a check (see summary.md)")) }
        }),
        Command::BenchReport { results, json, doc } => bench::write(&results, &json, doc.as_deref()),
        Command::WaitStored(w) => wait_stored(&w).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
