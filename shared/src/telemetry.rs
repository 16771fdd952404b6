//! Tracing set-up for the binaries, and the one place that decides how loud librdkafka's errors are.

use std::io::IsTerminal;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: lines on stderr, coloured only on a terminal, filtered by `RUST_LOG`
/// (default `info`). Call once, first thing in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Logs a client-level librdkafka error. Lost connections are expected while a broker restarts and librdkafka
/// reconnects by itself, so they are logged at `debug`; anything else at `warn`.
pub fn log_client_error(error: &KafkaError, reason: &str) {
    let transient = matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::Resolve)
    );
    if transient {
        tracing::debug!(event = "kafka_client_error", %error, reason, "Kafka connection problem; librdkafka retries");
    } else {
        tracing::warn!(event = "kafka_client_error", %error, reason, "Kafka client error");
    }
}
