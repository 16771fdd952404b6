//! Options of the rebalance benchmark.

use std::path::PathBuf;
use std::time::Duration;

use super::configs::{ALL, GroupConfig, QUICK};

/// Every option of `lab rebalance` (`scripts/lab.sh rebalance` passes its arguments through).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchSettings {
    /// Smoke mode: one configuration (cooperative-sticky unless --configs says otherwise), 2 s steady windows.
    /// Writes the results folder only, never the docs.
    #[arg(long)]
    pub quick: bool,

    /// Configurations to run, comma-separated: range, range-static, coop, coop-static, kip848, kip848-static
    /// (default: all six). The docs are regenerated only when all six run.
    #[arg(long, value_delimiter = ',')]
    pub configs: Vec<String>,

    /// Producer rate for the whole run of each configuration, orders/s (spread over 6 partitions).
    #[arg(long, default_value_t = 600.0)]
    pub rate: f64,

    /// Steady window before each event; its longest per-partition gap is the event's baseline.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub steady: Duration,

    /// Kept running after the group settled, so a late second move is seen before the figures are taken.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub after: Duration,

    /// Longest wait for the group to settle after an event (KIP-848 takeovers wait the broker's 45 s).
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub settle_timeout: Duration,

    /// Session timeout given to classic-protocol consumers, ms (the consumer's default). KIP-848 ignores it.
    #[arg(long = "session-timeout-ms", default_value = "10000", value_parser = shared::duration::positive_millis)]
    pub session_timeout: Duration,

    /// Runs a configuration again (with fresh names) when an event was disturbed by Kafka or Postgres not
    /// answering (the stack is shared with fault tests) or when it stopped early; at most this many times.
    #[arg(long, default_value_t = 1)]
    pub retries: u32,

    /// Folder for the raw results (default results/rebalance-<UTC time>).
    #[arg(long)]
    pub results: Option<PathBuf>,

    /// Also rewrite docs/rebalancing.md (its generated part) and docs/rebalancing.json: only in a full run, and
    /// only when asked; the run's own results.md is written either way.
    #[arg(long)]
    pub write_docs: bool,

    /// Keep each configuration's database, topics and group for inspection.
    #[arg(long)]
    pub keep: bool,

    /// Kafka as reached from this machine.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,

    /// Postgres of the local stack; each configuration gets its own database beside this one.
    #[command(flatten)]
    pub database: shared::database::Database,
}

impl BenchSettings {
    /// The configurations to run, in order.
    ///
    /// # Errors
    /// When --configs names an unknown configuration.
    pub fn selected(&self) -> anyhow::Result<Vec<GroupConfig>> {
        if self.configs.is_empty() {
            return Ok(if self.quick { vec![QUICK] } else { ALL.to_vec() });
        }
        self.configs
            .iter()
            .map(|name| {
                ALL.iter().find(|c| c.name == name).copied().ok_or_else(|| {
                    let known: Vec<&str> = ALL.iter().map(|c| c.name).collect();
                    anyhow::anyhow!("unknown configuration '{name}' (known: {})", known.join(", "))
                })
            })
            .collect()
    }

    /// Steady window, shortened by --quick.
    pub fn steady_window(&self) -> Duration {
        if self.quick { self.steady.min(Duration::from_secs(2)) } else { self.steady }
    }

    /// Whether this run rewrites the docs: a full run of every configuration.
    pub fn writes_docs(&self, selected: &[GroupConfig]) -> bool {
        !self.quick && self.write_docs && selected.len() == ALL.len()
    }
}
