use std::process::ExitCode;

use clap::Parser;
use order_producer::ProducerSettings;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let settings = ProducerSettings::parse();
    match order_producer::run(&settings, shared::shutdown::signal()).await {
        Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
        Ok(summary) => {
            eprintln!(
                "error: {} of {} orders were not delivered (see the delivery_failed lines above)",
                summary.failed, summary.sent
            );
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
