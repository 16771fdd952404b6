//! Writing a batch: dead letters first (acknowledged by the broker), then the orders (one upsert, committed by
//! Postgres), then the batch's offsets are marked done (see [`crate::offsets`]).
//!
//! With `OFFSET_STORE=postgres` the upsert's transaction also stores, per partition, one past the batch's highest
//! offset: exactly what [`Offsets::mark_done`] then marks done and the Kafka commit sends. The dead letters were
//! acknowledged before that transaction, so every message below the stored offset is a row or a dead letter, as
//! the commit rule asks of a committed one.
//!
//! The pipeline writes each batch while it fills the next one ([`InFlight`]: up to `WRITE_CONCURRENCY` writes side
//! by side, split by customer, or by whole partitions when they store offsets), so decoding and the database's work
//! overlap, and one consumer keeps more than one of the database's cores busy; before a revocation completes, [`crate::rebalance`] waits for those writes and
//! writes the batch the pipeline holds, with the same [`Writer::write`].

use std::collections::BTreeMap;
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
use tokio::task::JoinHandle;

/// Why a batch could not be written this time. Both are retried; neither moves an offset.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("dead-letter topic unavailable: {0}")]
    DeadLetter(#[source] KafkaError),
    #[error(transparent)]
    Database(StoreError),
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

/// The writes in flight: the previous batch, split into at most `WRITE_CONCURRENCY` parts ([`Batch::split`]),
/// each written on a task (and a database connection) of its own while the pipeline fills the next batch. The next
/// batch is written only once all of them have settled, so each customer's messages are stored in the order
/// consumed, and offsets are marked done only then, for the partitions no failed part holds: a partition may span
/// parts, and what is done must stay a prefix of it (the commit rule, [`crate::offsets`]).
#[derive(Debug, Default)]
pub struct InFlight {
    writes: Vec<JoinHandle<Written>>,
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
    /// All written: their offsets are marked done.
    Written,
    /// Some not written; their batches come back as one, for a retry before any later batch, with the first
    /// error. The offsets of partitions no failed write holds are marked done.
    Failed(Batch, WriteError),
    /// A write's task ended without an answer (it panicked or the runtime is shutting down): its messages are in
    /// an unknown state, so nothing of this batch is marked done, and nothing after it may be committed.
    Lost(String),
}

impl InFlight {
    /// Starts storing `batch` (one attempt, [`Writer::store`]) on a task of its own.
    pub fn start(&mut self, writer: Arc<Writer>, mut batch: Batch) {
        self.spawn(async move {
            let stored = writer.store(&mut batch).await;
            (batch, stored)
        });
    }

    /// Adds a write made of any future that hands its batch back with the next offsets it stored.
    pub fn spawn(&mut self, write: impl Future<Output = Written> + Send + 'static) {
        self.writes.push(tokio::spawn(write));
    }

    /// Whether no write is in flight and none left a result to collect.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.stored.is_empty() && self.failed.is_none() && self.lost.is_none()
    }

    /// Whether every write has ended, so [`InFlight::settle`] returns at once.
    pub fn is_finished(&self) -> bool {
        self.writes.iter().all(JoinHandle::is_finished)
    }

    /// Waits for every write to end, marks done in `offsets` what may be, and says how they did. Cancel-safe:
    /// dropping the future leaves the writes running and what already ended recorded, for the next call.
    pub async fn settle(&mut self, offsets: &Offsets) -> Settled {
        while let Some(write) = self.writes.last_mut() {
            let ended = write.await;
            self.writes.pop();
            match ended {
                Ok((_, Ok(next))) => {
                    for (partition, offset) in next {
                        let o = self.stored.entry(partition).or_insert(offset);
                        *o = (*o).max(offset);
                    }
                }
                Ok((batch, Err(error))) => match self.failed.as_mut() {
                    Some((failed, _)) => failed.put_after(batch),
                    None => self.failed = Some((batch, error)),
                },
                Err(error) => self.lost = Some(error.to_string()),
            }
        }
        let mut done = std::mem::take(&mut self.stored);
        match (self.lost.take(), self.failed.take()) {
            (Some(reason), _) => Settled::Lost(reason),
            (None, Some((batch, error))) => {
                done.retain(|partition, _| !batch.holds_any(&[*partition]));
                offsets.mark_done(&done);
                Settled::Failed(batch, error)
            }
            (None, None) => {
                offsets.mark_done(&done);
                Settled::Written
            }
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

    #[tokio::test]
    async fn a_partition_split_by_key_is_done_only_when_all_its_parts_are_written() {
        let done = offsets(&[0]);
        let mut in_flight = InFlight::default();
        // Offsets 0..=9 of partition 0, split by key: the part holding 9 is stored, the one holding 3 fails.
        in_flight.spawn(async { (Batch::default(), Ok(BTreeMap::from([(0, 10)]))) });
        in_flight.spawn(async { (batch(0, 3..4), Err(failure())) });
        let Settled::Failed(failed, _) = in_flight.settle(&done).await else { panic!("a write failed") };
        assert!(done.done().is_empty(), "offset 3 is not stored, so nothing of partition 0 is done");
        assert_eq!(failed.next_offsets(), BTreeMap::from([(0, 4)]));
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
