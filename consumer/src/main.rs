use std::process::ExitCode;

use clap::Parser;
use order_consumer::ConsumerSettings;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    let settings = ConsumerSettings::parse();
    match order_consumer::run(settings, shared::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
