//! `measure`: what scripts/soak.sh needs from Rust. `stalls`: the measures of `experiment/src/measure.rs`, printed
//! as `key=value` lines, the format of the scripts' `results.txt`. `soak-report`: the soak's summary and memory
//! chart (`experiment/src/soak.rs`).
//!
//! ```text
//! measure stalls --database-url URL --event step1=1764600000.25 --event step2=1764600030.5 --until 1764600090
//! ```
//! prints, per event, the longest stall that ended after it and before the next event (or `--until`), and began
//! after the event before it: `step1.longest_stall_s=10.93`, `step1.stall_partition=0`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Parser;
use scaling_experiment::{measure, soak};
use sqlx::postgres::PgPoolOptions;

#[derive(Debug, clap::Parser)]
#[command(
    name = "measure",
    about = "Stalls per event, measured from the rows the way the experiment measures them; the soak's report."
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

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Command::parse() {
        Command::Stalls { database, events, until } => stalls(&database, &events, until).await,
        Command::SoakReport { results, memory, out } => soak::report(&results, &memory, &out).and_then(|passed| {
            println!("wrote {}/summary.json, summary.md and memory.svg", out.display());
            if passed { Ok(()) } else { Err(anyhow::anyhow!("the soak failed a check (see summary.md)")) }
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
