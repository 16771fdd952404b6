use std::process::ExitCode;

use clap::Parser;
use scaling_experiment::Settings;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let settings = Settings::parse();
    match scaling_experiment::run(settings).await {
        Ok(report) if report.passed() => ExitCode::SUCCESS,
        Ok(report) => {
            eprintln!("error: {} expectation(s) failed; see {}", report.failures(), report.dir.display());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
