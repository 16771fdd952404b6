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

/// librdkafka facilities whose messages describe something librdkafka recovers from by itself: a commit refused
/// during a rebalance (the pipeline commits again after it), a lost connection (reconnected). Logged at `debug`.
const ROUTINE_FACILITIES: &[&str] = &["COMMITFAIL", "FAIL"];

/// Routes one librdkafka log line into tracing, with routine recoveries demoted to `debug`.
pub fn log_librdkafka(level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    if ROUTINE_FACILITIES.contains(&facility) {
        tracing::debug!(event = "librdkafka", facility, "{message}");
        return;
    }
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => tracing::error!(event = "librdkafka", facility, "{message}"),
        L::Warning => tracing::warn!(event = "librdkafka", facility, "{message}"),
        L::Notice | L::Info => tracing::info!(event = "librdkafka", facility, "{message}"),
        L::Debug => tracing::debug!(event = "librdkafka", facility, "{message}"),
    }
}

/// The context of a Kafka client that needs no callbacks of its own: librdkafka's logs and errors through the two
/// functions above.
pub struct KafkaLogs;

impl rdkafka::ClientContext for KafkaLogs {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        log_librdkafka(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(&error, reason);
    }
}

impl rdkafka::consumer::ConsumerContext for KafkaLogs {}
