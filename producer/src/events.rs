//! The producer's observable events, each a small type that logs its fixed fields once and updates its metrics
//! (as in the consumer's `events`), and [`Metrics`], the registry `/metrics` serves (see [`shared::metrics`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use shared::metrics::Readiness;
use tracing::{error, info, warn};

/// The producer's metrics, and the registry that serves them.
pub struct Metrics {
    registry: Arc<Registry>,
    pub sent: Counter,
    pub acked: Counter,
    pub acked_new_orders: Counter,
    pub failed: Counter,
    pub in_flight: Gauge,
    pub delivery_seconds: Histogram,
    pub rate_target: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Times acknowledgements stopped for [`crate::stall::STALL_AFTER`] or longer with records waiting.
    pub stalls: Counter,
    /// 1 while acknowledgements are stopped (the producer waits for brokers), else 0.
    pub waiting: Gauge,
    /// The longest stall that ended, in milliseconds (for the summary).
    pub longest_stall_ms: AtomicU64,
    /// Set by the first delivery report: the broker answers, so `/readyz` says ready.
    delivered_any: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Self {
            registry: Arc::default(),
            sent: Counter::default(),
            acked: Counter::default(),
            acked_new_orders: Counter::default(),
            failed: Counter::default(),
            in_flight: Gauge::default(),
            // 0.5 ms to 16 s.
            delivery_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            rate_target: Gauge::default(),
            stalls: Counter::default(),
            waiting: Gauge::default(),
            longest_stall_ms: AtomicU64::new(0),
            delivered_any: AtomicBool::new(false),
        };
        let mut r = Registry::default();
        r.register("order_producer_orders_sent", "Records handed to librdkafka", m.sent.clone());
        r.register("order_producer_orders_acked", "Records acknowledged by all in-sync replicas", m.acked.clone());
        r.register(
            "order_producer_new_orders_acked",
            "Of the acknowledged records, new orders (the rest are status updates)",
            m.acked_new_orders.clone(),
        );
        r.register("order_producer_orders_failed", "Records librdkafka gave up on", m.failed.clone());
        r.register("order_producer_in_flight", "Records sent and not yet acknowledged or failed", m.in_flight.clone());
        r.register(
            "order_producer_delivery_seconds",
            "From the record's timestamp (its send) to its acknowledgement",
            m.delivery_seconds.clone(),
        );
        r.register(
            "order_producer_rate_target",
            "Orders per second asked for (0: as fast as possible)",
            m.rate_target.clone(),
        );
        r.register(
            "order_producer_stalls",
            "Times acknowledgements stopped for 2 s or more while records waited (brokers down, no leader, NotEnoughReplicas)",
            m.stalls.clone(),
        );
        r.register(
            "order_producer_waiting",
            "1 while acknowledgements are stopped and records wait (librdkafka retries them)",
            m.waiting.clone(),
        );
        Self { registry: Arc::new(r), ..m }
    }
}

impl Metrics {
    /// The registry `/metrics` serves.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// Counts `event` and logs it. The producer always counts: its summary reads these counters.
    pub fn emit(&self, event: impl Event) {
        event.count(self);
        event.log();
    }

    /// Whether any delivery report came (acknowledged or failed). Returns true the first time only.
    pub fn first_delivery(&self) -> bool {
        !self.delivered_any.load(Ordering::Relaxed) && !self.delivered_any.swap(true, Ordering::Relaxed)
    }

    pub fn delivered_any(&self) -> bool {
        self.delivered_any.load(Ordering::Relaxed)
    }
}

impl Readiness for Metrics {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        let ready =
            if self.delivered_any() { Ok(()) } else { Err("no delivery report from the broker yet".to_owned()) };
        Box::pin(std::future::ready(ready))
    }
}

/// Something that happened: logged, and counted in [`Metrics`].
pub trait Event {
    /// Updates the metrics.
    fn count(&self, _metrics: &Metrics) {}

    /// Logs the event's line, if it has one.
    fn log(&self) {}
}

/// A record handed to librdkafka (not logged: thousands a second).
pub struct Sent;

impl Event for Sent {
    fn count(&self, m: &Metrics) {
        m.sent.inc();
        m.in_flight.inc();
    }
}

/// A record acknowledged; `waited` from its timestamp, when it has one.
pub struct Acked {
    pub new_order: bool,
    pub waited: Option<Duration>,
}

impl Event for Acked {
    fn count(&self, m: &Metrics) {
        m.acked.inc();
        m.in_flight.dec();
        if self.new_order {
            m.acked_new_orders.inc();
        }
        if let Some(waited) = self.waited {
            m.delivery_seconds.observe(waited.as_secs_f64());
        }
    }
}

/// librdkafka gave up on a record after its retries.
pub struct DeliveryFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
    pub key: &'a str,
    pub partition: i32,
}

impl Event for DeliveryFailed<'_> {
    fn count(&self, m: &Metrics) {
        m.failed.inc();
        m.in_flight.dec();
    }

    fn log(&self) {
        error!(event = "delivery_failed", error = %self.error, key = %self.key, partition = self.partition,
               "order not delivered");
    }
}

/// librdkafka refused a record outright (it never went in flight).
pub struct SendFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
    pub order_id: &'a dyn std::fmt::Display,
}

impl Event for SendFailed<'_> {
    fn count(&self, m: &Metrics) {
        m.failed.inc();
    }

    fn log(&self) {
        error!(event = "send_failed", error = %self.error, order_id = %self.order_id, "order not sent");
    }
}

/// Records have waited [`crate::stall::STALL_AFTER`] with no acknowledgement: logged once per stall, with why.
pub struct ProducerWaiting<'a> {
    pub in_flight: i32,
    pub waited: Duration,
    /// Why, as far as the brokers' metadata tells (a [`crate::stall::Diagnosis`]).
    pub diagnosis: &'a dyn std::fmt::Display,
}

impl Event for ProducerWaiting<'_> {
    fn count(&self, m: &Metrics) {
        m.stalls.inc();
        m.waiting.set(1);
    }

    fn log(&self) {
        warn!(event = "producer_waiting", in_flight = self.in_flight, waited_ms = self.waited.as_millis() as u64,
              diagnosis = %self.diagnosis,
              "no acknowledgement for a while: records wait and librdkafka retries them (idempotent: no duplicate)");
    }
}

/// Acknowledgements came again after a stall.
pub struct ProducerResumed {
    pub stalled: Duration,
}

impl Event for ProducerResumed {
    fn count(&self, m: &Metrics) {
        m.waiting.set(0);
        m.longest_stall_ms.fetch_max(self.stalled.as_millis() as u64, Ordering::Relaxed);
    }

    fn log(&self) {
        info!(event = "producer_resumed", stalled_ms = self.stalled.as_millis() as u64, "acknowledgements resumed");
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn in_flight_is_what_was_sent_and_not_yet_answered() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.emit(Sent);
        }
        m.emit(Acked { new_order: true, waited: Some(Duration::from_millis(3)) });
        m.emit(DeliveryFailed { error: &"timed out", key: "CUST-00001", partition: 0 });
        let mut text = String::new();
        encode(&mut text, &m.registry()).unwrap();
        assert!(text.contains("order_producer_in_flight 1\n"), "{text}");
        assert!(text.contains("order_producer_orders_sent_total 3\n"), "{text}");
        assert!(text.contains("order_producer_orders_failed_total 1\n"), "{text}");
        assert!(text.contains("order_producer_delivery_seconds_count 1\n"), "{text}");
    }
}
