//! # The commit rule
//!
//! An offset is committed only when every message before it in its partition is done: its row is in Postgres
//! (the statement that wrote it has committed) or it is in the dead-letter topic (the broker acknowledged it).
//! A Kafka commit means "this partition is done below this offset", so after each written batch the pipeline
//! marks, per partition, one past the batch's highest offset as done ([`Offsets::mark_done`]) and commits it.
//! Batches are written one at a time, in the order consumed, so what is done is always a prefix of the partition.
//!
//! Offsets of partitions this consumer no longer owns are never committed. When partitions are revoked, the
//! rebalance callback first writes the batch the pipeline holds ([`crate::writer::HeldBatch`]), then commits
//! (synchronously, before the revocation completes) what is done for them and forgets them. Only if that write
//! fails (the database is down) are the revoked partitions' waiting messages dropped, never committed, so their
//! new owner reads them again. A lost assignment (this member was expelled) writes and commits nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use rdkafka::{Offset, TopicPartitionList};

/// What is done and what is committed, per owned partition of one topic.
#[derive(Debug)]
pub struct Offsets {
    topic: String,
    state: Mutex<State>,
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
}

impl Offsets {
    pub fn new(topic: impl Into<String>) -> Self {
        Self { topic: topic.into(), state: Mutex::new(State::default()) }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock would already have ended the pipeline; the data stays consistent.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Partitions this consumer now owns (called by the rebalance callback).
    pub fn assigned(&self, partitions: &[i32]) {
        self.state().owned.extend(partitions.iter().copied());
    }

    /// Partitions leaving this consumer (called by the rebalance callback). Returns what is done for them, to be
    /// committed before the revocation completes, and forgets them.
    pub fn revoked(&self, partitions: &[i32]) -> TopicPartitionList {
        let mut state = self.state();
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            state.owned.remove(p);
            let done = state.done.remove(p);
            let committed = state.committed.remove(p);
            if let Some(offset) = done.filter(|d| Some(*d) != committed) {
                let _ = tpl.add_partition_offset(&self.topic, *p, Offset::Offset(offset));
            }
            state.revoked_since_last_check.push(*p);
        }
        tpl
    }

    /// Partitions revoked since the last call: the pipeline drops their unwritten messages.
    pub fn take_revoked(&self) -> Vec<i32> {
        std::mem::take(&mut self.state().revoked_since_last_check)
    }

    pub fn owned(&self) -> Vec<i32> {
        self.state().owned.iter().copied().collect()
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
    pub fn uncommitted(&self) -> Option<TopicPartitionList> {
        let state = self.state();
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in &state.done {
            if state.committed.get(p) != Some(offset) {
                let _ = tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*offset));
            }
        }
        (tpl.count() > 0).then_some(tpl)
    }

    /// Records offsets the broker confirmed (called by the commit callback).
    pub fn confirmed(&self, tpl: &TopicPartitionList) {
        let mut state = self.state();
        for e in tpl.elements_for_topic(&self.topic) {
            if let (Offset::Offset(offset), true) = (e.offset(), state.owned.contains(&e.partition())) {
                let c = state.committed.entry(e.partition()).or_insert(offset);
                *c = (*c).max(offset);
            }
        }
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
        let o = Offsets::new("t");
        o.assigned(&[0, 1]);
        o.mark_done(&BTreeMap::from([(0, 10), (2, 5)]));
        assert_eq!(offsets_of(&o.uncommitted().unwrap()), vec![(0, 10)]);
    }

    #[test]
    fn revocation_hands_back_what_is_done_and_forgets_the_partition() {
        let o = Offsets::new("t");
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
        let o = Offsets::new("t");
        o.assigned(&[0]);
        o.mark_done(&BTreeMap::from([(0, 10)]));
        let tpl = o.uncommitted().unwrap();
        o.confirmed(&tpl);
        assert!(o.uncommitted().is_none());
        o.mark_done(&BTreeMap::from([(0, 8)]));
        assert!(o.uncommitted().is_none(), "done never moves backwards");
        assert_eq!(o.revoked(&[0]).count(), 0, "nothing new to commit on revocation");
    }
}
