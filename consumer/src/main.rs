use std::process::ExitCode;

use clap::Parser;
use order_consumer::ConsumerSettings;

/// jemalloc, with one arena and freed pages returned after half a second: against the system allocator, about a
/// sixth less CPU per stored order, for a peak RSS 1.1–1.6 MiB higher at the same batch size (docs/performance.md,
/// run I).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start (the crate's jemalloc has its symbols prefixed `_rjem_`).
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8; 46] = b"narenas:1,dirty_decay_ms:500,muzzy_decay_ms:0\0";

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
