//! The pipeline's side of a rebalance: the batch it holds while it waits in `recv()`, written before a revocation
//! completes, then the leaving partitions' offsets committed.
//!
//! librdkafka runs the rebalance callbacks inside `recv()`, on the pipeline's task, so a callback never overlaps a
//! write. While it waits there the pipeline lends its unwritten batch to [`Handover`], the [`GroupHook`] it installs
//! in the source. A revocation writes that batch (blocking the rebalance for at most [`REVOKE_WRITE_BUDGET`]), then
//! commits what is done for the leaving partitions through [`crate::offsets`], so they leave with everything
//! consumed from them stored and committed, and their next owner reads nothing twice. If the write fails, the
//! batch comes back to the pipeline unwritten, and the pipeline drops the revoked partitions' messages.
//!
//! # The runtime
//! The callback is synchronous and the write is not, so the write runs to completion where the callback is
//! ([`tokio::task::block_in_place`]), which only tokio's multi-thread runtime can do: a current-thread runtime's one
//! thread is the one blocked in the callback, and the database connections need it to make progress. So
//! [`check_runtime`] refuses any other runtime at start-up, with an error that says why.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaResult;
use tokio::runtime::{Handle, RuntimeFlavor};
use tracing::{error, info, warn};

use crate::batch::Batch;
use crate::offsets::{CommitTarget, Offsets};
use crate::source::{GroupContext, GroupHook};
use crate::writer::{Stats, WriteError, Writer};

/// Longest a revocation waits for the held batch to be written. Past it the batch's messages of the revoked
/// partitions are dropped uncommitted, and their next owner reads them again.
const REVOKE_WRITE_BUDGET: Duration = Duration::from_secs(5);

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

    /// The counters a write before a revocation is counted in.
    fn stats(&self) -> &Stats;
}

impl WriteHeld for Writer {
    fn ready(&self, batch: &Batch) -> bool {
        self.work_owed(batch).is_none()
    }

    fn write_batch(&self, batch: &mut Batch, offsets: &Offsets) -> impl Future<Output = Result<(), WriteError>> {
        self.write(batch, offsets)
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// The revocation hook: the batch lent by the pipeline, the means to write it, and the offsets to commit.
pub struct Handover<W = Writer> {
    writer: Arc<W>,
    offsets: Arc<Offsets>,
    /// The pipeline's batch while it waits in `recv()`; `None` the rest of the time.
    held: Mutex<Option<Batch>>,
}

impl<W: WriteHeld> Handover<W> {
    pub fn new(writer: Arc<W>, offsets: Arc<Offsets>) -> Self {
        Self { writer, offsets, held: Mutex::new(None) }
    }

    fn slot(&self) -> MutexGuard<'_, Option<Batch>> {
        // A panic while holding this lock would already have ended the pipeline; the batch stays consistent.
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lends the pipeline's batch for the time it waits in `recv()`.
    pub fn lend(&self, batch: Batch) {
        *self.slot() = Some(batch);
    }

    /// Takes the batch back after `recv()`: emptied if a revocation wrote it.
    pub fn take_back(&self) -> Batch {
        self.slot().take().unwrap_or_default()
    }

    /// Before `revoked` leave: the held batch written, then what is done for them committed synchronously.
    fn revoke(&self, target: &impl CommitTarget, revoked: &[i32]) {
        self.write_held(revoked);
        self.offsets.commit_revoked(target, revoked);
    }

    /// Writes the held batch when it holds messages of `revoked` and its work is done. On failure the messages
    /// stay, and the pipeline drops those of revoked partitions when it takes the batch back.
    fn write_held(&self, revoked: &[i32]) {
        let mut slot = self.slot();
        let Some(batch) = slot.as_mut() else { return };
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
            Ok(Ok(())) => {
                Stats::add(&self.writer.stats().written_on_revoke, messages as u64);
                info!(event = "batch_written_on_revoke", partitions = ?revoked, messages,
                      "held batch written before the partitions leave");
            }
            Ok(Err(error)) => warn!(event = "batch_write_on_revoke_failed", %error,
                                    "held batch not written; the next owner reads those messages again"),
            Err(_elapsed) => warn!(
                event = "batch_write_on_revoke_failed",
                budget_ms = REVOKE_WRITE_BUDGET.as_millis() as u64,
                "held batch not written in time; the next owner reads those messages again"
            ),
        }
    }
}

impl<W: WriteHeld + 'static> GroupHook for Handover<W> {
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
        stats: Stats,
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

        fn stats(&self) -> &Stats {
            &self.stats
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
        let offsets = Arc::new(Offsets::new("t"));
        offsets.assigned(&[0, 1]);
        offsets.mark_done(&BTreeMap::from([(1, 3)]));
        let handover = Handover::new(Arc::new(writer), Arc::clone(&offsets));
        let mut batch = Batch::default();
        for (partition, offset) in [(1, 3), (0, 9), (1, 4)] {
            batch.push(entry(partition, offset));
        }
        handover.lend(batch);
        (handover, offsets)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_revocation_writes_the_held_batch_then_commits_the_leaving_partitions_synchronously() {
        let (handover, offsets) = handover(StandIn::default());
        let commits = RecordedCommits::default();
        handover.revoke(&commits, &[1]);
        assert_eq!(handover.writer.writes.load(Ordering::Relaxed), 1);
        assert_eq!(Stats::get(&handover.writer.stats.written_on_revoke), 3, "the whole batch, all partitions");
        assert_eq!(commits.taken(), vec![(vec![(1, 5)], true)], "partition 1 up to the written batch, synchronously");
        assert!(handover.take_back().is_empty());
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
        let mut batch = handover.take_back();
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.drop_partitions(&offsets.take_revoked()), 2, "what the pipeline then drops");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_batch_still_owing_work_or_holding_nothing_of_the_leaving_partitions_is_not_written() {
        let (owing, _) = handover(StandIn { work_owed: true, ..StandIn::default() });
        owing.revoke(&RecordedCommits::default(), &[1]);
        assert_eq!(owing.writer.writes.load(Ordering::Relaxed), 0);
        assert_eq!(owing.take_back().len(), 3);

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
        assert_eq!(handover.take_back().len(), 3, "the batch comes back unwritten, as after a failed write");
    }
}
