//! Every observable event of the consumer, as a small type that logs its fixed fields once and updates its
//! metrics (the internal-events pattern of vector): a log line and a counter can never disagree, and the event
//! names (`event="…"` in the logs) stay stable for anything that greps them.
//!
//! [`Metrics`] holds one consumer's metrics and the registry `/metrics` serves (see [`shared::metrics`]). Names
//! follow Prometheus' conventions: an `order_consumer_` prefix, base units, `_total` on counters (added by the
//! encoder), labels with a bounded set of values. The group's lag per partition is named like the common
//! exporter's (`kafka_consumergroup_lag{consumergroup,topic,partition}`), so dashboards written for it work.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::{debug, error, info, warn};

use crate::batch::Batch;
use crate::decode::PoisonKind;

/// A dead-letter reason: one of [`PoisonKind`]'s names.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// What a rebalance did to this member: `assigned`, `revoked`, `lost` or `error`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

/// A topic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

/// One partition of the group's lag, labelled as the common Kafka exporter labels it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    pub consumergroup: String,
    pub topic: String,
    pub partition: String,
}

/// Which member this is, as a constant 1 (`order_consumer_info`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    pub client_id: String,
    pub consumergroup: String,
    pub topic: String,
}

/// One consumer's metrics, and the registry that serves them.
pub struct Metrics {
    registry: Arc<Registry>,
    /// False with `METRICS_ADDR=off`: nothing is served, so nothing is counted.
    recording: bool,
    pub records_consumed: Counter,
    pub rows_stored: Counter,
    pub dead_letters: Family<ReasonLabel, Counter>,
    pub batches_written: Counter,
    pub batch_messages: Histogram,
    pub db_write_seconds: Histogram,
    pub produce_to_row_seconds: Histogram,
    pub commits: Counter,
    pub commit_failures: Counter,
    pub assigned_partitions: Family<TopicLabel, Gauge>,
    pub topic_partitions: Family<TopicLabel, Gauge>,
    pub rebalances: Family<KindLabel, Counter>,
    pub paused_for_outage: Gauge,
    pub lag: Family<LagLabels, Gauge>,
    pub already_stored: Counter,
    pub skipped_below_stored: Counter,
    pub written_on_revoke: Counter,
    pub dropped_on_revoke: Counter,
    info: Family<InfoLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let m = Self {
            registry: Arc::default(),
            recording: true,
            records_consumed: Counter::default(),
            rows_stored: Counter::default(),
            dead_letters: Family::default(),
            batches_written: Counter::default(),
            // 1 to 16,384 messages.
            batch_messages: Histogram::new(exponential_buckets(1.0, 2.0, 15)),
            // 0.5 ms to 8 s.
            db_write_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
            // 1 ms to 65 s.
            produce_to_row_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            commits: Counter::default(),
            commit_failures: Counter::default(),
            assigned_partitions: Family::default(),
            topic_partitions: Family::default(),
            rebalances: Family::default(),
            paused_for_outage: Gauge::default(),
            lag: Family::default(),
            already_stored: Counter::default(),
            skipped_below_stored: Counter::default(),
            written_on_revoke: Counter::default(),
            dropped_on_revoke: Counter::default(),
            info: Family::default(),
        };
        let mut r = Registry::default();
        r.register("order_consumer_records_consumed", "Kafka records received", m.records_consumed.clone());
        r.register("order_consumer_rows_stored", "Rows inserted or updated in food_orders", m.rows_stored.clone());
        r.register(
            "order_consumer_dead_letters",
            "Messages acknowledged by the dead-letter topic, by reason",
            m.dead_letters.clone(),
        );
        r.register(
            "order_consumer_batches_written",
            "Batches written to Postgres, one per write (a batch split into lanes counts once per lane)",
            m.batches_written.clone(),
        );
        r.register("order_consumer_batch_messages", "Messages per written batch", m.batch_messages.clone());
        r.register(
            "order_consumer_db_write_duration_seconds",
            "Time to write one batch: dead letters, upsert and offsets",
            m.db_write_seconds.clone(),
        );
        r.register(
            "order_consumer_produce_to_row_seconds",
            "From the record's timestamp to its row committed",
            m.produce_to_row_seconds.clone(),
        );
        r.register("order_consumer_commits", "Offset commits the broker confirmed", m.commits.clone());
        r.register("order_consumer_commit_failures", "Offset commits that failed", m.commit_failures.clone());
        r.register("order_consumer_assigned_partitions", "Partitions this member owns", m.assigned_partitions.clone());
        r.register(
            "kafka_topic_partitions",
            "Partitions of the topic, as this member's metadata has it",
            m.topic_partitions.clone(),
        );
        r.register("order_consumer_rebalances", "Rebalance events, by what they did here", m.rebalances.clone());
        r.register(
            "order_consumer_paused_for_outage",
            "1 while a batch cannot be written and the partitions are paused",
            m.paused_for_outage.clone(),
        );
        r.register(
            "kafka_consumergroup_lag",
            "Log-end offset minus the group's committed offset, per partition this member owns",
            m.lag.clone(),
        );
        r.register(
            "order_consumer_already_stored",
            "Orders the upsert found stored at their version or newer: delivered again",
            m.already_stored.clone(),
        );
        r.register(
            "order_consumer_skipped_below_stored",
            "Messages below their partition's offset stored in Postgres, skipped",
            m.skipped_below_stored.clone(),
        );
        r.register(
            "order_consumer_written_on_revoke",
            "Messages written by a revocation before their partitions left",
            m.written_on_revoke.clone(),
        );
        r.register(
            "order_consumer_dropped_on_revoke",
            "Unwritten messages of revoked partitions dropped for their next owner",
            m.dropped_on_revoke.clone(),
        );
        r.register("order_consumer_info", "This member's client id, group and topic, as a constant 1", m.info.clone());
        // Every reason's and kind's series from 0, so that rates and alerts see the first one.
        for kind in PoisonKind::ALL {
            m.dead_letters.get_or_create(&ReasonLabel { reason: kind.as_str() }).inc_by(0);
        }
        for kind in ["assigned", "revoked", "lost", "error"] {
            m.rebalances.get_or_create(&KindLabel { kind }).inc_by(0);
        }
        Self { registry: Arc::new(r), ..m }
    }

    /// The registry `/metrics` serves.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// Says which member this is (`order_consumer_info{client_id,consumergroup,topic} 1`).
    pub fn identify(&self, client_id: &str, group: &str, topic: &str) {
        let labels =
            InfoLabels { client_id: client_id.to_owned(), consumergroup: group.to_owned(), topic: topic.to_owned() };
        self.info.get_or_create(&labels).set(1);
    }

    /// Logs `event` and, unless recording is off, counts it.
    pub fn emit(&self, event: impl Event) {
        if self.recording {
            event.count(self);
        }
        event.log();
    }

    /// Metrics that are never updated (`METRICS_ADDR=off`): the events are only logged.
    pub fn off() -> Self {
        Self { recording: false, ..Self::new() }
    }

    /// Dead letters of every reason.
    pub fn dead_lettered(&self) -> u64 {
        let reasons = PoisonKind::ALL.map(|kind| ReasonLabel { reason: kind.as_str() });
        reasons.iter().map(|reason| self.dead_letters.get_or_create(reason).get()).sum()
    }
}

/// Something that happened: logged, and counted in [`Metrics`] (unless recording is off, `METRICS_ADDR=off`).
pub trait Event {
    /// Updates the metrics.
    fn count(&self, _metrics: &Metrics) {}

    /// Logs the event's line, if it has one.
    fn log(&self) {}
}

/// A Kafka record received (not logged: there are thousands a second).
pub struct Consumed;

impl Event for Consumed {
    fn count(&self, m: &Metrics) {
        m.records_consumed.inc();
    }
}

/// A message below its partition's stored offset, skipped (`OFFSET_STORE=postgres`); logged once per partition
/// and assignment.
pub struct SkippedBelowStored {
    pub partition: i32,
    pub offset: i64,
    pub first: bool,
}

impl Event for SkippedBelowStored {
    fn count(&self, m: &Metrics) {
        m.skipped_below_stored.inc();
    }

    fn log(&self) {
        if self.first {
            warn!(
                event = "skipped_below_stored",
                partition = self.partition,
                offset = self.offset,
                "message below its partition's offset stored in Postgres skipped, it is already done \
                 (logged once per partition and assignment)"
            );
        }
    }
}

/// A poison message acknowledged by the dead-letter topic.
pub struct DeadLettered<'a> {
    pub kind: PoisonKind,
    pub reason: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl Event for DeadLettered<'_> {
    fn count(&self, m: &Metrics) {
        m.dead_letters.get_or_create(&ReasonLabel { reason: self.kind.as_str() }).inc();
    }

    fn log(&self) {
        warn!(event = "dead_lettered", kind = self.kind.as_str(), reason = %self.reason, partition = self.partition,
              offset = self.offset, "message sent to the dead-letter topic");
    }
}

/// A batch written: its rows committed by Postgres, its dead letters acknowledged.
pub struct BatchWritten<'a> {
    pub batch: &'a Batch,
    pub rows: u64,
    pub offsets: &'a BTreeMap<i32, i64>,
    pub took: Duration,
}

impl Event for BatchWritten<'_> {
    fn count(&self, m: &Metrics) {
        m.rows_stored.inc_by(self.rows);
        m.batches_written.inc();
        m.batch_messages.observe(self.batch.len() as f64);
        m.db_write_seconds.observe(self.took.as_secs_f64());
        m.paused_for_outage.set(0);
        let now = Utc::now();
        for produced in self.batch.produced_times() {
            let waited = (now - produced).num_microseconds().unwrap_or(i64::MAX).max(0);
            m.produce_to_row_seconds.observe(waited as f64 / 1e6);
        }
    }

    fn log(&self) {
        let (orders, poison) = self.batch.counts();
        debug!(event = "batch_written", orders, poison, rows = self.rows, offsets = ?self.offsets);
    }
}

/// Orders the upsert found stored at their version or newer: delivered and processed again. One line per batch,
/// since these lines survive a SIGKILL where the exit line's counters do not.
pub struct AlreadyStored<'a> {
    pub orders: u64,
    pub offsets: &'a BTreeMap<i32, i64>,
}

impl Event for AlreadyStored<'_> {
    fn count(&self, m: &Metrics) {
        m.already_stored.inc_by(self.orders);
    }

    fn log(&self) {
        if self.orders > 0 {
            info!(event = "already_stored", orders = self.orders, offsets = ?self.offsets,
                  "orders found already stored at their version or newer: delivered and processed again");
        }
    }
}

/// Postgres rejected a whole batch; its orders are written one by one to find the culprit.
pub struct BatchRejected<'a> {
    pub error: &'a dyn std::fmt::Display,
}

impl Event for BatchRejected<'_> {
    fn log(&self) {
        warn!(event = "batch_rejected", error = %self.error, "Postgres rejected the batch; writing its orders one by one");
    }
}

/// A batch could not be written (database or dead-letter topic down): partitions paused, retried.
pub struct BatchWriteFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
    pub retry_in: Duration,
    pub messages: usize,
}

impl Event for BatchWriteFailed<'_> {
    fn count(&self, m: &Metrics) {
        m.paused_for_outage.set(1);
    }

    fn log(&self) {
        error!(event = "batch_write_failed", error = %self.error, retry_in_ms = self.retry_in.as_millis() as u64,
               messages = self.messages, "batch not written; partitions paused, retrying");
    }
}

/// The held batch written by a revocation before its partitions left.
pub struct WrittenOnRevoke<'a> {
    pub partitions: &'a [i32],
    pub messages: usize,
}

impl Event for WrittenOnRevoke<'_> {
    fn count(&self, m: &Metrics) {
        m.written_on_revoke.inc_by(self.messages as u64);
    }

    fn log(&self) {
        info!(event = "batch_written_on_revoke", partitions = ?self.partitions, messages = self.messages,
              "held batch written before the partitions leave");
    }
}

/// Unwritten messages of revoked partitions dropped, for their next owner to read again.
pub struct DroppedOnRevoke<'a> {
    pub partitions: &'a [i32],
    pub dropped: usize,
}

impl Event for DroppedOnRevoke<'_> {
    fn count(&self, m: &Metrics) {
        m.dropped_on_revoke.inc_by(self.dropped as u64);
    }

    fn log(&self) {
        if self.dropped > 0 {
            info!(event = "batch_trimmed_on_revoke", partitions = ?self.partitions, dropped = self.dropped,
                  "unwritten messages of revoked partitions dropped; their new owner reads them again");
        }
    }
}

/// The broker confirmed a commit; `on_revoke` when it was the synchronous one before partitions left.
pub struct Committed<'a> {
    pub offsets: &'a dyn std::fmt::Debug,
    pub on_revoke: bool,
}

impl Event for Committed<'_> {
    fn count(&self, m: &Metrics) {
        m.commits.inc();
    }

    fn log(&self) {
        if self.on_revoke {
            debug!(event = "offsets_committed_on_revoke", offsets = ?self.offsets);
        } else {
            debug!(event = "offsets_committed", offsets = ?self.offsets);
        }
    }
}

/// A commit failed: retried later, or (`on_revoke`) left to the new owner, who re-reads a little.
pub struct CommitFailed<'a> {
    pub error: &'a dyn std::fmt::Display,
    pub on_revoke: bool,
}

impl Event for CommitFailed<'_> {
    fn count(&self, m: &Metrics) {
        m.commit_failures.inc();
    }

    fn log(&self) {
        if self.on_revoke {
            warn!(event = "commit_on_revoke_failed", error = %self.error,
                  "the new owner will re-read some messages; the upsert absorbs them");
        } else {
            warn!(event = "commit_failed", error = %self.error, "offset commit failed; retried later");
        }
    }
}

/// Partitions given to this member; `now` is its whole assignment after the change.
pub struct PartitionsAssigned<'a> {
    pub topic: &'a str,
    pub added: &'a [i32],
    pub now: &'a [i32],
}

impl Event for PartitionsAssigned<'_> {
    fn count(&self, m: &Metrics) {
        let topic = TopicLabel { topic: self.topic.to_owned() };
        m.assigned_partitions.get_or_create(&topic).set(self.now.len() as i64);
        if !self.added.is_empty() {
            m.rebalances.get_or_create(&KindLabel { kind: "assigned" }).inc();
        }
    }

    fn log(&self) {
        if self.added.is_empty() {
            debug!(event = "partitions_assigned", assignment = ?self.now,
                   "rebalance left this member's partitions as they were");
        } else {
            info!(event = "partitions_assigned", topic = self.topic, partitions = ?self.added,
                  assignment = ?self.now, "partitions assigned");
        }
    }
}

/// Partitions taken from this member: revoked in order (`lost: false`), or lost because it was expelled.
pub struct PartitionsRevoked<'a> {
    pub topic: &'a str,
    pub partitions: &'a [i32],
    pub lost: bool,
    pub group: &'a str,
}

impl Event for PartitionsRevoked<'_> {
    fn count(&self, m: &Metrics) {
        let topic = TopicLabel { topic: self.topic.to_owned() };
        m.assigned_partitions.get_or_create(&topic).dec_by(self.partitions.len() as i64);
        for partition in self.partitions {
            m.lag.remove(&LagLabels {
                consumergroup: self.group.to_owned(),
                topic: self.topic.to_owned(),
                partition: partition.to_string(),
            });
        }
        let kind = if self.lost { "lost" } else { "revoked" };
        m.rebalances.get_or_create(&KindLabel { kind }).inc();
    }

    fn log(&self) {
        if self.lost {
            warn!(event = "partitions_lost", partitions = ?self.partitions,
                  "assignment lost (expelled from the group): nothing committed, unwritten messages dropped");
        } else {
            info!(event = "partitions_revoked", topic = self.topic, partitions = ?self.partitions,
                  "partitions revoked");
        }
    }
}

/// librdkafka reported a rebalance error.
pub struct RebalanceError<'a> {
    pub error: &'a dyn std::fmt::Display,
}

impl Event for RebalanceError<'_> {
    fn count(&self, m: &Metrics) {
        m.rebalances.get_or_create(&KindLabel { kind: "error" }).inc();
    }

    fn log(&self) {
        warn!(event = "rebalance_error", error = %self.error, "rebalance error");
    }
}

/// librdkafka's statistics: the topic's partition count, and the lag of each partition this member owns (log-end
/// minus the group's committed offset; librdkafka reports -1 until it knows both). Not logged: it comes every few
/// seconds.
pub struct LagReported<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    pub partitions: usize,
    /// (partition, lag) of the owned partitions.
    pub lags: Vec<(i32, i64)>,
}

impl Event for LagReported<'_> {
    fn count(&self, m: &Metrics) {
        m.topic_partitions.get_or_create(&TopicLabel { topic: self.topic.to_owned() }).set(self.partitions as i64);
        for &(partition, lag) in &self.lags {
            let labels = LagLabels {
                consumergroup: self.group.to_owned(),
                topic: self.topic.to_owned(),
                partition: partition.to_string(),
            };
            if lag >= 0 {
                m.lag.get_or_create(&labels).set(lag);
            } else {
                m.lag.remove(&labels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    fn scrape(m: &Metrics) -> String {
        let mut text = String::new();
        encode(&mut text, &m.registry()).unwrap();
        text
    }

    #[test]
    fn a_revocation_takes_the_partitions_out_of_the_gauge_and_the_lag() {
        let m = Metrics::new();
        m.emit(PartitionsAssigned { topic: "t", added: &[0, 1, 2], now: &[0, 1, 2] });
        m.emit(LagReported { group: "g", topic: "t", partitions: 4, lags: vec![(0, 5), (1, 0), (2, -1)] });
        let text = scrape(&m);
        assert!(text.contains(r#"order_consumer_assigned_partitions{topic="t"} 3"#), "{text}");
        assert!(text.contains(r#"kafka_topic_partitions{topic="t"} 4"#), "{text}");
        assert!(text.contains(r#"kafka_consumergroup_lag{consumergroup="g",topic="t",partition="0"} 5"#), "{text}");
        assert!(!text.contains(r#"partition="2""#), "an unknown lag is not reported as a number: {text}");
        m.emit(PartitionsRevoked { topic: "t", partitions: &[0], lost: false, group: "g" });
        let text = scrape(&m);
        assert!(text.contains(r#"order_consumer_assigned_partitions{topic="t"} 2"#), "{text}");
        assert!(!text.contains(r#"partition="0""#), "{text}");
        assert!(text.contains(r#"order_consumer_rebalances_total{kind="revoked"} 1"#), "{text}");
    }

    #[test]
    fn dead_letters_are_counted_by_reason_and_counters_end_in_total() {
        let m = Metrics::new();
        for kind in [PoisonKind::NotJson, PoisonKind::NotJson, PoisonKind::DbRejected] {
            m.emit(DeadLettered { kind, reason: "r", partition: 0, offset: 1 });
        }
        let text = scrape(&m);
        assert!(text.contains(r#"order_consumer_dead_letters_total{reason="not_json"} 2"#), "{text}");
        assert!(text.contains(r#"order_consumer_dead_letters_total{reason="db_rejected"} 1"#), "{text}");
        assert!(text.contains("# TYPE order_consumer_records_consumed counter"), "{text}");
        assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
    }
}
