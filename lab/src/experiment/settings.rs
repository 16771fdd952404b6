//! Options of the scaling experiment.

use std::path::PathBuf;
use std::time::Duration;

pub use shared::DEFAULT_DATABASE_URL;
use shared::database::Database;

/// Every option of `lab experiment` (`scripts/lab.sh experiment` passes its arguments through).
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Which stack to run against: `local` (scripts/stack.sh) or `compose` (docker-compose.yml, fresh).
    #[arg(long, env = "STACK", default_value = "local", value_parser = ["local", "compose"])]
    pub stack: String,

    /// Producer rate during the whole experiment, orders/s.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,

    /// How long each phase runs once its expectation holds, e.g. `20s`.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub phase: Duration,

    /// Short mode for CI: 6 s phases, 100 orders/s, a small efficiency run.
    #[arg(long)]
    pub short: bool,

    /// Group session timeout given to the consumers, in ms (the SIGKILL takeover is bounded by it).
    #[arg(long = "session-timeout-ms", default_value = "10000", value_parser = shared::duration::positive_millis)]
    pub session_timeout: Duration,

    /// Simulated work per order in the efficiency run, ms (one consumer then cannot keep up).
    #[arg(long = "efficiency-delay-ms", default_value = "5", value_parser = shared::duration::millis)]
    pub efficiency_delay: Duration,

    /// Orders in the efficiency run.
    #[arg(long, default_value_t = 3_000)]
    pub efficiency_orders: u64,

    /// Skip the efficiency run.
    #[arg(long)]
    pub skip_efficiency: bool,

    /// Folder for the report (default results/experiment-<time>).
    #[arg(long)]
    pub results: Option<PathBuf>,

    /// Kafka as reached from this machine (both stacks listen on 127.0.0.1:9092).
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,

    /// Postgres as reached from this machine, pointing at the stack's own database; the experiment creates its
    /// databases beside it (local stack).
    #[command(flatten)]
    pub database: Database,
}

impl Settings {
    /// Applies `--short`.
    pub fn effective(mut self) -> Self {
        if self.short {
            self.phase = Duration::from_secs(6);
            self.rate = 100.0;
            self.efficiency_orders = self.efficiency_orders.min(1_200);
        }
        self
    }

    pub fn is_compose(&self) -> bool {
        self.stack == "compose"
    }
}
