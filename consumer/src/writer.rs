//! Writing a batch: dead letters first (acknowledged by the broker), then the orders (one upsert, committed by
//! Postgres), then the batch's offsets are marked done (see [`crate::offsets`]).
//!
//! With `OFFSET_STORE=postgres` the upsert's transaction also stores, per partition, one past the batch's highest
//! offset: exactly what [`Offsets::mark_done`] then marks done and the Kafka commit sends. The dead letters were
//! acknowledged before that transaction, so every message below the stored offset is a row or a dead letter, as
//! the commit rule asks of a committed one.
//!
//! The pipeline writes each batch while it fills the next one ([`InFlight`]: up to `WRITE_CONCURRENCY` writes side
//! by side, split by customer into lanes, two batches at most; or by whole partitions, one batch at a time, when
//! they store offsets), so decoding and the database's work overlap, and one consumer keeps more than one of the
//! database's cores busy; before a revocation completes, [`crate::rebalance`] waits for those writes and
//! writes the batch the pipeline holds, with the same [`Writer::write`].

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::dead_letter::DeadLetters;
use crate::decode::{Poison, PoisonKind};
use crate::events::{AlreadyStored, BatchRejected, BatchWritten, Metrics};
use crate::offsets::Offsets;
use crate::pool;
use crate::store::{self, OffsetKey, StoreError};
use rdkafka::error::KafkaError;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why a batch could not be written this time. Both are retried; neither moves an offset.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("dead-letter topic unavailable: {0}")]
    DeadLetter(#[source] KafkaError),
    #[error(transparent)]
    Database(StoreError),
    /// Not attempted: the write in front of it on its lane (the same customers, an earlier batch) failed.
    #[error("not attempted: an earlier write of the same customers failed")]
    Behind,
}

/// Everything a write needs besides the batch.
pub struct Writer {
    pool: PgPool,
    dead_letters: DeadLetters,
    client_id: String,
    /// Simulated work per order; a batch whose work is not done yet is never written.
    processing_delay: Duration,
    /// Where the group's offsets are stored in Postgres, with `OFFSET_STORE=postgres`; `None` with `kafka`.
    offset_key: Option<OffsetKey>,
    pub metrics: Arc<Metrics>,
}

impl Writer {
    pub fn new(
        pool: PgPool,
        dead_letters: DeadLetters,
        client_id: String,
        processing_delay: Duration,
        offset_key: Option<OffsetKey>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { pool, dead_letters, client_id, processing_delay, offset_key, metrics }
    }

    /// Whether offsets are stored in Postgres (`OFFSET_STORE=postgres`).
    pub fn stores_offsets(&self) -> bool {
        self.offset_key.is_some()
    }

    /// The stored next offsets of those of `partitions` that have one; empty with `OFFSET_STORE=kafka`.
    ///
    /// # Errors
    /// The database could not be read.
    pub async fn stored_offsets(&self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, StoreError> {
        match &self.offset_key {
            Some(key) => store::stored_offsets(&self.pool, key, partitions).await,
            None => Ok(BTreeMap::new()),
        }
    }

    /// The simulated work still owed for `batch`, if any.
    pub fn work_owed(&self, batch: &Batch) -> Option<Duration> {
        let (orders, _) = batch.counts();
        let owed = self.processing_delay * orders as u32;
        (!batch.worked() && !owed.is_zero()).then_some(owed)
    }

    /// One attempt: dead letters first, then the orders; on success the batch's offsets are done and it is empty.
    ///
    /// # Errors
    /// A transient failure of the dead-letter topic or the database; the batch is kept as it is for a retry
    /// (dead letters already acknowledged are not sent again).
    pub async fn write(&self, batch: &mut Batch, offsets: &Offsets) -> Result<(), WriteError> {
        let next = self.store(batch).await?;
        offsets.mark_done(&next);
        Ok(())
    }

    /// [`Writer::write`] without marking the offsets done: returns them, for the caller to mark once it may (a
    /// part of a batch split by key, [`InFlight`]).
    ///
    /// # Errors
    /// As [`Writer::write`].
    pub async fn store(&self, batch: &mut Batch) -> Result<BTreeMap<i32, i64>, WriteError> {
        let began = Instant::now();
        self.dead_letter(batch).await?;
        // The same offsets the commit rule marks done once written; a rejected order turning into a dead letter
        // changes no message's offset.
        let next = batch.next_offsets();
        let to_store = self.offset_key.as_ref().map(|key| (key, &next));
        let (upserted, written) = {
            let orders = batch.orders();
            (orders.len() as u64, store::write(&self.pool, &orders, &self.client_id, to_store).await)
        };
        let stored = match written {
            Ok(rows) => {
                self.metrics.emit(AlreadyStored { orders: upserted - rows.min(upserted), offsets: &next });
                rows
            }
            Err(StoreError::Rejected(error)) => {
                self.metrics.emit(BatchRejected { error: &error });
                let (rows, already_stored) = self.isolate_rejected(batch).await?;
                self.metrics.emit(AlreadyStored { orders: already_stored, offsets: &next });
                self.dead_letter(batch).await?;
                // The rare path: the orders went one statement each, and the offsets go now, once the rejected
                // ones are dead letters. A crash before this line re-delivers the batch; the upsert absorbs it.
                if let Some((key, next)) = to_store {
                    store::save_offsets(&self.pool, key, next, &self.client_id).await.map_err(WriteError::Database)?;
                }
                rows
            }
            Err(transient) => return Err(WriteError::Database(transient)),
        };
        self.metrics.emit(BatchWritten { batch, rows: stored, offsets: &next, took: began.elapsed() });
        batch.clear();
        Ok(next)
    }

    async fn dead_letter(&self, batch: &mut Batch) -> Result<(), WriteError> {
        self.dead_letters.send(batch.undelivered_poison()).await.map_err(WriteError::DeadLetter)?;
        Ok(())
    }

    /// After the database rejected a batch: writes each order alone; those Postgres rejects on their own become
    /// poison (`db_rejected`). Returns the rows written, and the orders found already stored.
    async fn isolate_rejected(&self, batch: &mut Batch) -> Result<(u64, u64), WriteError> {
        let (mut rows, mut already_stored) = (0, 0);
        let mut rejected = Vec::new();
        for entry in batch.orders() {
            match store::upsert(&self.pool, &[entry], &self.client_id).await {
                Ok(0) => already_stored += 1,
                Ok(n) => rows += n,
                Err(StoreError::Rejected(error)) => {
                    rejected.push((
                        entry.partition,
                        entry.offset,
                        Poison::new(PoisonKind::DbRejected, error.to_string()),
                    ));
                }
                Err(transient) => return Err(WriteError::Database(transient)),
            }
        }
        for (partition, offset, poison) in rejected {
            batch.reject(partition, offset, poison);
        }
        Ok((rows, already_stored))
    }

    /// Closes the database connections (see [`pool::close`]); the dead-letter producer flushes as it drops.
    pub async fn close(&self) {
        pool::close(&self.pool).await;
    }
}

/// The writes in flight: the last batches (at most as many as the pipeline allows), each split into parts
/// ([`Batch::split`]) written on tasks (and database connections) of their own while the pipeline fills the next
/// batch. Part *i* of every batch goes on lane *i*: with [`Split::Keys`](crate::batch::Split::Keys) a lane holds the
/// same customers batch after batch, and a lane's write starts only once the one before it on the lane has stored
/// its batch, so each customer's messages are stored in the order consumed, however many batches are in flight.
/// A lane's write behind a failed one is not attempted ([`WriteError::Behind`]).
///
/// Offsets are marked done batch by batch, oldest first, once all of a batch's writes have stored it. A batch that
/// failed anywhere stops that: everything in flight is then waited for, and only the partitions that none of the
/// failed or unattempted writes holds are marked done, since a partition spans lanes and what is done must stay a
/// prefix of it (the commit rule, [`crate::offsets`]).
#[derive(Debug, Default)]
pub struct InFlight {
    /// The writes of each batch not yet settled, oldest batch first.
    batches: VecDeque<Vec<JoinHandle<Written>>>,
    /// Per lane, the signal of the last write started on it: whether it stored its batch.
    lanes: Vec<Option<oneshot::Receiver<bool>>>,
    /// What the writes that ended so far stored and left to do: kept here, so that waiting can be abandoned and
    /// resumed.
    stored: BTreeMap<i32, i64>,
    failed: Option<(Batch, WriteError)>,
    lost: Option<String>,
}

/// A write's batch (empty once written) and the next offsets it stored, or why it could not.
type Written = (Batch, Result<BTreeMap<i32, i64>, WriteError>);

/// How the writes in flight ended.
#[derive(Debug)]
pub enum Settled {
    /// All the batches waited for are written and their offsets marked done.
    Written,
    /// Some not written; their batches come back as one, in the order consumed, for a retry before any later
    /// batch, with the first error. Nothing is in flight any more; the offsets of partitions no failed write holds
    /// are marked done.
    Failed(Batch, WriteError),
    /// A write's task ended without an answer (it panicked or the runtime is shutting down): its messages are in
    /// an unknown state, so nothing settled with it is marked done, and nothing after it may be committed.
    Lost(String),
}

impl InFlight {
    /// Starts storing a batch's `parts` (one attempt each, [`Writer::store`]), part *i* on lane *i*.
    pub fn start(&mut self, writer: &Arc<Writer>, parts: Vec<Batch>) {
        let writer = Arc::clone(writer);
        self.start_each(parts, move |mut batch| {
            let writer = Arc::clone(&writer);
            async move {
                let stored = writer.store(&mut batch).await;
                (batch, stored)
            }
        });
    }

    /// Starts a batch's `parts`, part *i* on lane *i* once the lane's previous write has stored its batch, each
    /// written by `write`, which hands the batch back with the next offsets it stored. Empty parts start nothing.
    pub fn start_each<W, F>(&mut self, parts: Vec<Batch>, write: W)
    where
        W: Fn(Batch) -> F + Clone + Send + 'static,
        F: Future<Output = Written> + Send + 'static,
    {
        if self.lanes.len() < parts.len() {
            self.lanes.resize_with(parts.len(), || None);
        }
        let mut writes = Vec::with_capacity(parts.len());
        for (lane, part) in parts.into_iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            let (stored_tx, stored_rx) = oneshot::channel();
            let after = self.lanes[lane].replace(stored_rx);
            let write = write.clone();
            writes.push(tokio::spawn(async move {
                // A lane's previous write that failed, or ended without an answer, holds this one back.
                if let Some(after) = after
                    && !after.await.unwrap_or(false)
                {
                    return (part, Err(WriteError::Behind));
                }
                let (batch, stored) = write(part).await;
                let _ = stored_tx.send(stored.is_ok());
                (batch, stored)
            }));
        }
        if !writes.is_empty() {
            self.batches.push_back(writes);
        }
    }

    /// Adds a batch written by any one future that hands it back with the next offsets it stored, on no lane (the
    /// tests' writes).
    #[cfg(test)]
    pub(crate) fn spawn(&mut self, write: impl Future<Output = Written> + Send + 'static) {
        self.batches.push_back(vec![tokio::spawn(write)]);
    }

    /// How many batches are in flight.
    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    /// Whether no write is in flight and none left a result to collect.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.stored.is_empty() && self.failed.is_none() && self.lost.is_none()
    }

    /// Whether every write has ended, so [`InFlight::settle`] returns at once.
    pub fn is_finished(&self) -> bool {
        self.batches.iter().flatten().all(JoinHandle::is_finished)
    }

    /// Waits for every write to end, marks done in `offsets` what may be, and says how they did. Cancel-safe:
    /// dropping the future leaves the writes running and what already ended recorded, for the next call.
    pub async fn settle(&mut self, offsets: &Offsets) -> Settled {
        self.settle_until(offsets, 0).await
    }

    /// As [`InFlight::settle`], oldest batch first, until at most `keep` batches are in flight; all of them when
    /// one has failed.
    pub async fn settle_until(&mut self, offsets: &Offsets, keep: usize) -> Settled {
        while self.batches.len() > keep || (self.troubled() && !self.batches.is_empty()) {
            let Some(write) = self.batches.front_mut().and_then(|writes| writes.last_mut()) else {
                // The oldest batch's writes have all ended.
                self.batches.pop_front();
                if !self.troubled() {
                    offsets.mark_done(&std::mem::take(&mut self.stored));
                }
                continue;
            };
            let ended = write.await;
            if let Some(writes) = self.batches.front_mut() {
                writes.pop();
            }
            self.record(ended);
        }
        if !self.troubled() {
            return Settled::Written;
        }
        // Everything in flight has ended: the lanes start afresh, with nothing in front.
        self.lanes.clear();
        let mut done = std::mem::take(&mut self.stored);
        match (self.lost.take(), self.failed.take()) {
            (Some(reason), _) => Settled::Lost(reason),
            (None, Some((batch, error))) => {
                done.retain(|partition, _| !batch.holds_any(&[*partition]));
                offsets.mark_done(&done);
                Settled::Failed(batch, error)
            }
            (None, None) => Settled::Written,
        }
    }

    fn troubled(&self) -> bool {
        self.failed.is_some() || self.lost.is_some()
    }

    /// Records how one write ended. Writes are recorded oldest batch first, so a failed batch goes after those
    /// failed before it; within a batch the lanes hold different customers, so their order does not matter.
    fn record(&mut self, ended: Result<Written, tokio::task::JoinError>) {
        match ended {
            Ok((_, Ok(next))) => {
                for (partition, offset) in next {
                    let o = self.stored.entry(partition).or_insert(offset);
                    *o = (*o).max(offset);
                }
            }
            Ok((mut batch, Err(error))) => match self.failed.take() {
                Some((earlier, first)) => {
                    batch.put_after(earlier);
                    self.failed = Some((batch, first));
                }
                None => self.failed = Some((batch, error)),
            },
            Err(error) => self.lost = Some(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::error::RDKafkaErrorCode;

    use super::*;
    use crate::batch::{Entry, Outcome};
    use crate::decode::{Poison, PoisonKind};

    fn batch(partition: i32, offsets: std::ops::Range<i64>) -> Batch {
        let mut batch = Batch::default();
        for offset in offsets {
            let poison = Poison::new(PoisonKind::NotJson, "not JSON".to_owned());
            let outcome = Outcome::Poison { poison, dead_lettered: false };
            batch.push(Entry { partition, offset, produced_at: None, key: None, payload: None, outcome });
        }
        batch
    }

    fn failure() -> WriteError {
        WriteError::DeadLetter(KafkaError::MessageProduction(RDKafkaErrorCode::BrokerNotAvailable))
    }

    fn offsets(partitions: &[i32]) -> Offsets {
        let offsets = Offsets::new("t", Arc::default());
        offsets.assigned(partitions);
        offsets
    }

    #[tokio::test]
    async fn the_batches_of_failed_writes_come_back_as_one_and_written_ones_do_not() {
        let done = offsets(&[0, 1, 2]);
        let mut in_flight = InFlight::default();
        in_flight.spawn(async { (batch(0, 0..3), Err(failure())) });
        in_flight.spawn(async { (Batch::default(), Ok(BTreeMap::from([(1, 4)]))) });
        in_flight.spawn(async { (batch(2, 5..7), Err(failure())) });
        let Settled::Failed(failed, _) = in_flight.settle(&done).await else { panic!("two writes failed") };
        assert_eq!(failed.next_offsets(), BTreeMap::from([(0, 3), (2, 7)]));
        assert_eq!(failed.len(), 5);
        assert!(in_flight.is_empty());
        assert_eq!(done.done(), BTreeMap::from([(1, 4)]), "the written partition is done");

        in_flight.spawn(async { (Batch::default(), Ok(BTreeMap::from([(0, 3), (2, 7)]))) });
        assert!(matches!(in_flight.settle(&done).await, Settled::Written));
        assert_eq!(done.done(), BTreeMap::from([(0, 3), (1, 4), (2, 7)]));
    }

    /// A write that fails a batch ending at `failing` offsets, and stores any other, counting its attempts.
    fn write_failing(
        failing: BTreeMap<i32, i64>,
        attempts: Arc<std::sync::atomic::AtomicUsize>,
    ) -> impl Fn(Batch) -> std::pin::Pin<Box<dyn Future<Output = Written> + Send>> + Clone + Send + 'static {
        move |mut batch: Batch| {
            let (failing, attempts) = (failing.clone(), Arc::clone(&attempts));
            Box::pin(async move {
                attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let next = batch.next_offsets();
                if next == failing {
                    return (batch, Err(failure()));
                }
                batch.clear();
                (batch, Ok(next))
            })
        }
    }

    #[tokio::test]
    async fn a_partition_split_by_key_is_done_only_when_all_its_lanes_stored_it() {
        let done = offsets(&[0]);
        let attempts = Arc::default();
        let mut in_flight = InFlight::default();
        // Offsets 0..=9 of partition 0 on two lanes: the lane holding 9 stores, the one holding 3 fails.
        in_flight.start_each(vec![batch(0, 9..10), batch(0, 3..4)], write_failing(BTreeMap::from([(0, 4)]), attempts));
        let Settled::Failed(failed, _) = in_flight.settle(&done).await else { panic!("a write failed") };
        assert!(done.done().is_empty(), "offset 3 is not stored, so nothing of partition 0 is done");
        assert_eq!(failed.next_offsets(), BTreeMap::from([(0, 4)]));
    }

    #[tokio::test]
    async fn a_lane_behind_a_failed_write_is_not_attempted_and_comes_back_after_it() {
        let done = offsets(&[0, 1]);
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let write = write_failing(BTreeMap::from([(0, 2)]), Arc::clone(&attempts));
        let mut in_flight = InFlight::default();
        // Two batches on two lanes; lane 0 of the first fails, so lane 0 of the second (the same customers) waits.
        in_flight.start_each(vec![batch(0, 0..2), batch(0, 2..4)], write.clone());
        in_flight.start_each(vec![batch(0, 4..6), batch(1, 0..2)], write.clone());
        assert_eq!(in_flight.batches(), 2);
        let Settled::Failed(failed, _) = in_flight.settle_until(&done, 1).await else { panic!("lane 0 failed") };
        assert_eq!(attempts.load(std::sync::atomic::Ordering::Relaxed), 3, "lane 0 of the second batch not tried");
        assert_eq!(in_flight.batches(), 0, "a failure waits for everything in flight");
        assert_eq!(failed.len(), 4);
        assert_eq!(failed.next_offsets(), BTreeMap::from([(0, 6)]));
        assert_eq!(done.done(), BTreeMap::from([(1, 2)]), "partition 1 is all stored; partition 0 is not");

        // The lanes start afresh: nothing is behind the failure any more.
        in_flight.start_each(vec![batch(0, 6..8)], write);
        assert!(matches!(in_flight.settle(&done).await, Settled::Written));
        assert_eq!(done.done(), BTreeMap::from([(0, 8), (1, 2)]));
    }

    #[tokio::test]
    async fn the_oldest_batch_is_done_while_the_next_is_still_in_flight() {
        let done = offsets(&[0]);
        let go = Arc::new(tokio::sync::Notify::new());
        let mut in_flight = InFlight::default();
        in_flight.start_each(vec![batch(0, 0..2)], write_failing(BTreeMap::new(), Arc::default()));
        let held = Arc::clone(&go);
        in_flight.spawn(async move {
            held.notified().await;
            let mut later = batch(0, 2..4);
            let next = later.next_offsets();
            later.clear();
            (later, Ok(next))
        });
        assert!(matches!(in_flight.settle_until(&done, 1).await, Settled::Written));
        assert_eq!(done.done(), BTreeMap::from([(0, 2)]));
        assert_eq!(in_flight.batches(), 1);
        go.notify_one();
        assert!(matches!(in_flight.settle(&done).await, Settled::Written));
        assert_eq!(done.done(), BTreeMap::from([(0, 4)]));
    }

    #[tokio::test]
    async fn a_write_that_ends_without_an_answer_is_lost_whatever_the_others_did() {
        let done = offsets(&[0, 1]);
        let mut in_flight = InFlight::default();
        in_flight.spawn(async { (batch(0, 0..3), Err(failure())) });
        in_flight.spawn(async { (Batch::default(), Ok(BTreeMap::from([(1, 9)]))) });
        in_flight.spawn(async { panic!("a write that never answers") });
        assert!(matches!(in_flight.settle(&done).await, Settled::Lost(_)));
        assert!(in_flight.is_empty());
        assert!(done.done().is_empty(), "the lost write may have held any partition");
    }
}
