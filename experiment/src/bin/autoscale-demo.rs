//! `autoscale-demo`: see `scripts/autoscale-demo.sh --help` and docs/kubernetes.md.

use std::process::ExitCode;

use clap::Parser;
use scaling_experiment::autoscale::{self, DemoSettings};

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    match autoscale::run(DemoSettings::parse()).await {
        Ok(report) if report.failures() == 0 => ExitCode::SUCCESS,
        Ok(report) => {
            eprintln!("error: {} check(s) failed; see {}", report.failures(), report.dir.display());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
