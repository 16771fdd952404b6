//! # The commit rule
//!
//! An offset is committed only when every message before it in its partition is done: its row is in Postgres
//! (the statement that wrote it has committed) or it is in the dead-letter topic (the broker acknowledged it).
//! A Kafka commit means "this partition is done below this offset", so after each written batch the pipeline
//! marks, per partition, one past the batch's highest offset as done ([`Offsets::mark_done`]) and commits it:
//! asynchronously, at most every 100 ms while batches follow each other, and whenever the loop is idle.
//! A batch split into writes side by side has its offsets marked done only once all its writes have stored it and
//! every batch before it is done; after a failure, only for the partitions none of the failed writes holds
//! ([`crate::writer::InFlight`]). So what is done is always a prefix of the partition.
//!
//! Offsets of partitions this consumer no longer owns are never committed. When partitions are revoked, the
//! rebalance hook first writes the batch the pipeline holds ([`crate::rebalance::Handover`]), then commits
//! (synchronously, before the revocation completes) what is done for them and forgets them. Only if that write
//! fails (the database is down) are the revoked partitions' waiting messages dropped, never committed, so their
//! new owner reads them again. A lost assignment (this member was expelled) writes and commits nothing.
//!
//! # Offsets stored in Postgres (`OFFSET_STORE=postgres`)
//! The same done offsets are also written to Postgres, in the transaction that stores the batch's rows
//! ([`crate::writer`]), and a member newly assigned a partition starts there: the source sets each partition's
//! stored offset in the assignment itself before librdkafka applies it ([`crate::source`]), the "storing offsets
//! outside Kafka" pattern. After a crash the new owner then starts right after the last stored row, where Kafka's
//! committed offset may be behind. The Kafka commits above still follow the batches, for lag tooling; since they
//! send what the database already holds, a committed offset is never ahead of the stored one. A partition that
//! starts at a stored offset is done up to it, so the next commit brings Kafka's offset up to there. As a second
//! line, a message below its partition's stored offset is skipped unprocessed ([`Offsets::below_stored`]).
//!
//! Every commit goes through this module ([`Offsets::commit`], [`Offsets::commit_revoked`]) and every broker
//! answer comes back to it ([`Offsets::commit_answered`]): no other module builds a commit request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rdkafka::client::Client;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::util::AsyncRuntime;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::debug;

use crate::events::{CommitFailed, Committed, Metrics};

/// Where a commit request goes: the Kafka consumer, or a recorder in tests.
pub trait CommitTarget {
    /// Sends `offsets` to the group coordinator; [`CommitMode::Sync`] returns once the broker answered.
    ///
    /// # Errors
    /// The commit was refused or could not be sent.
    fn commit_offsets(&self, offsets: &TopicPartitionList, mode: CommitMode) -> KafkaResult<()>;
}

impl<C: ConsumerContext> CommitTarget for BaseConsumer<C> {
    fn commit_offsets(&self, offsets: &TopicPartitionList, mode: CommitMode) -> KafkaResult<()> {
        Consumer::commit(self, offsets, mode)
    }
}

impl<C: ConsumerContext, R: AsyncRuntime> CommitTarget for StreamConsumer<C, R> {
    fn commit_offsets(&self, offsets: &TopicPartitionList, mode: CommitMode) -> KafkaResult<()> {
        match mode {
            CommitMode::Sync => Consumer::commit(self, offsets, mode),
            CommitMode::Async => commit_async_answered(self.client(), offsets),
        }
    }
}

/// An asynchronous commit whose answer comes back. rust-rdkafka's (`rd_kafka_commit(…, async)`) names no reply
/// queue, and librdkafka then posts the broker's answer only to a native `offset_commit_cb`, which rust-rdkafka
/// does not set: [`ConsumerContext::commit_callback`] never runs (fede1024/rust-rdkafka#856, reproduced with
/// 0.39.0 and librdkafka 2.12.1). Unconfirmed, every commit would be sent again at each idle tick, 20 times a
/// second. `rd_kafka_commit_queue` with the consumer's own queue, the fix proposed upstream (#857), posts the
/// answer to the queue `recv()` serves, where rust-rdkafka turns it into `commit_callback`.
fn commit_async_answered<C: ClientContext>(client: &Client<C>, offsets: &TopicPartitionList) -> KafkaResult<()> {
    let rk = client.native_ptr();
    // SAFETY: `rk` is the live client's handle. `rd_kafka_queue_get_consumer` returns a new reference to the
    // consumer queue (null only for a client that is not a consumer), released right after: the commit request
    // holds its own. `rd_kafka_commit_queue` copies `offsets` and returns at once when given a queue.
    let error = unsafe {
        let queue = rdkafka::bindings::rd_kafka_queue_get_consumer(rk);
        if queue.is_null() {
            return Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::InvalidArgument));
        }
        let error = rdkafka::bindings::rd_kafka_commit_queue(rk, offsets.ptr(), queue, None, std::ptr::null_mut());
        rdkafka::bindings::rd_kafka_queue_destroy(queue);
        error
    };
    match RDKafkaErrorCode::from(error) {
        RDKafkaErrorCode::NoError => Ok(()),
        code => Err(KafkaError::ConsumerCommit(code)),
    }
}

/// What is done and what is committed, per owned partition of one topic.
#[derive(Debug)]
pub struct Offsets {
    topic: String,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, Default)]
struct State {
    owned: BTreeSet<i32>,
    /// One past the last message written, per owned partition.
    done: BTreeMap<i32, i64>,
    /// What the broker confirmed as committed, per owned partition.
    committed: BTreeMap<i32, i64>,
    /// Partitions revoked since the pipeline last asked.
    revoked_since_last_check: Vec<i32>,
    /// Per owned partition that started at an offset stored in Postgres, that offset: every message below it is
    /// already stored or dead-lettered.
    stored_at_start: BTreeMap<i32, i64>,
    /// Partitions a skipped message was logged for since they were assigned: one line each, not one per message.
    skip_logged: BTreeSet<i32>,
}

impl Offsets {
    pub fn new(topic: impl Into<String>, metrics: Arc<Metrics>) -> Self {
        Self { topic: topic.into(), state: Mutex::new(State::default()), metrics }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock would already have ended the pipeline; the data stays consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Partitions this consumer now owns (called by the rebalance callback). One that starts at an offset stored in
    /// Postgres is done up to it: the next commit sends it to Kafka too, so the group's committed offset, which lag
    /// tooling reads, catches up with where the member starts even before its first batch there.
    pub fn assigned(&self, partitions: &[i32]) {
        let mut state = self.state();
        for p in partitions {
            state.owned.insert(*p);
            if let Some(start) = state.stored_at_start.get(p).copied() {
                let d = state.done.entry(*p).or_insert(start);
                *d = (*d).max(start);
            }
        }
    }

    /// Partitions leaving this consumer: returns what is done for them and not yet confirmed, and forgets them.
    fn revoked(&self, partitions: &[i32]) -> TopicPartitionList {
        let mut state = self.state();
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            state.owned.remove(p);
            state.stored_at_start.remove(p);
            state.skip_logged.remove(p);
            let done = state.done.remove(p);
            let committed = state.committed.remove(p);
            if let Some(offset) = done.filter(|d| Some(*d) != committed) {
                let _ = tpl.add_partition_offset(&self.topic, *p, Offset::Offset(offset));
            }
            state.revoked_since_last_check.push(*p);
        }
        tpl
    }

    /// Partitions about to be assigned that start at the offset stored for them in Postgres.
    pub fn started_at_stored(&self, stored: &BTreeMap<i32, i64>) {
        self.state().stored_at_start.extend(stored);
    }

    /// Whether the message at `offset` of `partition` is already done: below the offset the partition started at
    /// (stored in Postgres) or below what this member has written since. librdkafka starts at the stored offset, so
    /// this should never be true; it is the defensive second check that keeps a re-delivery from being processed.
    /// `None`: process the message. `Some(first)`: skip it; `first` the first time for this partition since it was
    /// assigned, so it is logged once. Partitions that started at Kafka's committed offset are not checked.
    pub fn below_stored(&self, partition: i32, offset: i64) -> Option<bool> {
        let mut state = self.state();
        let start = *state.stored_at_start.get(&partition)?;
        let floor = state.done.get(&partition).map_or(start, |done| start.max(*done));
        (offset < floor).then(|| state.skip_logged.insert(partition))
    }

    /// Partitions taken away without a revocation (this member was expelled): forgotten, nothing committed for
    /// them, since another member may already own them.
    pub fn lost(&self, partitions: &[i32]) {
        let _uncommittable = self.revoked(partitions);
    }

    /// Commits what is done and not yet confirmed. A synchronous commit is confirmed at once; an asynchronous one
    /// when the broker's answer reaches [`Offsets::commit_answered`]. A failure is logged and retried later, since
    /// what is done stays uncommitted until confirmed.
    pub fn commit(&self, target: &impl CommitTarget, mode: CommitMode) {
        // Built before committing, so the state's lock is not held while the commit serves callbacks.
        let Some(tpl) = self.uncommitted() else { return };
        if let Err(error) = target.commit_offsets(&tpl, mode) {
            self.metrics.emit(CommitFailed { error: &error, on_revoke: false });
        } else if matches!(mode, CommitMode::Sync) {
            self.confirmed(&tpl);
            self.metrics.emit(Committed { offsets: &tpl, on_revoke: false });
        }
    }

    /// Partitions being revoked, their held batch already written: commits what is done for them, synchronously
    /// because the new owner must find these offsets committed when the revocation completes, and forgets them.
    pub fn commit_revoked(&self, target: &impl CommitTarget, partitions: &[i32]) {
        let done = self.revoked(partitions);
        if done.count() == 0 {
            return;
        }
        match target.commit_offsets(&done, CommitMode::Sync) {
            Ok(()) => self.metrics.emit(Committed { offsets: &done, on_revoke: true }),
            Err(error) => self.metrics.emit(CommitFailed { error: &error, on_revoke: true }),
        }
    }

    /// The broker's answer to a commit (librdkafka's commit callback).
    pub fn commit_answered(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                self.confirmed(offsets);
                self.metrics.emit(Committed { offsets, on_revoke: false });
            }
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            // Refused because a rebalance is under way: the offsets are committed again after it (or on revoke).
            Err(KafkaError::ConsumerCommit(
                RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::StaleMemberEpoch,
            )) => debug!(event = "commit_deferred", "commit refused during a rebalance; committed again after it"),
            Err(error) => self.metrics.emit(CommitFailed { error: &error, on_revoke: false }),
        }
    }

    /// Partitions revoked since the last call: the pipeline drops their unwritten messages.
    pub fn take_revoked(&self) -> Vec<i32> {
        std::mem::take(&mut self.state().revoked_since_last_check)
    }

    pub fn owned(&self) -> Vec<i32> {
        self.state().owned.iter().copied().collect()
    }

    /// What is marked done, per owned partition.
    #[cfg(test)]
    pub(crate) fn done(&self) -> BTreeMap<i32, i64> {
        self.state().done.clone()
    }

    /// Marks a written batch as done. Partitions no longer owned are ignored: never commit what is not yours.
    pub fn mark_done(&self, next_offsets: &BTreeMap<i32, i64>) {
        let mut state = self.state();
        for (p, offset) in next_offsets {
            if state.owned.contains(p) {
                let d = state.done.entry(*p).or_insert(*offset);
                *d = (*d).max(*offset);
            }
        }
    }

    /// Done offsets the broker has not confirmed yet, as a commit request; `None` when all are committed.
    fn uncommitted(&self) -> Option<TopicPartitionList> {
        let state = self.state();
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in &state.done {
            if state.committed.get(p) != Some(offset) {
                let _ = tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*offset));
            }
        }
        (tpl.count() > 0).then_some(tpl)
    }

    /// Records offsets the broker confirmed.
    fn confirmed(&self, tpl: &TopicPartitionList) {
        let mut state = self.state();
        for e in tpl.elements_for_topic(&self.topic) {
            if let (Offset::Offset(offset), true) = (e.offset(), state.owned.contains(&e.partition())) {
                let c = state.committed.entry(e.partition()).or_insert(offset);
                *c = (*c).max(offset);
            }
        }
    }
}

/// One recorded commit request: (partition, offset) pairs, and whether it was synchronous.
#[cfg(test)]
pub(crate) type Request = (Vec<(i32, i64)>, bool);

/// A [`CommitTarget`] that records what it is asked to commit, for tests of the modules that commit through here.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct RecordedCommits {
    pub requests: Mutex<Vec<Request>>,
    /// When set, every commit fails.
    pub refuse: bool,
}

#[cfg(test)]
impl RecordedCommits {
    pub fn taken(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
impl CommitTarget for RecordedCommits {
    fn commit_offsets(&self, offsets: &TopicPartitionList, mode: CommitMode) -> KafkaResult<()> {
        let pairs = offsets.elements().iter().map(|e| (e.partition(), e.offset().to_raw().unwrap_or(-1))).collect();
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).push((pairs, matches!(mode, CommitMode::Sync)));
        if self.refuse { Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::RequestTimedOut)) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets_of(tpl: &TopicPartitionList) -> Vec<(i32, i64)> {
        tpl.elements().iter().map(|e| (e.partition(), e.offset().to_raw().unwrap_or(-1))).collect()
    }

    #[test]
    fn only_owned_partitions_are_ever_marked_done() {
        let o = Offsets::new("t", Arc::default());
        o.assigned(&[0, 1]);
        o.mark_done(&BTreeMap::from([(0, 10), (2, 5)]));
        assert_eq!(offsets_of(&o.uncommitted().unwrap()), vec![(0, 10)]);
    }

    #[test]
    fn revocation_hands_back_what_is_done_and_forgets_the_partition() {
        let o = Offsets::new("t", Arc::default());
        o.assigned(&[0, 1]);
        o.mark_done(&BTreeMap::from([(0, 10), (1, 7)]));
        assert_eq!(offsets_of(&o.revoked(&[1])), vec![(1, 7)]);
        assert_eq!(o.take_revoked(), vec![1]);
        assert!(o.take_revoked().is_empty());
        o.mark_done(&BTreeMap::from([(1, 9)]));
        assert_eq!(offsets_of(&o.uncommitted().unwrap()), vec![(0, 10)]);
        assert_eq!(o.owned(), vec![0]);
    }

    #[test]
    fn confirmed_offsets_are_not_committed_again() {
        let o = Offsets::new("t", Arc::default());
        o.assigned(&[0]);
        o.mark_done(&BTreeMap::from([(0, 10)]));
        let tpl = o.uncommitted().unwrap();
        o.confirmed(&tpl);
        assert!(o.uncommitted().is_none());
        o.mark_done(&BTreeMap::from([(0, 8)]));
        assert!(o.uncommitted().is_none(), "done never moves backwards");
        assert_eq!(o.revoked(&[0]).count(), 0, "nothing new to commit on revocation");
    }

    #[test]
    fn a_synchronous_commit_is_confirmed_at_once_an_asynchronous_one_by_the_brokers_answer() {
        let (o, target) = (Offsets::new("t", Arc::default()), RecordedCommits::default());
        o.assigned(&[0]);
        o.mark_done(&BTreeMap::from([(0, 10)]));
        o.commit(&target, CommitMode::Async);
        assert_eq!(target.taken(), vec![(vec![(0, 10)], false)]);
        o.commit(&target, CommitMode::Async);
        assert_eq!(target.taken().len(), 1, "not confirmed yet, so asked again");
        o.commit_answered(Ok(()), &o.uncommitted().unwrap());
        o.commit(&target, CommitMode::Async);
        assert!(target.taken().is_empty(), "confirmed: nothing left to commit");
        o.mark_done(&BTreeMap::from([(0, 12)]));
        o.commit(&target, CommitMode::Sync);
        o.commit(&target, CommitMode::Sync);
        assert_eq!(target.taken(), vec![(vec![(0, 12)], true)], "a synchronous success needs no answer");
    }

    #[test]
    fn a_refused_commit_stays_uncommitted() {
        let (o, target) = (Offsets::new("t", Arc::default()), RecordedCommits { refuse: true, ..Default::default() });
        o.assigned(&[0]);
        o.mark_done(&BTreeMap::from([(0, 10)]));
        o.commit(&target, CommitMode::Sync);
        let rebalancing = KafkaError::ConsumerCommit(RDKafkaErrorCode::RebalanceInProgress);
        o.commit_answered(Err(rebalancing), &o.uncommitted().unwrap());
        assert_eq!(offsets_of(&o.uncommitted().unwrap()), vec![(0, 10)]);
    }

    #[test]
    fn revoked_partitions_are_committed_synchronously_then_forgotten() {
        let (o, target) = (Offsets::new("t", Arc::default()), RecordedCommits::default());
        o.assigned(&[0, 1]);
        o.mark_done(&BTreeMap::from([(0, 10), (1, 7)]));
        o.commit_revoked(&target, &[1]);
        assert_eq!(target.taken(), vec![(vec![(1, 7)], true)]);
        assert_eq!(o.take_revoked(), vec![1]);
        o.commit_revoked(&target, &[1]);
        assert!(target.taken().is_empty(), "nothing done for a partition no longer owned");
    }

    #[test]
    fn messages_below_the_stored_offset_are_skipped_and_logged_once_per_assignment() {
        let o = Offsets::new("t", Arc::default());
        o.started_at_stored(&BTreeMap::from([(0, 10)]));
        o.assigned(&[0, 1]);
        assert_eq!(offsets_of(&o.uncommitted().unwrap()), vec![(0, 10)], "the start is committed to Kafka too");
        assert_eq!(o.below_stored(0, 9), Some(true), "first skip of partition 0: logged");
        assert_eq!(o.below_stored(0, 3), Some(false), "then quietly");
        assert_eq!(o.below_stored(0, 10), None);
        assert_eq!(o.below_stored(1, 0), None, "started at Kafka's committed offset: not checked");
        o.mark_done(&BTreeMap::from([(0, 15)]));
        assert_eq!(o.below_stored(0, 12), Some(false), "what this member wrote since is done too");
        o.commit_revoked(&RecordedCommits::default(), &[0]);
        assert_eq!(o.below_stored(0, 3), None, "forgotten with the partition");
        o.started_at_stored(&BTreeMap::from([(0, 15)]));
        o.assigned(&[0]);
        assert_eq!(o.below_stored(0, 14), Some(true), "a new assignment logs again");
    }

    #[test]
    fn lost_partitions_are_forgotten_and_never_committed() {
        let (o, target) = (Offsets::new("t", Arc::default()), RecordedCommits::default());
        o.assigned(&[0, 1]);
        o.mark_done(&BTreeMap::from([(0, 10), (1, 7)]));
        o.lost(&[1]);
        assert_eq!(o.take_revoked(), vec![1], "the pipeline drops their messages too");
        o.commit(&target, CommitMode::Sync);
        assert_eq!(target.taken(), vec![(vec![(0, 10)], true)]);
    }
}
