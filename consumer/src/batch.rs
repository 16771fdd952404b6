//! Messages collected between two writes: those already waiting when the batch began, up to `BATCH_SIZE`, taken for
//! `BATCH_TIMEOUT_MS` at most (the pipeline decides when to write; see [`crate::pipeline`]).

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use shared::order::OrderEvent;
use uuid::Uuid;

use crate::decode::Poison;

/// One consumed message and what became of it.
#[derive(Debug)]
pub struct Entry {
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp (CreateTime, set by the producer).
    pub produced_at: Option<DateTime<Utc>>,
    /// The original key, kept for poison messages only, so a dead letter carries the bytes exactly as consumed. An
    /// order's key is its `customer_id` (decoding checks it), so an order Postgres rejects gets it back from there.
    pub key: Option<Vec<u8>>,
    /// The original value, kept for every message: an order Postgres rejects is dead-lettered too, as consumed.
    pub payload: Option<Vec<u8>>,
    pub outcome: Outcome,
}

impl Entry {
    /// A hash of the record's key: an order's `customer_id` (equal to its key, decoding checks it), a poison
    /// message's key as consumed (none hashes as empty).
    fn key_hash(&self) -> u64 {
        let mut hasher = std::hash::DefaultHasher::new();
        match &self.outcome {
            Outcome::Order(order) => order.customer_id.as_bytes().hash(&mut hasher),
            Outcome::Poison { .. } => self.key.as_deref().unwrap_or_default().hash(&mut hasher),
        }
        hasher.finish()
    }
}

#[derive(Debug)]
pub enum Outcome {
    /// A valid order, to be upserted.
    Order(Box<OrderEvent>),
    /// A poison message; `dead_lettered` once the dead-letter topic acknowledged it.
    Poison { poison: Poison, dead_lettered: bool },
}

/// Messages not yet written, in the order they were consumed.
#[derive(Debug, Default)]
pub struct Batch {
    entries: Vec<Entry>,
    opened_at: Option<Instant>,
    /// Whether the simulated per-order work (`PROCESSING_DELAY_MS`) was done for these messages.
    worked: bool,
}

/// How a batch is split into writes side by side ([`Batch::split`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// By the record's key, the customer: each customer's messages in one part, the same part in every batch, so
    /// per-customer order holds as stored, and a batch of one partition splits too. A partition then spans parts:
    /// its offsets may be marked done only once every part has settled ([`crate::writer::InFlight`] does so).
    Keys,
    /// Whole partitions per part (largest first, each to the smallest part so far): what `OFFSET_STORE=postgres`
    /// needs, as each write stores its partitions' next offsets in the transaction of their rows.
    Partitions,
}

impl Batch {
    pub fn push(&mut self, entry: Entry) {
        self.opened_at.get_or_insert_with(Instant::now);
        self.entries.push(entry);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether any message of `partitions` waits in the batch.
    pub fn holds_any(&self, partitions: &[i32]) -> bool {
        self.entries.iter().any(|e| partitions.contains(&e.partition))
    }

    pub fn worked(&self) -> bool {
        self.worked
    }

    /// Records that the simulated per-order work was done for the messages held.
    pub fn mark_worked(&mut self) {
        self.worked = true;
    }

    /// When the batch must be written at the latest: its first message's arrival plus `timeout`.
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.opened_at.map(|t| t + timeout)
    }

    /// Drops the messages of partitions this consumer no longer owns; their new owner reads them again from the
    /// last committed offset. Returns how many were dropped.
    pub fn drop_partitions(&mut self, partitions: &[i32]) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| !partitions.contains(&e.partition));
        if self.entries.is_empty() {
            self.opened_at = None;
        }
        before - self.entries.len()
    }

    /// The orders to upsert: one per `order_id`, the highest version (the latest offset among equals), in offset
    /// order per partition, so that rows are stored in the order of the log (per-customer order holds as stored,
    /// not only as logged; `lab/src/measure.rs` checks it).
    pub fn orders(&self) -> Vec<&Entry> {
        let mut newest: HashMap<Uuid, &Entry> = HashMap::with_capacity(self.entries.len());
        for entry in &self.entries {
            let Outcome::Order(order) = &entry.outcome else { continue };
            newest
                .entry(order.order_id)
                .and_modify(|kept| {
                    if let Outcome::Order(k) = &kept.outcome
                        && (order.version, entry.offset) > (k.version, kept.offset)
                    {
                        *kept = entry;
                    }
                })
                .or_insert(entry);
        }
        let mut orders: Vec<&Entry> = newest.into_values().collect();
        orders.sort_unstable_by_key(|e| (e.partition, e.offset));
        orders
    }

    /// When each order of the batch was produced (its record's timestamp), where the record has one.
    pub fn produced_times(&self) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.entries.iter().filter(|e| matches!(e.outcome, Outcome::Order(_))).filter_map(|e| e.produced_at)
    }

    /// Poison messages not yet acknowledged by the dead-letter topic.
    pub fn undelivered_poison(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.entries.iter_mut().filter(|e| matches!(e.outcome, Outcome::Poison { dead_lettered: false, .. }))
    }

    /// Turns the order at (`partition`, `offset`) into a poison message, when Postgres refused its row; its key,
    /// not kept for orders, is restored from the order's `customer_id`, which decoding found equal to it.
    pub fn reject(&mut self, partition: i32, offset: i64, poison: Poison) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.partition == partition && e.offset == offset) {
            let outcome = std::mem::replace(&mut e.outcome, Outcome::Poison { poison, dead_lettered: false });
            if let Outcome::Order(order) = outcome
                && e.key.is_none()
            {
                e.key = Some(order.customer_id.into_bytes());
            }
        }
    }

    /// Per partition, one past the highest offset in the batch: what may be committed once the batch is written.
    pub fn next_offsets(&self) -> BTreeMap<i32, i64> {
        let mut next = BTreeMap::new();
        for e in &self.entries {
            let o = next.entry(e.partition).or_insert(e.offset + 1);
            *o = (*o).max(e.offset + 1);
        }
        next
    }

    /// Counts of (orders, poison messages) in the batch.
    pub fn counts(&self) -> (usize, usize) {
        let poison = self.entries.iter().filter(|e| matches!(e.outcome, Outcome::Poison { .. })).count();
        (self.entries.len() - poison, poison)
    }

    /// Puts `earlier`, consumed before this batch, in front of it: a batch whose write failed rejoins the one
    /// filled meanwhile, so the messages stay in the order consumed and what is done stays a prefix.
    pub fn put_after(&mut self, earlier: Batch) {
        let mut merged = earlier;
        merged.worked = merged.worked && (self.worked || self.entries.is_empty());
        merged.opened_at = merged.opened_at.or(self.opened_at);
        merged.entries.append(&mut self.entries);
        *self = merged;
    }

    /// Splits the batch into at most `parts` batches, each message's place given by `by`, the messages of each
    /// part in the order consumed. Every part keeps the batch's start and whether its work was done. By key there
    /// are exactly `parts` parts, some maybe empty: part *i* holds the same customers whatever the batch (a lane of
    /// [`crate::writer::InFlight`]); by partition, no part is empty.
    pub fn split(self, parts: usize, by: Split) -> Vec<Batch> {
        let (opened_at, worked) = (self.opened_at, self.worked);
        let part = |entries: Vec<Entry>| Batch { entries, opened_at, worked };
        match by {
            Split::Keys => {
                let count = parts.max(1);
                let mut lanes: Vec<Vec<Entry>> = (0..count).map(|_| Vec::new()).collect();
                for entry in self.entries {
                    let lane = entry.key_hash() % count as u64;
                    lanes[lane as usize].push(entry);
                }
                lanes.into_iter().map(part).collect()
            }
            Split::Partitions => {
                let mut by_partition: BTreeMap<i32, Vec<Entry>> = BTreeMap::new();
                for entry in self.entries {
                    by_partition.entry(entry.partition).or_default().push(entry);
                }
                let mut partitions: Vec<Vec<Entry>> = by_partition.into_values().collect();
                partitions.sort_by_key(|entries| std::cmp::Reverse(entries.len()));
                let count = parts.clamp(1, partitions.len().max(1));
                let mut split: Vec<Batch> = (0..count).map(|_| part(Vec::new())).collect();
                for entries in partitions {
                    if let Some(smallest) = split.iter_mut().min_by_key(|b| b.entries.len()) {
                        smallest.entries.extend(entries);
                    }
                }
                split.retain(|b| !b.entries.is_empty());
                split
            }
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.opened_at = None;
        self.worked = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::PoisonKind;
    use shared::order::{OrderItem, OrderStatus, SCHEMA_VERSION};

    fn order(id: u128, version: u32) -> Box<OrderEvent> {
        customer_order(id, version, "CUST-00001")
    }

    fn customer_order(id: u128, version: u32, customer: &str) -> Box<OrderEvent> {
        Box::new(OrderEvent {
            schema_version: SCHEMA_VERSION,
            order_id: Uuid::from_u128(id),
            customer_id: customer.into(),
            customer_name: "A".into(),
            restaurant: "R".into(),
            items: vec![OrderItem { name: "x".into(), quantity: 1, unit_price: 1.into() }],
            total_amount: 1.into(),
            status: if version == 1 { OrderStatus::Placed } else { OrderStatus::Confirmed },
            created_at: Utc::now(),
            customer_seq: 1,
            version,
        })
    }

    fn entry(partition: i32, offset: i64, outcome: Outcome) -> Entry {
        Entry { partition, offset, produced_at: None, key: None, payload: None, outcome }
    }

    #[test]
    fn a_batch_put_after_an_earlier_one_keeps_the_order_consumed() {
        let mut earlier = Batch::default();
        earlier.push(entry(0, 10, Outcome::Order(order(1, 1))));
        earlier.push(entry(1, 3, Outcome::Order(order(2, 1))));
        earlier.mark_worked();
        let mut later = Batch::default();
        later.push(entry(0, 11, Outcome::Order(order(1, 2))));
        later.put_after(earlier);
        let held: Vec<(i32, i64)> = later.entries.iter().map(|e| (e.partition, e.offset)).collect();
        assert_eq!(held, vec![(0, 10), (1, 3), (0, 11)]);
        assert_eq!(later.next_offsets(), BTreeMap::from([(0, 12), (1, 4)]));
        assert!(!later.worked(), "the later messages' work is still owed");
    }

    #[test]
    fn a_split_keeps_partitions_whole_and_in_order_and_evens_the_parts() {
        let mut b = Batch::default();
        for (partition, offset) in [(0, 1), (1, 1), (0, 2), (2, 1), (0, 3), (1, 2)] {
            b.push(entry(partition, offset, Outcome::Order(order(offset as u128, 1))));
        }
        let parts = b.split(2, Split::Partitions);
        let held: Vec<Vec<(i32, i64)>> =
            parts.iter().map(|p| p.entries.iter().map(|e| (e.partition, e.offset)).collect()).collect();
        assert_eq!(held, vec![vec![(0, 1), (0, 2), (0, 3)], vec![(1, 1), (1, 2), (2, 1)]]);
        assert!(parts.iter().all(|p| p.deadline(Duration::ZERO).is_some()), "each part keeps the batch's start");

        let mut one = Batch::default();
        one.push(entry(4, 7, Outcome::Order(order(1, 1))));
        assert_eq!(one.split(3, Split::Partitions).len(), 1, "one partition, one part");
        assert!(Batch::default().split(2, Split::Partitions).is_empty());
    }

    #[test]
    fn a_split_by_key_keeps_each_customer_in_one_part_in_the_order_consumed() {
        let mut b = Batch::default();
        let customers = (0..40).map(|c| format!("CUST-{c:05}")).collect::<Vec<_>>();
        for offset in 0..400_i64 {
            let customer = &customers[(offset * 7 % 40) as usize];
            b.push(entry(0, offset, Outcome::Order(customer_order(offset as u128, 1, customer))));
        }
        let mut poison =
            entry(0, 400, Outcome::Poison { poison: Poison::new(PoisonKind::NotJson, "x"), dead_lettered: false });
        poison.key = Some(customers[3].clone().into_bytes());
        b.push(poison);
        let parts = b.split(2, Split::Keys);
        assert_eq!(parts.len(), 2, "one partition, forty customers: both parts used");
        assert_eq!(parts.iter().map(Batch::len).sum::<usize>(), 401);
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        for (i, part) in parts.iter().enumerate() {
            assert!(part.entries.windows(2).all(|w| w[0].offset < w[1].offset), "in the order consumed");
            assert!(part.deadline(Duration::ZERO).is_some(), "each part keeps the batch's start");
            for e in &part.entries {
                let key = match &e.outcome {
                    Outcome::Order(o) => o.customer_id.clone().into_bytes(),
                    Outcome::Poison { .. } => e.key.clone().unwrap_or_default(),
                };
                assert_eq!(*seen.entry(key).or_insert(i), i, "a customer's messages in one part");
            }
        }
        assert!(Batch::default().split(2, Split::Keys).iter().all(Batch::is_empty), "two lanes, nothing on them");
    }

    #[test]
    fn duplicates_inside_a_batch_collapse_to_the_newest_version() {
        let mut b = Batch::default();
        b.push(entry(0, 10, Outcome::Order(order(1, 1))));
        b.push(entry(0, 11, Outcome::Order(order(1, 2))));
        b.push(entry(1, 5, Outcome::Order(order(1, 1))));
        b.push(entry(1, 6, Outcome::Order(order(2, 1))));
        b.push(entry(1, 7, Outcome::Order(order(2, 1))));
        let kept: Vec<(u128, u32, i64)> = b
            .orders()
            .iter()
            .map(|e| match &e.outcome {
                Outcome::Order(o) => (o.order_id.as_u128(), o.version, e.offset),
                Outcome::Poison { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(kept, vec![(1, 2, 11), (2, 1, 7)]);
    }

    #[test]
    fn orders_come_in_offset_order_per_partition() {
        let mut b = Batch::default();
        for (partition, offset) in [(1, 40), (0, 7), (1, 3), (0, 9), (2, 1), (0, 8)] {
            b.push(entry(partition, offset, Outcome::Order(order(offset as u128 * 10 + partition as u128, 1))));
        }
        let stored: Vec<(i32, i64)> = b.orders().iter().map(|e| (e.partition, e.offset)).collect();
        assert_eq!(stored, [(0, 7), (0, 8), (0, 9), (1, 3), (1, 40), (2, 1)]);
    }

    #[test]
    fn next_offsets_are_one_past_the_highest_per_partition() {
        let mut b = Batch::default();
        b.push(entry(0, 10, Outcome::Order(order(1, 1))));
        b.push(entry(2, 3, Outcome::Poison { poison: Poison::new(PoisonKind::NotJson, "x"), dead_lettered: false }));
        b.push(entry(0, 12, Outcome::Order(order(2, 1))));
        assert_eq!(b.next_offsets(), BTreeMap::from([(0, 13), (2, 4)]));
        assert_eq!(b.counts(), (2, 1));
    }

    #[test]
    fn a_rejected_order_gets_its_key_back_for_the_dead_letter() {
        let mut b = Batch::default();
        b.push(entry(0, 1, Outcome::Order(order(1, 1))));
        b.reject(0, 1, Poison::new(PoisonKind::DbRejected, "no"));
        let dead: Vec<&mut Entry> = b.undelivered_poison().collect();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].key.as_deref(), Some(&b"CUST-00001"[..]));
    }

    #[test]
    fn revoked_partitions_leave_the_batch() {
        let mut b = Batch::default();
        b.push(entry(0, 1, Outcome::Order(order(1, 1))));
        b.push(entry(1, 1, Outcome::Order(order(2, 1))));
        assert_eq!(b.drop_partitions(&[1]), 1);
        assert_eq!(b.next_offsets(), BTreeMap::from([(0, 2)]));
        assert_eq!(b.drop_partitions(&[0]), 1);
        assert!(b.is_empty());
        assert_eq!(b.deadline(Duration::from_secs(1)), None);
    }
}
