use std::process::ExitCode;

use clap::Parser;
use order_autoscaler::AutoscalerSettings;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let settings = AutoscalerSettings::parse();
    match order_autoscaler::run(settings, shared::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
