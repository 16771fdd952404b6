//! Writing a batch: dead letters first (acknowledged by the broker), then the orders (one upsert, committed by
//! Postgres), then the batch's offsets are marked done (see [`crate::offsets`]).
//!
//! With `OFFSET_STORE=postgres` the upsert's transaction also stores, per partition, one past the batch's highest
//! offset: exactly what [`Offsets::mark_done`] then marks done and the Kafka commit sends. The dead letters were
//! acknowledged before that transaction, so every message below the stored offset is a row or a dead letter, as
//! the commit rule asks of a committed one.
//!
//! The pipeline writes after each batch; before a revocation completes, [`crate::rebalance`] writes the batch the
//! pipeline holds, with the same [`Writer::write`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::error::KafkaError;
use sqlx::PgPool;
use tracing::{debug, info, warn};

use crate::batch::Batch;
use crate::dead_letter::DeadLetters;
use crate::decode::{Poison, PoisonKind};
use crate::offsets::Offsets;
use crate::pool;
use crate::store::{self, OffsetKey, StoreError};

/// Why a batch could not be written this time. Both are retried; neither moves an offset.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("dead-letter topic unavailable: {0}")]
    DeadLetter(#[source] KafkaError),
    #[error(transparent)]
    Database(StoreError),
}

/// Counters of one consumer's life, logged in progress lines and at exit.
#[derive(Debug, Default)]
pub struct Stats {
    pub consumed: AtomicU64,
    pub stored: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub batches: AtomicU64,
    pub written_on_revoke: AtomicU64,
    pub dropped_on_revoke: AtomicU64,
    /// Orders the upsert found already stored at their version or a newer one. Versions of an order arrive in
    /// order within its partition, so each is a message delivered and processed again (after a crash, a lost
    /// assignment, a replay): what `OFFSET_STORE=postgres` brings to 0 after a crash.
    pub already_stored: AtomicU64,
    /// Messages below their partition's stored offset, skipped unprocessed (`OFFSET_STORE=postgres`).
    pub skipped_below_stored: AtomicU64,
}

impl Stats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
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
    pub stats: Stats,
}

impl Writer {
    pub fn new(
        pool: PgPool,
        dead_letters: DeadLetters,
        client_id: String,
        processing_delay: Duration,
        offset_key: Option<OffsetKey>,
    ) -> Self {
        Self { pool, dead_letters, client_id, processing_delay, offset_key, stats: Stats::default() }
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
                self.count_already_stored(upserted - rows.min(upserted), &next);
                rows
            }
            Err(StoreError::Rejected(error)) => {
                warn!(event = "batch_rejected", %error, "Postgres rejected the batch; writing its orders one by one");
                let (rows, already_stored) = self.isolate_rejected(batch).await?;
                self.count_already_stored(already_stored, &next);
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
        let (orders, poison) = batch.counts();
        offsets.mark_done(&next);
        Stats::add(&self.stats.stored, stored);
        Stats::add(&self.stats.batches, 1);
        debug!(event = "batch_written", orders, poison, rows = stored, offsets = ?next);
        batch.clear();
        Ok(())
    }

    /// Counts orders the upsert found already stored, and says so in one line per batch: these lines survive a
    /// SIGKILL, where the exit line's counters do not.
    fn count_already_stored(&self, orders: u64, next: &BTreeMap<i32, i64>) {
        if orders > 0 {
            Stats::add(&self.stats.already_stored, orders);
            info!(event = "already_stored", orders, offsets = ?next,
                  "orders found already stored at their version or newer: delivered and processed again");
        }
    }

    async fn dead_letter(&self, batch: &mut Batch) -> Result<(), WriteError> {
        let sent = self.dead_letters.send(batch.undelivered_poison()).await.map_err(WriteError::DeadLetter)?;
        Stats::add(&self.stats.dead_lettered, sent as u64);
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
