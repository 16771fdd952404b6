//! The pipeline's side of a rebalance: the batch it holds while it waits in `recv()`, written before a revocation
//! completes, then the leaving partitions' offsets committed.
//!
//! librdkafka runs the rebalance callbacks inside `recv()`, on the pipeline's task. While it waits there the
//! pipeline lends [`Handover`], the [`GroupHook`] it installs in the source, its unwritten batch and the writes it
//! has in flight ([`InFlight`]). A revocation first waits for those writes, then writes the held batch (blocking
//! the rebalance for at most [`REVOKE_WRITE_BUDGET`] each), then commits what is done for the leaving partitions
//! through [`crate::offsets`], so they leave with everything consumed from them stored and committed, and their
//! next owner reads nothing twice. Writes in flight that failed rejoin the held batch in front of it. If the write
//! fails, the batch comes back to the pipeline unwritten, and the pipeline drops the revoked partitions' messages.
//!
//! With `OFFSET_STORE=postgres` an assignment needs the database too: before librdkafka applies it, [`Handover`]
//! reads the newly assigned partitions' stored offsets, which the source sets as their start offsets (see
//! [`crate::offsets`]). The read blocks the callback the same way, for at most [`ASSIGN_READ_BUDGET`]; if it fails,
//! the partitions start at Kafka's committed offset (see [`Handover::start_offsets`] for why that is safe).
//!
//! # The runtime
//! The callback is synchronous and the write is not, so the write runs to completion where the callback is
//! ([`tokio::task::block_in_place`]), which only tokio's multi-thread runtime can do: a current-thread runtime's one
//! thread is the one blocked in the callback, and the database connections need it to make progress. So
//! [`check_runtime`] refuses any other runtime at start-up, with an error that says why.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaResult;
use tokio::runtime::{Handle, RuntimeFlavor};
use tracing::{error, info, warn};

use crate::batch::Batch;
use crate::events::{Metrics, WrittenOnRevoke};
use crate::offsets::{CommitTarget, Offsets};
use crate::source::{GroupContext, GroupHook};
use crate::store::StoreError;
use crate::writer::{InFlight, Settled, WriteError, Writer};

/// Longest a revocation waits for the held batch to be written. Past it the batch's messages of the revoked
/// partitions are dropped uncommitted, and their next owner reads them again.
const REVOKE_WRITE_BUDGET: Duration = Duration::from_secs(5);

/// Longest an assignment waits for the stored offsets of its partitions (`OFFSET_STORE=postgres`). Past it they
/// start at Kafka's committed offset.
const ASSIGN_READ_BUDGET: Duration = Duration::from_secs(5);

/// The runtime the consumer was started on cannot write a batch inside a rebalance callback.
#[derive(Debug, thiserror::Error)]
#[error(
    "order-consumer needs tokio's multi-thread runtime, not {found}: a revocation writes the held batch inside \
     librdkafka's callback, which blocks the thread it runs on (start it from #[tokio::main] or \
     tokio::runtime::Builder::new_multi_thread)"
)]
pub struct UnsupportedRuntime {
    /// What the consumer found instead: a current-thread runtime, or none.
    pub found: &'static str,
}

/// Whether the current tokio runtime can serve the revocation hook; called once, before the consumer starts.
///
/// # Errors
/// [`UnsupportedRuntime`] on a current-thread runtime or outside any tokio runtime.
pub fn check_runtime() -> Result<(), UnsupportedRuntime> {
    multi_thread_runtime().map(drop)
}

/// The current runtime, if it is one a callback may block in place on.
fn multi_thread_runtime() -> Result<Handle, UnsupportedRuntime> {
    let handle = Handle::try_current().map_err(|_| UnsupportedRuntime { found: "no tokio runtime at all" })?;
    match handle.runtime_flavor() {
        RuntimeFlavor::MultiThread => Ok(handle),
        RuntimeFlavor::CurrentThread => Err(UnsupportedRuntime { found: "a current-thread runtime" }),
        _ => Err(UnsupportedRuntime { found: "an unknown runtime flavor" }),
    }
}

/// What a revocation needs from the writer: [`Writer`] in the consumer, a stand-in in unit tests.
pub trait WriteHeld: Send + Sync {
    /// Whether `batch` may be written now: its simulated work is done.
    fn ready(&self, batch: &Batch) -> bool;

    /// Writes `batch` whole and marks its offsets done, as [`Writer::write`] does.
    fn write_batch(&self, batch: &mut Batch, offsets: &Offsets) -> impl Future<Output = Result<(), WriteError>>;

    /// The metrics a write before a revocation is counted in.
    fn metrics(&self) -> &Metrics;

    /// Whether offsets are stored in Postgres, so that an assignment reads them first.
    fn stores_offsets(&self) -> bool;

    /// The stored next offsets of those of `partitions` that have one, as [`Writer::stored_offsets`].
    fn stored_offsets(&self, partitions: &[i32]) -> impl Future<Output = Result<BTreeMap<i32, i64>, StoreError>>;
}

impl WriteHeld for Writer {
    fn ready(&self, batch: &Batch) -> bool {
        self.work_owed(batch).is_none()
    }

    fn write_batch(&self, batch: &mut Batch, offsets: &Offsets) -> impl Future<Output = Result<(), WriteError>> {
        self.write(batch, offsets)
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn stores_offsets(&self) -> bool {
        Writer::stores_offsets(self)
    }

    fn stored_offsets(&self, partitions: &[i32]) -> impl Future<Output = Result<BTreeMap<i32, i64>, StoreError>> {
        Writer::stored_offsets(self, partitions)
    }
}

/// The revocation hook: what the pipeline lends it, the means to write it, and the offsets to commit.
pub struct Handover<W = Writer> {
    writer: Arc<W>,
    offsets: Arc<Offsets>,
    /// What the pipeline lends while it waits in `recv()`; empty the rest of the time.
    held: Mutex<Lent>,
}

/// The pipeline's unwritten batch and its writes in flight, lent for the time it waits in `recv()`, and what it
/// takes back.
#[derive(Debug, Default)]
pub struct Lent {
    pub batch: Batch,
    pub in_flight: InFlight,
    /// Set when a revocation found a write in flight lost (see [`Settled::Lost`]): the pipeline must stop.
    pub lost: Option<String>,
}

impl<W: WriteHeld> Handover<W> {
    pub fn new(writer: Arc<W>, offsets: Arc<Offsets>) -> Self {
        Self { writer, offsets, held: Mutex::new(Lent::default()) }
    }

    fn slot(&self) -> MutexGuard<'_, Lent> {
        // A panic while holding this lock would already have ended the pipeline; the batch stays consistent.
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lends the pipeline's batch and its writes in flight for the time it waits in `recv()`.
    pub fn lend(&self, batch: Batch, in_flight: InFlight) {
        *self.slot() = Lent { batch, in_flight, lost: None };
    }

    /// Takes them back after `recv()`: the batch emptied if a revocation wrote it, the writes in flight settled if
    /// a revocation waited for them.
    pub fn take_back(&self) -> Lent {
        std::mem::take(&mut *self.slot())
    }

    /// Before `revoked` leave: the writes in flight settled, the held batch written, then what is done for them
    /// committed synchronously.
    fn revoke(&self, target: &impl CommitTarget, revoked: &[i32]) {
        self.settle_in_flight();
        self.write_held(revoked);
        self.offsets.commit_revoked(target, revoked);
    }

    /// Waits for the writes in flight (at most [`REVOKE_WRITE_BUDGET`]), so that what they store is committed for
    /// the leaving partitions. Failed writes rejoin the held batch in front of it, to be written with it. Writes
    /// still running past the budget stay in flight for the pipeline, and the held batch is not written (it must
    /// not be done before the batches in front of it): the leaving partitions' messages of both are read again by
    /// their next owner.
    fn settle_in_flight(&self) {
        let mut slot = self.slot();
        if slot.in_flight.is_empty() {
            return;
        }
        let runtime = match multi_thread_runtime() {
            Ok(handle) => handle,
            Err(refused) => {
                error!(event = "batch_write_on_revoke_impossible", error = %refused,
                       "writes in flight not awaited; the next owner reads those messages again");
                return;
            }
        };
        let mut in_flight = std::mem::take(&mut slot.in_flight);
        let settle = tokio::time::timeout(REVOKE_WRITE_BUDGET, in_flight.settle(&self.offsets));
        // As for the held batch below: the revocation waits, blocking this thread, until the write has ended.
        match tokio::task::block_in_place(|| runtime.block_on(settle)) {
            Ok(Settled::Written) => {}
            Ok(Settled::Failed(batch, error)) => {
                warn!(event = "batch_write_on_revoke_failed", %error,
                      "a write in flight failed; its batch is written again with the held one");
                slot.batch.put_after(batch);
            }
            Ok(Settled::Lost(reason)) => slot.lost = Some(reason),
            Err(_elapsed) => {
                warn!(
                    event = "batch_write_on_revoke_failed",
                    budget_ms = REVOKE_WRITE_BUDGET.as_millis() as u64,
                    "the writes in flight did not end in time; the next owner reads those messages again"
                );
                slot.in_flight = in_flight;
            }
        }
    }

    /// Writes the held batch when it holds messages of `revoked` and its work is done. On failure the messages
    /// stay, and the pipeline drops those of revoked partitions when it takes the batch back.
    fn write_held(&self, revoked: &[i32]) {
        let mut slot = self.slot();
        if !slot.in_flight.is_empty() || slot.lost.is_some() {
            return;
        }
        let batch = &mut slot.batch;
        if !batch.holds_any(revoked) || !self.writer.ready(batch) {
            return;
        }
        let messages = batch.len();
        let runtime = match multi_thread_runtime() {
            Ok(handle) => handle,
            Err(refused) => {
                // check_runtime refused this at start-up; should it happen anyway, it must not pass unnoticed.
                error!(event = "batch_write_on_revoke_impossible", partitions = ?revoked, messages, error = %refused,
                       "held batch not written; the next owner reads those messages again");
                return;
            }
        };
        let write = tokio::time::timeout(REVOKE_WRITE_BUDGET, self.writer.write_batch(batch, &self.offsets));
        // The rebalance protocol asks for exactly this: the revocation waits, blocking this thread, until the batch
        // is written. block_in_place first hands this worker's other tasks to another thread.
        let written = tokio::task::block_in_place(|| runtime.block_on(write));
        match written {
            Ok(Ok(())) => self.writer.metrics().emit(WrittenOnRevoke { partitions: revoked, messages }),
            Ok(Err(error)) => warn!(event = "batch_write_on_revoke_failed", %error,
                                    "held batch not written; the next owner reads those messages again"),
            Err(_elapsed) => warn!(
                event = "batch_write_on_revoke_failed",
                budget_ms = REVOKE_WRITE_BUDGET.as_millis() as u64,
                "held batch not written in time; the next owner reads those messages again"
            ),
        }
    }

    /// With `OFFSET_STORE=postgres`: the stored offsets of `partitions`, about to be assigned, read before the
    /// assignment is applied; those without a row are left out, and start at Kafka's committed offset (or
    /// `auto.offset.reset`) as with `OFFSET_STORE=kafka`. Empty with `OFFSET_STORE=kafka`.
    ///
    /// When the read fails (the database is down or slower than [`ASSIGN_READ_BUDGET`]) all of them start at
    /// Kafka's committed offset, with a warning. That is safe because of the commit rule: the Kafka commit sends
    /// only what the database transaction already stored, so the committed offset is never ahead of the stored one
    /// and nothing is skipped; at worst the batches stored since the last commit are delivered again, and the
    /// upsert absorbs them (counted as `already_stored`), exactly as with `OFFSET_STORE=kafka`. The stored offset
    /// never moves back meanwhile (the write only moves it forward). The alternatives are worse: refusing the
    /// assignment is not possible inside the callback, and starting later (a seek once the database answers) races
    /// with the fetch librdkafka starts at once. A database that is down cannot take the batches either, so the
    /// partitions make no progress until it is back whichever offset they start at.
    fn start_offsets(&self, partitions: &[i32]) -> BTreeMap<i32, i64> {
        if !self.writer.stores_offsets() {
            return BTreeMap::new();
        }
        let runtime = match multi_thread_runtime() {
            Ok(handle) => handle,
            Err(refused) => {
                error!(event = "stored_offsets_unread", partitions = ?partitions, error = %refused,
                       "stored offsets not read; the partitions start at Kafka's committed offset");
                return BTreeMap::new();
            }
        };
        let read = tokio::time::timeout(ASSIGN_READ_BUDGET, self.writer.stored_offsets(partitions));
        // As for the revocation's write: the assignment waits, blocking this thread, until the read is done.
        match tokio::task::block_in_place(|| runtime.block_on(read)) {
            Ok(Ok(stored)) => {
                self.offsets.started_at_stored(&stored);
                info!(event = "start_offsets_read", partitions = ?partitions, stored = ?stored,
                      "partitions start at their offsets stored in Postgres (those without one: Kafka's committed)");
                stored
            }
            Ok(Err(error)) => {
                warn!(event = "stored_offsets_unread", partitions = ?partitions, %error,
                      "stored offsets not read; the partitions start at Kafka's committed offset, never ahead of \
                       the stored one, so some messages may be processed again");
                BTreeMap::new()
            }
            Err(_elapsed) => {
                warn!(event = "stored_offsets_unread", partitions = ?partitions,
                      budget_ms = ASSIGN_READ_BUDGET.as_millis() as u64,
                      "stored offsets not read in time; the partitions start at Kafka's committed offset, never \
                       ahead of the stored one, so some messages may be processed again");
                BTreeMap::new()
            }
        }
    }
}

impl<W: WriteHeld + 'static> GroupHook for Handover<W> {
    fn start_offsets(&self, partitions: &[i32]) -> BTreeMap<i32, i64> {
        Handover::start_offsets(self, partitions)
    }

    fn assigned(&self, partitions: &[i32]) {
        self.offsets.assigned(partitions);
    }

    fn revoking(&self, consumer: &BaseConsumer<GroupContext>, partitions: &[i32]) {
        self.revoke(consumer, partitions);
    }

    fn lost(&self, partitions: &[i32]) {
        self.offsets.lost(partitions);
    }

    fn commit_answered(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        self.offsets.commit_answered(result, offsets);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    use super::*;
    use crate::batch::{Entry, Outcome};
    use crate::decode::{Poison, PoisonKind};
    use crate::offsets::RecordedCommits;

    /// A writer that succeeds or fails as told and counts its writes; success marks the batch done as
    /// [`Writer::write`] does.
    #[derive(Default)]
    struct StandIn {
        fails: bool,
        work_owed: bool,
        writes: AtomicUsize,
        metrics: Metrics,
        /// `None`: offsets in Kafka. `Some(Some(offsets))`: these stored in Postgres. `Some(None)`: the read fails.
        stored: Option<Option<BTreeMap<i32, i64>>>,
    }

    impl WriteHeld for StandIn {
        fn ready(&self, _batch: &Batch) -> bool {
            !self.work_owed
        }

        async fn write_batch(&self, batch: &mut Batch, offsets: &Offsets) -> Result<(), WriteError> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            if self.fails {
                return Err(WriteError::DeadLetter(KafkaError::MessageProduction(
                    RDKafkaErrorCode::BrokerNotAvailable,
                )));
            }
            offsets.mark_done(&batch.next_offsets());
            batch.clear();
            Ok(())
        }

        fn metrics(&self) -> &Metrics {
            &self.metrics
        }

        fn stores_offsets(&self) -> bool {
            self.stored.is_some()
        }

        async fn stored_offsets(&self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, StoreError> {
            match &self.stored {
                Some(Some(stored)) => {
                    Ok(stored.iter().filter(|(p, _)| partitions.contains(p)).map(|(p, o)| (*p, *o)).collect())
                }
                Some(None) => Err(StoreError::Transient(sqlx::Error::PoolTimedOut)),
                None => Ok(BTreeMap::new()),
            }
        }
    }

    fn entry(partition: i32, offset: i64) -> Entry {
        let poison = Poison::new(PoisonKind::NotJson, "not JSON".to_owned());
        Entry {
            partition,
            offset,
            produced_at: None,
            key: None,
            payload: None,
            outcome: Outcome::Poison { poison, dead_lettered: false },
        }
    }

    /// A handover for partitions 0 and 1, partition 1 done up to offset 3, holding offsets 3 and 4 of partition 1
    /// and offset 9 of partition 0.
    fn handover(writer: StandIn) -> (Handover<StandIn>, Arc<Offsets>) {
        let offsets = Arc::new(Offsets::new("t", Arc::default()));
        offsets.assigned(&[0, 1]);
        offsets.mark_done(&BTreeMap::from([(1, 3)]));
        let handover = Handover::new(Arc::new(writer), Arc::clone(&offsets));
        let mut batch = Batch::default();
        for (partition, offset) in [(1, 3), (0, 9), (1, 4)] {
            batch.push(entry(partition, offset));
        }
        handover.lend(batch, InFlight::default());
        (handover, offsets)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_revocation_writes_the_held_batch_then_commits_the_leaving_partitions_synchronously() {
        let (handover, offsets) = handover(StandIn::default());
        let commits = RecordedCommits::default();
        handover.revoke(&commits, &[1]);
        assert_eq!(handover.writer.writes.load(Ordering::Relaxed), 1);
        assert_eq!(handover.writer.metrics.written_on_revoke.get(), 3, "the whole batch, all partitions");
        assert_eq!(commits.taken(), vec![(vec![(1, 5)], true)], "partition 1 up to the written batch, synchronously");
        assert!(handover.take_back().batch.is_empty());
        assert_eq!(offsets.take_revoked(), vec![1]);
        offsets.commit(&commits, rdkafka::consumer::CommitMode::Sync);
        assert_eq!(commits.taken(), vec![(vec![(0, 10)], true)], "the staying partition is left to the pipeline");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_failed_write_commits_only_what_was_done_before_and_hands_the_batch_back() {
        let (handover, offsets) = handover(StandIn { fails: true, ..StandIn::default() });
        let commits = RecordedCommits::default();
        handover.revoke(&commits, &[1]);
        assert_eq!(handover.writer.writes.load(Ordering::Relaxed), 1);
        assert_eq!(commits.taken(), vec![(vec![(1, 3)], true)]);
        let mut batch = handover.take_back().batch;
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.drop_partitions(&offsets.take_revoked()), 2, "what the pipeline then drops");
    }

    /// A write in flight of offsets 0..=2 of partition 1, ending as `fails` says once `go` is notified.
    fn in_flight(fails: bool, go: Arc<tokio::sync::Notify>) -> InFlight {
        let mut batch = Batch::default();
        for offset in 0..3 {
            batch.push(entry(1, offset));
        }
        let mut in_flight = InFlight::default();
        in_flight.spawn(async move {
            go.notified().await;
            if fails {
                let error = WriteError::DeadLetter(KafkaError::MessageProduction(RDKafkaErrorCode::BrokerNotAvailable));
                return (batch, Err(error));
            }
            let stored = batch.next_offsets();
            batch.clear();
            (batch, Ok(stored))
        });
        in_flight
    }

    /// The handover of [`handover`], done up to nothing in partition 1, with a write in flight in front of its batch.
    fn handover_in_flight(fails: bool) -> (Handover<StandIn>, Arc<Offsets>, Arc<tokio::sync::Notify>) {
        let offsets = Arc::new(Offsets::new("t", Arc::default()));
        offsets.assigned(&[0, 1]);
        let handover = Handover::new(Arc::new(StandIn::default()), Arc::clone(&offsets));
        let mut batch = Batch::default();
        for (partition, offset) in [(1, 3), (0, 9), (1, 4)] {
            batch.push(entry(partition, offset));
        }
        let go = Arc::new(tokio::sync::Notify::new());
        handover.lend(batch, in_flight(fails, Arc::clone(&go)));
        (handover, offsets, go)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_waits_for_the_write_in_flight_then_writes_the_held_batch() {
        let (handover, _, go) = handover_in_flight(false);
        let commits = RecordedCommits::default();
        // The write in flight ends only after the revocation has begun waiting for it.
        let release = tokio::spawn(async move {
            tokio::task::yield_now().await;
            go.notify_one();
        });
        handover.revoke(&commits, &[1]);
        release.await.unwrap();
        assert_eq!(handover.writer.writes.load(Ordering::Relaxed), 1, "the held batch, after the one in flight");
        assert_eq!(commits.taken(), vec![(vec![(1, 5)], true)], "both batches of partition 1, synchronously");
        let back = handover.take_back();
        assert!(back.batch.is_empty() && back.in_flight.is_empty() && back.lost.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_in_flight_rejoins_the_held_batch_in_front_and_is_written_with_it() {
        let (handover, _, go) = handover_in_flight(true);
        go.notify_one();
        let commits = RecordedCommits::default();
        handover.revoke(&commits, &[1]);
        assert_eq!(handover.writer.writes.load(Ordering::Relaxed), 1, "one write of both batches");
        assert_eq!(handover.writer.metrics.written_on_revoke.get(), 6);
        assert_eq!(commits.taken(), vec![(vec![(1, 5)], true)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_in_flight_and_a_failed_held_write_commit_nothing_and_come_back_in_order() {
        let offsets = Arc::new(Offsets::new("t", Arc::default()));
        offsets.assigned(&[0, 1]);
        let handover = Handover::new(Arc::new(StandIn { fails: true, ..StandIn::default() }), Arc::clone(&offsets));
        let mut batch = Batch::default();
        batch.push(entry(1, 3));
        let go = Arc::new(tokio::sync::Notify::new());
        handover.lend(batch, in_flight(true, Arc::clone(&go)));
        go.notify_one();
        let commits = RecordedCommits::default();
        handover.revoke(&commits, &[1]);
        assert!(commits.taken().is_empty(), "nothing of partition 1 is done");
        let back = handover.take_back();
        assert_eq!(back.batch.next_offsets(), BTreeMap::from([(1, 4)]));
        assert_eq!(back.batch.len(), 4, "the failed batch in front of the held one");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_batch_still_owing_work_or_holding_nothing_of_the_leaving_partitions_is_not_written() {
        let (owing, _) = handover(StandIn { work_owed: true, ..StandIn::default() });
        owing.revoke(&RecordedCommits::default(), &[1]);
        assert_eq!(owing.writer.writes.load(Ordering::Relaxed), 0);
        assert_eq!(owing.take_back().batch.len(), 3);

        let (other, _) = handover(StandIn::default());
        let commits = RecordedCommits::default();
        other.revoke(&commits, &[2]);
        assert_eq!(other.writer.writes.load(Ordering::Relaxed), 0);
        assert!(commits.taken().is_empty(), "nothing done for partition 2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn nothing_is_written_or_committed_for_lost_partitions() {
        let (handover, offsets) = handover(StandIn::default());
        handover.lost(&[1]);
        assert_eq!(handover.writer.writes.load(Ordering::Relaxed), 0);
        assert_eq!(offsets.take_revoked(), vec![1]);
        let commits = RecordedCommits::default();
        offsets.commit(&commits, rdkafka::consumer::CommitMode::Sync);
        assert!(commits.taken().is_empty(), "partition 1's done offset was forgotten, not committed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_assignment_starts_at_the_stored_offsets_and_skips_what_is_below_them() {
        let stored = Some(Some(BTreeMap::from([(2, 40), (5, 7)])));
        let (handover, offsets) = handover(StandIn { stored, ..StandIn::default() });
        assert_eq!(handover.start_offsets(&[2, 3]), BTreeMap::from([(2, 40)]), "partition 3 has no stored offset");
        offsets.assigned(&[2, 3]);
        assert_eq!(offsets.below_stored(2, 39), Some(true));
        assert_eq!(offsets.below_stored(3, 0), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_unreadable_store_or_the_kafka_store_leaves_the_start_to_kafka() {
        let (failing, offsets) = handover(StandIn { stored: Some(None), ..StandIn::default() });
        assert!(failing.start_offsets(&[2]).is_empty(), "falls back to Kafka's committed offset");
        offsets.assigned(&[2]);
        assert_eq!(offsets.below_stored(2, 0), None, "nothing to skip without a stored offset");
        let (kafka, _) = handover(StandIn::default());
        assert!(kafka.start_offsets(&[2]).is_empty());
    }

    #[tokio::test]
    async fn a_current_thread_runtime_is_refused_by_name() {
        let refused = check_runtime().map_err(|e| e.to_string());
        assert!(refused.as_ref().is_err_and(|e| e.contains("not a current-thread runtime")), "{refused:?}");
    }

    #[test]
    fn no_runtime_at_all_is_refused() {
        assert!(check_runtime().is_err_and(|e| e.found == "no tokio runtime at all"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_multi_thread_runtime_is_served() {
        assert!(check_runtime().is_ok());
    }

    #[tokio::test]
    async fn on_a_current_thread_runtime_the_hook_does_not_panic_and_writes_nothing() {
        let (handover, _) = handover(StandIn::default());
        handover.revoke(&RecordedCommits::default(), &[1]);
        assert_eq!(handover.writer.writes.load(Ordering::Relaxed), 0);
        assert_eq!(handover.take_back().batch.len(), 3, "the batch comes back unwritten, as after a failed write");
    }
}
