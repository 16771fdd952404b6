//! The consumer's loop: Kafka → decode → batch → (dead-letter topic, Postgres) → commit.
//!
//! One task consumes, decodes and batches in order; each batch is written while the loop fills the next one
//! ([`InFlight`]), split by customer into up to `WRITE_CONCURRENCY` writes, each on a task and a database connection
//! of its own, behind the same customers' write of the batch before (two batches in flight at most), so each
//! customer's messages are written in the order consumed and a failed write is retried before anything after it.
//! With `OFFSET_STORE=postgres` a batch is split by whole partitions and waits until the one before has settled.
//!
//! The pipeline assembles the stages: it gives the source a [`Handover`] as its rebalance hook, and while it waits
//! in `recv()` (where librdkafka runs the rebalance callbacks) lends it the batch and the writes in flight; a
//! revocation waits for those writes and writes the batch before the partitions leave (see [`crate::rebalance`]);
//! a revocation while a write is failing drops the revoked partitions' messages instead, uncommitted, for their
//! next owner. Commits go through [`crate::offsets`].
//!
//! Batching is adaptive: with messages held, the loop takes only what already waits in librdkafka's queue and
//! writes as soon as nothing more does (or at `BATCH_SIZE`, or `BATCH_TIMEOUT_MS` after the batch began). At a low
//! rate an order waits for one write; under load the queue refills during each write, so batches fill, and the
//! next batch is decoded while Postgres stores the previous one.
//!
//! A transient failure (database down, dead-letter topic unavailable) keeps the batch, pauses the partitions and
//! keeps polling, so the member stays in the group, and retries with backoff; nothing is committed meanwhile.
//! Simulated work (`PROCESSING_DELAY_MS`) is done the same way: paused, polling, never silent for longer than
//! `max.poll.interval.ms`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use shared::client_id::client_id;
use shared::kafka::ProtectedProperty;
use shared::metrics::{MetricsError, MetricsServer};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::batch::{Batch, Entry, Outcome, Split};
use crate::config::{ConsumerSettings, OffsetStore};
use crate::dead_letter::DeadLetters;
use crate::decode::decode;
use crate::events::{BatchWriteFailed, Consumed, DroppedOnRevoke, Metrics, SkippedBelowStored};
use crate::health::Health;
use crate::offsets::Offsets;
use crate::pool::{self, ConnectError};
use crate::rebalance::{self, Handover, Lent, UnsupportedRuntime};
use crate::roles::DatabaseRoles;
use crate::source::{self, OrderConsumer, SourceError};
use crate::store::OffsetKey;
use crate::writer::{InFlight, Settled, WriteError, Writer};

/// How long the loop waits for a message when the batch is empty, before it looks at commits and progress. Also
/// the longest a message can wait when `recv()` misses a wake-up: the consumer queue carries commit results and
/// logs too, and rust-rdkafka's `StreamConsumer` can stay asleep after serving one of them while messages arrive
/// (fede1024/rust-rdkafka#665); this tick bounds such a wait.
const IDLE_TICK: Duration = Duration::from_millis(50);
/// How often a progress line is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Longest pause between two tries of a batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Simulated work up to this long is slept through without polling. Longer work pauses the partitions and keeps
/// polling, so the member never goes silent for `max.poll.interval.ms`; but a pause drops librdkafka's prefetched
/// messages and the resume fetches them again, which cost ~0.4 s per batch (docs/performance.md).
const WORK_WITHOUT_POLLING: Duration = Duration::from_secs(1);
/// Shortest time between two asynchronous commits while batches are written back to back. With adaptive batching
/// a consumer at a low rate writes one small batch per fetch response, hundreds a second; committing each would be
/// as many requests to the group coordinator. What is done but not yet committed is committed when the loop is
/// idle, on revocation and on shutdown, so the throttle only delays what lag tools see, by at most this long.
const COMMIT_INTERVAL: Duration = Duration::from_millis(100);
/// Most batches being written at once: one being stored while the next one's writes start behind it, lane by lane
/// ([`InFlight`]), so the database does not wait for the loop, nor the loop for the database.
const BATCHES_IN_FLIGHT: usize = 2;
/// How long shutdown keeps trying to write the last batch before leaving it to the next owner.
const SHUTDOWN_WRITE_BUDGET: Duration = Duration::from_secs(10);

/// Why the consumer could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Runtime(#[from] UnsupportedRuntime),
    #[error(transparent)]
    Config(#[from] ProtectedProperty),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Database(#[from] ConnectError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("invalid Kafka configuration: {0}")]
    DeadLetter(#[source] KafkaError),
    #[error("a batch's write ended without an answer ({0}); stopping, with nothing after it committed")]
    WriteLost(String),
}

/// Runs one group member until `shutdown` resolves, then writes what it holds, commits and leaves the group.
///
/// # Errors
/// Start-up failures: a runtime that cannot serve revocations (checked first, before any connection), bad
/// configuration, Kafka or Postgres unreachable, the topic missing, a failed migration.
pub async fn run(settings: ConsumerSettings, shutdown: impl Future<Output = ()>) -> Result<(), ConsumerError> {
    rebalance::check_runtime()?;
    if settings.migrate_only {
        return migrate_only(&settings).await;
    }
    let client_id = client_id(&settings.client_id_base);
    let span = info_span!("consumer", client_id = %client_id);
    // METRICS_ADDR=off: nothing served, so nothing counted (the events are still logged).
    let metrics = Arc::new(if settings.metrics.is_off() { Metrics::off() } else { Metrics::new() });
    let health = Arc::new(Health::default());
    metrics.identify(&client_id, &settings.group_id, &settings.topic);
    // Listening first, so a taken port fails start-up before anything is connected; served until `run` returns.
    let _server = MetricsServer::start(&settings.metrics, metrics.registry(), Arc::clone(&health) as _)
        .instrument(span.clone())
        .await?;
    let pipeline = Pipeline::start(settings, client_id, metrics, health).instrument(span.clone()).await?;
    let stop = CancellationToken::new();
    let running = pipeline.run(stop.clone()).instrument(span);
    tokio::pin!(running);
    tokio::select! {
        result = &mut running => return result,
        () = shutdown => stop.cancel(),
    }
    running.await
}

/// The two Kafka clients' configurations, checked before anything is connected.
struct Clients {
    consumer: ClientConfig,
    dead_letter: ClientConfig,
}

/// `--migrate-only`: the connection's set-up alone (migrations, then the working role's privileges), then exit.
async fn migrate_only(settings: &ConsumerSettings) -> Result<(), ConsumerError> {
    let offsets_table = settings.offset_store == OffsetStore::Postgres;
    let pool = pool::connect(&DatabaseRoles::of(settings), 1, settings.connect_timeout, offsets_table).await?;
    pool::close(&pool).await;
    info!(event = "migrated", "migrations applied and privileges checked; exiting without joining the group");
    Ok(())
}

struct Pipeline {
    settings: ConsumerSettings,
    consumer: Arc<OrderConsumer>,
    writer: Arc<Writer>,
    offsets: Arc<Offsets>,
    /// The source's rebalance hook; the batch and the writes in flight are lent to it while the loop waits in
    /// `recv()`.
    handover: Arc<Handover>,
    batch: Batch,
    /// The previous batch, being written while `batch` fills.
    in_flight: InFlight,
    /// Consume errors since the last message: while a broker is down librdkafka reports one per poll.
    consume_errors: u64,
    /// Whether this member has a `group.instance.id`: a static member does not leave the group on shutdown.
    static_member: bool,
    /// When the last asynchronous commit after a write was sent (see [`COMMIT_INTERVAL`]).
    last_commit: Instant,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

impl Pipeline {
    async fn start(
        settings: ConsumerSettings,
        client_id: String,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<Self, ConsumerError> {
        info!(event = "consumer_starting", group = %settings.group_id, topic = %settings.topic,
              batch_size = settings.batch_size, batch_timeout_ms = settings.batch_timeout.as_millis() as u64,
              write_concurrency = settings.write_concurrency,
              processing_delay_ms = settings.processing_delay.as_millis() as u64,
              group_protocol = %settings.group_protocol,
              offset_store = settings.offset_store.as_str(),
              group_instance_id = settings.group_instance_id().as_deref().unwrap_or("-"), "starting");
        let consumer_config = settings.consumer_config(&client_id)?;
        let dead_letter_config = settings.dead_letter_config(&client_id)?;
        // `OFFSET_STORE=postgres`: the group's rows of `consumer_offsets`, which the pool must be allowed to use.
        let offset_key = (settings.offset_store == OffsetStore::Postgres)
            .then(|| OffsetKey { group_id: settings.group_id.clone(), topic: settings.topic.clone() });
        // One connection per write in flight, and one for the readiness check and the start offsets' read.
        let connections = settings.write_concurrency + 1;
        let roles = DatabaseRoles::of(&settings);
        let pool = pool::connect(&roles, connections, settings.connect_timeout, offset_key.is_some()).await?;
        health.connected(&pool);
        let clients = Clients { consumer: consumer_config, dead_letter: dead_letter_config };
        match Self::join(settings, client_id, pool.clone(), offset_key, clients, metrics, health).await {
            Ok(pipeline) => Ok(pipeline),
            Err(error) => {
                // Start-up failed: the pool's sessions end now, not whenever the process exits.
                pool::close(&pool).await;
                Err(error)
            }
        }
    }

    /// With the database ready: the dead-letter producer, then the group.
    async fn join(
        settings: ConsumerSettings,
        client_id: String,
        pool: PgPool,
        offset_key: Option<OffsetKey>,
        clients: Clients,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<Self, ConsumerError> {
        let Clients { consumer: consumer_config, dead_letter: dead_letter_config } = clients;
        let dlq_metrics = Arc::clone(&metrics);
        let dead_letters =
            DeadLetters::new(&dead_letter_config, &settings.dlq_topic, &settings.topic, &client_id, dlq_metrics)
                .map_err(ConsumerError::DeadLetter)?;
        let processing_delay = settings.processing_delay;
        let writer_metrics = Arc::clone(&metrics);
        let writer = Arc::new(Writer::new(pool, dead_letters, client_id, processing_delay, offset_key, writer_metrics));
        let offsets = Arc::new(Offsets::new(&settings.topic, Arc::clone(&metrics)));
        let handover = Arc::new(Handover::new(Arc::clone(&writer), Arc::clone(&offsets)));
        // From the configuration itself, which a pass-through property may have set it in.
        let static_member = consumer_config.get("group.instance.id").is_some_and(|id| !id.is_empty());
        let consumer = source::subscribe(
            consumer_config,
            &settings.topic,
            &settings.kafka.bootstrap_servers,
            settings.connect_timeout,
            Arc::clone(&handover) as Arc<dyn source::GroupHook>,
            Arc::clone(&metrics),
        )
        .await?;
        health.member(true);
        info!(event = "consumer_started", group = %settings.group_id, topic = %settings.topic, "joined; waiting for partitions");
        Ok(Self {
            settings,
            consumer,
            writer,
            offsets,
            handover,
            batch: Batch::default(),
            in_flight: InFlight::default(),
            consume_errors: 0,
            static_member,
            last_commit: Instant::now(),
            metrics,
            health,
        })
    }

    async fn run(mut self, stop: CancellationToken) -> Result<(), ConsumerError> {
        let consumer = Arc::clone(&self.consumer);
        let batch_size = self.settings.batch_size as usize;
        let batch_timeout = self.settings.batch_timeout;
        let mut next_progress = Instant::now() + PROGRESS_EVERY;
        let mut last_progress = (Instant::now(), 0u64);

        while !stop.is_cancelled() {
            // With messages held, a poll that does not wait (the inner future is polled before the deadline).
            let wait = if self.batch.is_empty() { Instant::now() + IDLE_TICK } else { Instant::now() };
            // While waiting, the batch and the writes in flight are lent to the rebalance hook, which settles and
            // writes them if partitions leave.
            self.handover.lend(std::mem::take(&mut self.batch), std::mem::take(&mut self.in_flight));
            let received = tokio::select! {
                biased;
                () = stop.cancelled() => None,
                received = tokio::time::timeout_at(wait.into(), consumer.recv()) => Some(received),
            };
            let Lent { batch, in_flight, lost } = self.handover.take_back();
            (self.batch, self.in_flight) = (batch, in_flight);
            if let Some(reason) = lost {
                return Err(self.write_lost(reason));
            }
            self.drop_revoked();
            let mut drained = false;
            match received {
                None => break,
                Some(Ok(Ok(message))) => {
                    self.consume_errors = 0;
                    self.push(&message);
                }
                Some(Ok(Err(error))) => {
                    self.consume_errors += 1;
                    // The first of a run, then one line in a hundred: librdkafka reconnects by itself.
                    if self.consume_errors % 100 == 1 {
                        warn!(event = "consume_error", %error, errors_in_a_row = self.consume_errors,
                              "error from Kafka while consuming; librdkafka keeps retrying");
                    }
                    drained = true;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(Err(_nothing_waiting)) => drained = true,
            }
            let due = self.batch.deadline(batch_timeout).is_some_and(|d| Instant::now() >= d);
            if !self.batch.is_empty() && (drained || due || self.batch.len() >= batch_size) {
                if !self.write_batch(&stop).await? {
                    break;
                }
            } else if self.batch.is_empty() {
                if !self.in_flight.is_empty() && self.in_flight.is_finished() && !self.settle(&stop, 0).await? {
                    break;
                }
                self.commit(CommitMode::Async);
            }
            if Instant::now() >= next_progress {
                self.progress(&mut last_progress);
                next_progress += PROGRESS_EVERY;
            }
        }
        drop(consumer);
        self.shut_down().await;
        Ok(())
    }

    /// Turns a consumed message into a batch entry; poison is classified here, sent later with the batch.
    fn push(&mut self, message: &BorrowedMessage<'_>) {
        self.metrics.emit(Consumed);
        let (partition, offset) = (message.partition(), message.offset());
        if let Some(first) = self.offsets.below_stored(partition, offset) {
            self.metrics.emit(SkippedBelowStored { partition, offset, first });
            return;
        }
        // An order's key is its customer id (decode checked it), so only a poison message keeps a copy of its key.
        let (outcome, key) = match decode(message.key(), message.payload(), self.settings.max_message_bytes) {
            Ok(order) => (Outcome::Order(Box::new(order)), None),
            Err(poison) => (Outcome::Poison { poison, dead_lettered: false }, message.key().map(<[u8]>::to_vec)),
        };
        self.batch.push(Entry {
            partition,
            offset,
            produced_at: message.timestamp().to_millis().and_then(DateTime::from_timestamp_millis),
            key,
            payload: message.payload().map(<[u8]>::to_vec),
            outcome,
        });
    }

    /// Drops unwritten messages of partitions revoked since the last call (see [`crate::offsets`]).
    fn drop_revoked(&mut self) {
        let revoked = self.offsets.take_revoked();
        if !revoked.is_empty() {
            let dropped = self.batch.drop_partitions(&revoked);
            self.metrics.emit(DroppedOnRevoke { partitions: &revoked, dropped });
        }
    }

    /// Writes the batch, split by customer into up to `WRITE_CONCURRENCY` writes on tasks of their own, behind at
    /// most one batch still in flight ([`BATCHES_IN_FLIGHT`]), so the loop fills the next batch meanwhile. Split by
    /// whole partitions (offsets stored with the rows), a batch waits until the one before it has settled; a batch
    /// that owes simulated work waits for all, and is worked and written here instead
    /// ([`Self::write_with_retry`]). Returns false when `stop` was requested before a failed batch could be written.
    ///
    /// # Errors
    /// [`ConsumerError::WriteLost`], see [`Self::settle`].
    async fn write_batch(&mut self, stop: &CancellationToken) -> Result<bool, ConsumerError> {
        // A write that stores its partitions' offsets with its rows must hold them whole; whole partitions do not
        // keep to lanes from one batch to the next, so such a batch waits for the one before it.
        let by = if self.writer.stores_offsets() { Split::Partitions } else { Split::Keys };
        let owes_work = self.writer.work_owed(&self.batch).is_some();
        let keep = if by == Split::Keys && !owes_work { BATCHES_IN_FLIGHT - 1 } else { 0 };
        if !self.settle(stop, keep).await? {
            return Ok(false);
        }
        if self.batch.is_empty() {
            return Ok(true);
        }
        if owes_work {
            return Ok(self.write_with_retry(stop, None, None).await);
        }
        let lanes = self.settings.write_concurrency as usize;
        self.in_flight.start(&self.writer, std::mem::take(&mut self.batch).split(lanes, by));
        Ok(true)
    }

    /// Waits for the writes in flight, oldest batch first, until at most `keep` batches are in flight. What failed
    /// goes in front of the batch filled meanwhile and both are retried here, before anything later is written;
    /// returns false when `stop` was requested before they could be. What was written is committed (at most every
    /// [`COMMIT_INTERVAL`]).
    ///
    /// # Errors
    /// [`ConsumerError::WriteLost`]: a write's task ended without an answer.
    async fn settle(&mut self, stop: &CancellationToken, keep: usize) -> Result<bool, ConsumerError> {
        if self.in_flight.is_empty() {
            return Ok(true);
        }
        match self.in_flight.settle_until(&self.offsets, keep).await {
            Settled::Written => {
                self.commit_throttled();
                Ok(true)
            }
            Settled::Failed(failed, error) => {
                self.batch.put_after(failed);
                Ok(self.write_with_retry(stop, None, Some(error)).await)
            }
            Settled::Lost(reason) => Err(self.write_lost(reason)),
        }
    }

    /// A write that ended without an answer: its messages may or may not be stored, so nothing consumed after them
    /// may be written or committed. The batch is dropped; what is done before them stays committable.
    fn write_lost(&mut self, reason: String) -> ConsumerError {
        error!(event = "batch_write_lost", %reason, messages_dropped = self.batch.len(),
               "a batch's write ended without an answer; stopping without writing or committing anything after it");
        self.batch.clear();
        ConsumerError::WriteLost(reason)
    }

    /// Does the batch's simulated work, then writes it, retrying transient failures with backoff. A retry's wait,
    /// and work longer than [`WORK_WITHOUT_POLLING`], poll Kafka with the partitions paused, so the member stays in
    /// the group however long they take (`max.poll.interval.ms` counts from the last poll, not the last message).
    ///
    /// `failed`: the error of a first attempt already made (by a write in flight), retried after its backoff.
    ///
    /// Returns false when `stop` was requested (or `budget` ran out) before the batch could be written: the batch
    /// is then left uncommitted for the next owner.
    async fn write_with_retry(
        &mut self,
        stop: &CancellationToken,
        budget: Option<Instant>,
        mut failed: Option<WriteError>,
    ) -> bool {
        let mut paused = false;
        if let Some(work) = self.writer.work_owed(&self.batch) {
            let done = Instant::now() + work;
            if budget.is_some_and(|b| done > b) {
                return false;
            }
            if work <= WORK_WITHOUT_POLLING {
                tokio::time::sleep(work).await;
            } else {
                self.pause(&mut paused);
                if !self.poll_paused_until(done, stop, budget.is_none()).await {
                    self.resume(&mut paused);
                    return false;
                }
            }
            self.batch.mark_worked();
        }
        let mut backoff = Duration::from_millis(200);
        loop {
            let attempt = match failed.take() {
                Some(error) => Err(error),
                None => self.writer.write(&mut self.batch, &self.offsets).await,
            };
            match attempt {
                Ok(()) => break,
                Err(error) => {
                    if budget.is_some_and(|b| Instant::now() + backoff > b) {
                        return false;
                    }
                    self.metrics.emit(BatchWriteFailed {
                        error: &error,
                        retry_in: backoff,
                        messages: self.batch.len(),
                    });
                    self.pause(&mut paused);
                    if !self.poll_paused_until(Instant::now() + backoff, stop, budget.is_none()).await {
                        self.resume(&mut paused);
                        return false;
                    }
                    // A rebalance may have brought new partitions, which start unpaused.
                    paused = false;
                    self.pause(&mut paused);
                    if self.batch.is_empty() {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.resume(&mut paused);
        self.commit_throttled();
        true
    }

    /// After a written batch: commits asynchronously, at most every [`COMMIT_INTERVAL`].
    fn commit_throttled(&mut self) {
        if self.last_commit.elapsed() >= COMMIT_INTERVAL {
            self.commit(CommitMode::Async);
            self.last_commit = Instant::now();
        }
    }

    /// Keeps polling until `until` (rebalance callbacks run, the poll interval restarts); messages of partitions
    /// assigned meanwhile join the batch. Returns false when `stop` fired first (only if `stoppable`).
    async fn poll_paused_until(&mut self, until: Instant, stop: &CancellationToken, stoppable: bool) -> bool {
        let consumer = Arc::clone(&self.consumer);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled(), if stoppable => return false,
                received = tokio::time::timeout_at(until.into(), consumer.recv()) => {
                    self.drop_revoked();
                    match received {
                        Ok(Ok(message)) => self.push(&message),
                        Ok(Err(error)) => debug!(%error, "error from Kafka while paused"),
                        Err(_elapsed) => return true,
                    }
                }
            }
        }
    }

    /// Commits what is done and not yet confirmed (see [`crate::offsets`]).
    fn commit(&self, mode: CommitMode) {
        self.offsets.commit(&*self.consumer, mode);
    }

    fn pause(&self, paused: &mut bool) {
        if !*paused {
            if let Ok(assignment) = self.consumer.assignment() {
                if let Err(error) = self.consumer.pause(&assignment) {
                    warn!(%error, "cannot pause partitions");
                }
            }
            *paused = true;
        }
    }

    fn resume(&self, paused: &mut bool) {
        if *paused {
            if let Ok(assignment) = self.consumer.assignment() {
                if let Err(error) = self.consumer.resume(&assignment) {
                    warn!(%error, "cannot resume partitions");
                }
            }
            *paused = false;
        }
    }

    /// Logs a progress line when something was consumed since the last one.
    fn progress(&self, last: &mut (Instant, u64)) {
        let m = &self.metrics;
        let consumed = m.records_consumed.get();
        if consumed == last.1 {
            *last = (Instant::now(), last.1);
            return;
        }
        let secs = last.0.elapsed().as_secs_f64().max(0.001);
        let rate = ((consumed - last.1) as f64 / secs).round();
        *last = (Instant::now(), consumed);
        info!(event = "consumer_progress", rate, consumed, stored = m.rows_stored.get(),
              dead_lettered = m.dead_lettered(), batches = m.batches_written.get(),
              partitions = ?self.offsets.owned(), "progress");
    }

    /// Stop fetching, settle the writes in flight, write what is held, commit, leave the group.
    async fn shut_down(mut self) {
        self.drop_revoked();
        let budget = Instant::now() + SHUTDOWN_WRITE_BUDGET;
        let failed = if self.in_flight.is_empty() {
            None
        } else {
            match tokio::time::timeout_at(budget.into(), self.in_flight.settle(&self.offsets)).await {
                Ok(Settled::Written) => None,
                Ok(Settled::Failed(failed, error)) => {
                    self.batch.put_after(failed);
                    Some(error)
                }
                Ok(Settled::Lost(reason)) => {
                    let _stopping = self.write_lost(reason);
                    None
                }
                Err(_elapsed) => {
                    // The batch held was consumed after the one still being written: it must not be done first.
                    warn!(
                        event = "batch_abandoned",
                        messages = self.batch.len(),
                        "the writes in flight did not end in time; the batch after them is not written, nothing is \
                           committed for either beyond what is done, the next owner reads them again"
                    );
                    self.batch.clear();
                    None
                }
            }
        };
        if !self.batch.is_empty() && !self.write_with_retry(&CancellationToken::new(), Some(budget), failed).await {
            warn!(
                event = "batch_abandoned",
                messages = self.batch.len(),
                "last batch not written; nothing committed for it, the next owner reads it again"
            );
        }
        self.commit(CommitMode::Sync);
        self.health.member(false);
        let m = &self.metrics;
        info!(
            event = "consumer_stopping",
            consumed = m.records_consumed.get(),
            stored = m.rows_stored.get(),
            dead_lettered = m.dead_lettered(),
            batches = m.batches_written.get(),
            written_on_revoke = m.written_on_revoke.get(),
            dropped_on_revoke = m.dropped_on_revoke.get(),
            already_stored = m.already_stored.get(),
            skipped_below_stored = m.skipped_below_stored.get(),
            "offsets committed; leaving the group"
        );
        let Pipeline { consumer, writer, static_member, .. } = self;
        let closed = tokio::task::spawn_blocking(move || source::close(consumer, static_member)).await;
        if closed.is_err() {
            warn!("consumer close did not complete cleanly");
        }
        writer.close().await;
        info!(event = "consumer_stopped", "left the group");
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[tokio::test]
    async fn a_current_thread_runtime_is_refused_before_anything_is_connected() {
        let settings = ConsumerSettings::try_parse_from(["order-consumer"]).unwrap();
        // Nothing is reached before the refusal, so it comes at once whether or not the stack is running.
        let started = tokio::time::timeout(Duration::from_secs(1), run(settings, std::future::pending())).await;
        let refused = started.unwrap().unwrap_err();
        assert!(matches!(refused, ConsumerError::Runtime(_)), "{refused}");
        assert!(refused.to_string().contains("needs tokio's multi-thread runtime"), "{refused}");
    }
}
