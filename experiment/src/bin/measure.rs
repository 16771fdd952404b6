//! `measure`: what scripts/soak.sh and scripts/bench.sh need from Rust. `stalls`: the measures of
//! `experiment/src/measure.rs`, printed as `key=value` lines, the format of the scripts' `results.txt`.
//! `soak-report`: the soak's summary and memory chart (`experiment/src/soak.rs`). `bench-report`: the benchmark's
//! `bench.json` and, with `--doc`, its Markdown report (`experiment/src/bench.rs`). `wait-stored`: waits until a
//! group has stored a topic, watching its committed offsets rather than counting rows while they are written.
//!
//! ```text
//! measure stalls --database-url URL --event step1=1764600000.25 --event step2=1764600030.5 --until 1764600090
//! ```
//! prints, per event, the longest stall that ended after it and before the next event (or `--until`), and began
//! after the event before it: `step1.longest_stall_s=10.93`, `step1.stall_partition=0`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use scaling_experiment::world::World;
use scaling_experiment::{bench, measure, soak};
use sqlx::postgres::PgPoolOptions;

#[derive(Debug, clap::Parser)]
#[command(
    name = "measure",
    about = "Stalls per event, measured from the rows the way the experiment measures them; the soak's and the \
             benchmark's reports."
)]
enum Command {
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
    let times: Vec<DateTime<Utc>> = events.iter().map(|(_, at)| *at).collect();
    let per_event = measure::stalls_per_event(&pool, DateTime::<Utc>::UNIX_EPOCH, &times, until).await?;
    for ((label, _), stalls) in events.iter().zip(&per_event) {
        if let Some((partition, stall)) = stalls.iter().max_by(|a, b| a.1.gap_s.total_cmp(&b.1.gap_s)) {
            println!("{label}.longest_stall_s={:.2}", stall.gap_s);
            println!("{label}.stall_partition={partition}");
        }
    }
    pool.close().await;
    Ok(())
}

/// `bench-report`: says what it wrote as it goes, as scripts/bench.sh prints it.
fn bench_report(results: &Path, json: &Path, doc: Option<&Path>) -> anyhow::Result<()> {
    let r = bench::load(results)?;
    bench::write_json(&r, json)?;
    println!("wrote {}", json.display());
    match doc {
        Some(doc) => {
            let beside = bench::write_report(&r, doc)?;
            println!("wrote {} and {}", doc.display(), beside.display());
        }
        // The small run still exercises the report code.
        None => {
            bench::markdown(&r, "benchmarks.json")?;
        }
    }
    Ok(())
}

/// How often `wait-stored` asks the broker for the group's committed offsets.
const POLL: Duration = Duration::from_millis(500);

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
    let deadline = Instant::now() + w.timeout;
    // A look that fails (the group's coordinator moving, a connection refused) is tried again until the deadline;
    // the error reports the last thing seen.
    let rows = loop {
        let seen = match look(&world, &w.topic, w.expected).await {
            Ok(Ok(rows)) => break rows,
            Ok(Err(state)) => state,
            Err(error) => format!("{error:#}"),
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "group {} has not stored {} rows of {} after {:?}: {seen}",
                w.group,
                w.expected,
                w.topic,
                w.timeout
            );
        }
        tokio::time::sleep(POLL).await;
    };
    println!("group {} stored {rows} rows of {}", w.group, w.topic);
    world.pool.close().await;
    Ok(())
}

/// One look: `Ok(rows)` once the group has committed every partition of the topic to its end and the table holds
/// at least `expected` rows, otherwise what it saw.
async fn look(world: &World, topic: &str, expected: i64) -> anyhow::Result<Result<i64, String>> {
    let partitions = world.partition_count()?;
    let end = world.log_end(topic, partitions)?;
    let committed = world.committed(partitions)?;
    // A partition that never held a record has no committed offset (-1) and is done.
    if !committed.iter().zip(&end).all(|(c, e)| *e == 0 || c >= e) {
        return Ok(Err(format!("committed {committed:?} of log end {end:?}")));
    }
    let rows = world.rows().await?;
    Ok(if rows >= expected { Ok(rows) } else { Err(format!("committed to the end, {rows} rows stored")) })
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Command::parse() {
        Command::Stalls { database, events, until } => stalls(&database, &events, until).await,
        Command::SoakReport { results, memory, out } => soak::report(&results, &memory, &out).and_then(|passed| {
            println!("wrote {}/summary.json, summary.md and memory.svg", out.display());
            if passed { Ok(()) } else { Err(anyhow::anyhow!("the soak failed a check (see summary.md)")) }
        }),
        Command::BenchReport { results, json, doc } => bench_report(&results, &json, doc.as_deref()),
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
