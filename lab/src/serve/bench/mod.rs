//! `lab measure lab-page`: the two figures issue 29 asks of the scaling lab, measured on the local stack with the
//! real `lab serve` and kept in `results/lab-page-<time>/` (`results.txt`, `results.json`, `report.md`).
//!
//! - **What it costs** ([`cost`]): the pipeline's throughput with the lab closed and open, in pairs whose order
//!   alternates (closed then open, open then closed, …), so that a drift across the sitting favours neither. A run
//!   is the benchmark's group run: a topic filled beforehand, 3 consumers storing it, done when the group has
//!   committed every partition to its log end (`World::wait_stored`), its rate the rows over the time between the
//!   first and the last row. Open, `lab serve` runs against the same topic, group and database with one reader of
//!   its `GET /api/events` stream parsing every state, as an open page does; what a browser spends drawing runs on
//!   the viewer's machine and is left out. Each run has a topic, group and database of its own, dropped after it.
//! - **How fast it shows a change** ([`latency`]): with 3 consumers on 3 partitions and the lab's producer at a
//!   steady rate, tries of a +1 consumer POSTed to the lab as its button does, and of an owner SIGKILLed from outside
//!   the page (`Fleet::kill`, as `lab scale kill` does). For each, from the click or the kill: when the coordinator
//!   shows the new assignment (described every 100 ms, in parallel) and when the lab's event stream does; the page's
//!   share is the difference. The group is brought back to 3 members between tries and left to settle.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use harness::repo::Repo;
use harness::stack::Stack;
use shared::database::Database;

use crate::recorded::Recorder;

pub mod cost;
pub mod latency;
pub mod page;
pub mod report;

/// The topic's partitions and the consumers of every run: the experiment's 3 on 3, one partition each.
pub const PARTITIONS: i32 = 3;
pub const CONSUMERS: usize = 3;
/// The throughput target: the lab open keeps at least this share of the closed throughput (issue 29: ≤ 3 %).
pub const TARGET_RATIO: f64 = 0.97;
/// The latency target: what the page adds to the group's own time, seconds (issue 29: ≤ 1 s).
pub const TARGET_EXTRA_S: f64 = 1.0;

/// Options of `lab measure lab-page`.
#[derive(Debug, Clone, clap::Args)]
pub struct LabPageArgs {
    /// Orders each throughput run stores. A million keeps 3 consumers storing for several of the lab's one-second
    /// looks and two-second counts (the cost is per second, so a run of one second would hide it), and the whole
    /// measurement within a quarter of an hour on 2 cores.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..=10_000_000))]
    pub orders: u64,
    /// Pairs of throughput runs (lab closed, lab open), the order alternating from one pair to the next.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub pairs: u32,
    /// Tries of each change: a +1 consumer, an owner SIGKILLed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub tries: u32,
    /// The producer's steady rate while the tries run, orders per second.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=20_000))]
    pub rate: u64,
    /// The session timeout of the consumers in the tries (humantime): a killed owner's partition moves after it,
    /// so it sets the group's own time for a kill, not the page's.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "6s")]
    pub session_timeout: Duration,
    /// The open runs' `lab serve --count-every` (humantime; default: the lab's own): how often the lab may count
    /// the rows while the group commits, to tell the count's share of the cost from the rest of its looks.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub lab_count_every: Option<Duration>,
    /// Only the throughput pairs.
    #[arg(long, conflicts_with = "latency_only")]
    pub cost_only: bool,
    /// Only the tries.
    #[arg(long)]
    pub latency_only: bool,
    /// Kafka, as reached from this machine.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,
    /// The stack's database, as its owner; the runs' databases are created beside it.
    #[command(flatten)]
    pub database: Database,
}

/// One measurement in progress.
pub struct Bench {
    pub stack: Stack,
    pub repo: Repo,
    pub args: LabPageArgs,
    /// Names this measurement's topics, groups and databases (`labpage-<id>-…`, `labpage_<id>_…`).
    pub id: String,
    pub work: PathBuf,
    pub rec: Recorder,
    pub cost: Vec<cost::Pair>,
    pub tries: Vec<latency::Try>,
}

/// Measures; returns the folder written.
///
/// # Errors
/// When the stack does not answer or a run fails; what was measured until then is written all the same.
pub async fn run(args: LabPageArgs, repo: &Repo) -> anyhow::Result<PathBuf> {
    let stack = Stack::connect(&repo.root, &args.bootstrap_servers, args.database.clone()).await?;
    let now = chrono::Utc::now();
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    let out = repo.root.join("results").join(format!("lab-page-{stamp}"));
    let work = out.join("work");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    eprintln!("==> lab-page measurement {stamp}: results in {}", out.display());
    let mut bench = Bench {
        stack,
        repo: repo.clone(),
        rec: Recorder::create(&out.join("results.txt"))?,
        args,
        id: now.timestamp().to_string(),
        work,
        cost: Vec::new(),
        tries: Vec::new(),
    };
    let outcome = bench.all(&stamp).await;
    bench.stack.drop_databases_like(&format!("labpage_{}_", bench.id), Duration::from_secs(30)).await;
    let measured = report::Measured { rec: &bench.rec, cost: &bench.cost, tries: &bench.tries };
    let written = report::write(&measured, &out);
    outcome?;
    written?;
    Ok(out)
}

impl Bench {
    async fn all(&mut self, stamp: &str) -> anyhow::Result<()> {
        for (key, value) in self.stack.machine().await? {
            self.rec.record(key, value)?;
        }
        self.rec.record("run.time", stamp)?;
        self.rec.record("run.commit", commit(&self.repo.root))?;
        let a = self.args.clone();
        self.rec.record("settings.orders", a.orders)?;
        self.rec.record("settings.partitions", PARTITIONS)?;
        self.rec.record("settings.consumers", CONSUMERS)?;
        self.rec.record("settings.pairs", a.pairs)?;
        self.rec.record("settings.tries", a.tries)?;
        self.rec.record("settings.rate", a.rate)?;
        self.rec.record("settings.session_timeout_s", a.session_timeout.as_secs_f64())?;
        self.rec.record("settings.group_poll_ms", latency::GROUP_POLL.as_millis())?;
        if let Some(every) = a.lab_count_every {
            self.rec.record("settings.lab_count_every_s", every.as_secs_f64())?;
        }
        if !a.latency_only {
            self.costs().await?;
        }
        if !a.cost_only {
            self.latency().await?;
        }
        Ok(())
    }

    /// The topic, group and database names of run `label`.
    pub fn names(&self, label: &str) -> (String, String) {
        (format!("labpage-{}-{label}", self.id), format!("labpage_{}_{label}", self.id))
    }
}

/// `git rev-parse --short HEAD` in `root`, "unknown" when git cannot say.
fn commit(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The middle value (the mean of the two middle ones for an even count); `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The largest value; `None` for none.
pub fn worst(values: &[f64]) -> Option<f64> {
    values.iter().copied().filter(|v| v.is_finite()).reduce(f64::max)
}

/// `value` rounded to `digits` decimals, for the JSON.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[0.99, 1.01, 0.95, 1.0]), Some(0.995));
        assert_eq!(median(&[]), None);
        assert_eq!(worst(&[0.2, 1.4, -0.1]), Some(1.4));
        assert_eq!(round(0.98765, 3), 0.988);
    }

    #[test]
    fn options_are_checked_before_anything_runs() {
        let parse = crate::parse_options::<LabPageArgs>;
        let d = parse(&[]).unwrap();
        assert_eq!((d.orders, d.pairs, d.tries, d.rate), (1_000_000, 6, 10, 200));
        assert_eq!(d.session_timeout, Duration::from_secs(6));
        assert!(parse(&["--pairs", "0"]).unwrap_err().contains("--pairs"));
        assert!(parse(&["--tries", "1000"]).unwrap_err().contains("--tries"));
        assert!(parse(&["--cost-only", "--latency-only"]).unwrap_err().contains("cannot be used with"));
    }
}
