//! `compose-scenario`: see `scripts/compose-test.sh --help` and `docs/containers.md`.

use std::process::ExitCode;

use clap::Parser;
use scaling_experiment::compose::{self, ScenarioSettings};

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    match compose::run(ScenarioSettings::parse()).await {
        Ok(report) if report.failures() == 0 => ExitCode::SUCCESS,
        Ok(report) => {
            eprintln!("error: {} check(s) failed", report.failures());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
