//! `rebalance-bench`: see `scripts/rebalance-bench.sh --help` and `docs/rebalancing.md`.

use std::process::ExitCode;

use clap::Parser;
use scaling_experiment::rebalance::{self, BenchSettings};

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    match rebalance::run(BenchSettings::parse()).await {
        Ok(report) if report.all_ok() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("error: a configuration stopped early or lost orders; see the results");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
