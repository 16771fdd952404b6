//! Writing a batch: dead letters first (acknowledged by the broker), then the orders (one upsert, committed by
//! Postgres), then the batch's offsets are marked done (see [`crate::offsets`]).
//!
//! With `OFFSET_STORE=postgres` the upsert's transaction also stores, per partition, one past the batch's highest
//! offset: exactly what [`Offsets::mark_done`] then marks done and the Kafka commit sends. The dead letters were
//! acknowledged before that transaction, so every message below the stored offset is a row or a dead letter, as
//! the commit rule asks of a committed one.
//!
//! The pipeline writes each batch on a task of its own ([`InFlight`]) while it fills the next one, one write in
//! flight at a time, so decoding and the database's work overlap; before a revocation completes,
//! [`crate::rebalance`] waits for that write and writes the batch the pipeline holds, with the same
//! [`Writer::write`].

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
        let began = Instant::now();
        self.dead_letter(batch).await?;
        // The same offsets the commit rule marks done below; a rejected order turning into a dead letter changes
        // no message's offset.
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
        offsets.mark_done(&next);
        self.metrics.emit(BatchWritten { batch, rows: stored, offsets: &next, took: began.elapsed() });
        batch.clear();
        Ok(())
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

/// A batch being written on a task of its own while the pipeline fills the next one. There is at most one: the
/// next batch is written only once this one has settled, so batches are written in the order consumed and what is
/// done stays a prefix of each partition (the commit rule, [`crate::offsets`]).
#[derive(Debug)]
pub struct InFlight(JoinHandle<(Batch, Result<(), WriteError>)>);

/// How a write in flight ended.
#[derive(Debug)]
pub enum Settled {
    /// Written: its offsets are marked done.
    Written,
    /// Not written; the batch comes back as it was, for a retry before any later batch.
    Failed(Batch, WriteError),
    /// The write's task ended without an answer (it panicked or the runtime is shutting down): its messages are in
    /// an unknown state, so nothing after them may be committed.
    Lost(String),
}

impl InFlight {
    /// Starts writing `batch` (one attempt, [`Writer::write`]) on a task of its own.
    pub fn start(writer: Arc<Writer>, offsets: Arc<Offsets>, mut batch: Batch) -> Self {
        Self::spawn(async move {
            let written = writer.write(&mut batch, &offsets).await;
            (batch, written)
        })
    }

    /// A write in flight made of any future that hands its batch back with the write's result.
    pub fn spawn(write: impl Future<Output = (Batch, Result<(), WriteError>)> + Send + 'static) -> Self {
        Self(tokio::spawn(write))
    }

    /// Whether the write has ended, so [`InFlight::settle`] returns at once.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Waits for the write to end. Cancel-safe: dropping the future leaves the write running and `self` usable.
    pub async fn settle(&mut self) -> Settled {
        match (&mut self.0).await {
            Ok((_, Ok(()))) => Settled::Written,
            Ok((batch, Err(error))) => Settled::Failed(batch, error),
            Err(error) => Settled::Lost(error.to_string()),
        }
    }
}
