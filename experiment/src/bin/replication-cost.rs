//! `replication-cost`: see `experiment/src/replication.rs` and `docs/cluster.md`.

use std::process::ExitCode;

use clap::Parser;
use scaling_experiment::replication::{self, CostSettings};

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let root = std::path::PathBuf::from(std::env::var("ROOT_DIR").unwrap_or_else(|_| ".".into()));
    match replication::run(&CostSettings::parse(), &root).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
