//! What librdkafka reports back to the producer, on its own threads: every delivery report, counted in
//! [`Metrics`], and the brokers it could not reach, kept for [`crate::stall`]'s diagnosis.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use tokio::sync::Notify;

use crate::events::{Acked, DeliveryFailed, Metrics};

/// Brokers librdkafka failed to reach within this window count as unreachable.
const UNREACHABLE_WINDOW: Duration = Duration::from_secs(10);

/// The producer's librdkafka context: counts delivery reports (on librdkafka's delivery-report thread) and notes
/// the brokers librdkafka cannot reach (from its error callback).
pub struct DeliveryCounter {
    pub(crate) metrics: Arc<Metrics>,
    first_delivery: Notify,
    /// Brokers librdkafka could not reach lately, for [`crate::stall`]'s diagnosis.
    pub(crate) unreachable: Unreachable,
}

impl DeliveryCounter {
    /// A context counting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics, first_delivery: Notify::new(), unreachable: Unreachable::default() }
    }

    /// Waits until the first record's delivery report (acknowledged or failed); false when `timeout` passed first.
    pub async fn first_delivery(&self, timeout: Duration) -> bool {
        let notified = self.first_delivery.notified();
        self.metrics.delivered_any() || tokio::time::timeout(timeout, notified).await.is_ok()
    }
}

impl ClientContext for DeliveryCounter {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        shared::telemetry::log_librdkafka(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::BrokerTransportFailure) {
            self.unreachable.note(reason);
        }
        shared::telemetry::log_client_error(&error, reason);
    }
}

impl ProducerContext for DeliveryCounter {
    /// 1 for a new order, 0 for a status update.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, is_new_order: usize) {
        match result {
            Ok(message) => {
                let sent_at = message.timestamp().to_millis().and_then(|ms| u64::try_from(ms).ok());
                let waited = sent_at.and_then(|ms| {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
                    now.checked_sub(Duration::from_millis(ms))
                });
                self.metrics.emit(Acked { new_order: is_new_order == 1, waited });
            }
            Err((error, message)) => {
                let key = message.key().map(String::from_utf8_lossy).unwrap_or_default();
                self.metrics.emit(DeliveryFailed { error, key: &key, partition: message.partition() });
            }
        }
        if self.metrics.first_delivery() {
            self.first_delivery.notify_one();
        }
    }
}

/// Brokers librdkafka reported a connection failure for, and when (fed by the producer's error callback).
#[derive(Default)]
pub struct Unreachable(Mutex<BTreeMap<String, Instant>>);

impl Unreachable {
    /// Notes a transport failure; `reason` is librdkafka's text, which starts with the broker's name
    /// (`127.0.0.1:9094/2: Connect to …`).
    pub fn note(&self, reason: &str) {
        if let (Some((broker, _)), Ok(mut map)) = (reason.split_once(": "), self.0.lock()) {
            map.insert(broker.to_owned(), Instant::now());
        }
    }

    /// The brokers that failed within the last [`UNREACHABLE_WINDOW`].
    pub fn recent(&self) -> Vec<String> {
        match self.0.lock() {
            Ok(map) => map.iter().filter(|(_, at)| at.elapsed() < UNREACHABLE_WINDOW).map(|(b, _)| b.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_name_is_read_from_the_front_of_librdkafkas_reason() {
        let u = Unreachable::default();
        u.note(
            "127.0.0.1:9096/3: Connect to ipv4#127.0.0.1:9096 failed: Connection refused (after 0ms in state CONNECT)",
        );
        assert_eq!(u.recent(), vec!["127.0.0.1:9096/3".to_owned()]);
    }
}
