//! The one way each thing is measured from the rows, used by the experiment, the rebalance benchmark and the soak
//! (`lab measure stalls`), so the three report the same quantity under the same name.
//!
//! Both measures read only the `orders` table: `processed_at` is the database clock when the row was inserted (a
//! batch is one transaction, inserted in offset order per partition, so within a partition `processed_at` order is
//! the order rows were stored and committed), `produced_at` the record's timestamp set by the producer. On the local
//! stack and in compose both clocks are the same machine's.
//!
//! - **Stall** (what the docs call a *gap*): the longest stretch in which a partition had a record waiting (produced
//!   but not yet stored) and stored nothing. It begins at the later of the previous stored row and the earliest
//!   production time among the rows stored from then on, and ends at the next stored row. A partition with nothing
//!   to store is not stalled, however long it is silent; a new partition's first stall runs from its first record
//!   to its first row, which includes the wait until the group assigns it.
//! - **Customer order**: per customer, in the order the rows were stored, a row stored after a row of the same
//!   customer with a higher `customer_seq` is an inversion. Inversions within one partition break Kafka's ordering
//!   guarantee (must be 0); inversions whose higher-numbered row is on another partition are what a partition-count
//!   change causes, and are counted on their own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

/// The longest stall of one partition in a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// How long the partition had a record waiting and stored nothing, seconds.
    pub gap_s: f64,
    /// When the stall began, seconds after the window's reference instant (negative: before it).
    pub starts_s: f64,
}

/// Per partition, the longest stall that began at or after `from` and ended in (`event`, `to`]; `starts_s` is
/// relative to `event`. With `event = from` it is the longest stall of the whole window (a baseline).
///
/// # Errors
/// When the query fails.
pub async fn stalls(
    pool: &PgPool,
    from: DateTime<Utc>,
    event: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<BTreeMap<i32, Stall>> {
    let rows = sqlx::query(
        "WITH stored AS (
             SELECT kafka_partition AS p, processed_at AS ends_at,
                    GREATEST(LAG(processed_at) OVER (PARTITION BY kafka_partition ORDER BY processed_at, kafka_offset),
                             MIN(produced_at) OVER (PARTITION BY kafka_partition
                                                    ORDER BY processed_at DESC, kafka_offset DESC
                                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS starts_at
               FROM orders)
         SELECT DISTINCT ON (p) p, EXTRACT(EPOCH FROM ends_at - starts_at)::float8,
                EXTRACT(EPOCH FROM starts_at - $2)::float8
           FROM stored
          WHERE ends_at > $2 AND ends_at <= $3 AND starts_at >= $1 AND ends_at > starts_at
          ORDER BY p, ends_at - starts_at DESC",
    )
    .bind(from)
    .bind(event)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), Stall { gap_s: r.get(1), starts_s: r.get(2) })).collect())
}

/// The stalls of each of a run's events, `events` being when they happened, in order: for each, per partition, the
/// longest stall that ended after it and at or before the next event (or `end`), and began at or after the event
/// before it (or `start`), so a stall is counted for the event it followed.
///
/// # Errors
/// When a query fails.
pub async fn stalls_per_event(
    pool: &PgPool,
    start: DateTime<Utc>,
    events: &[DateTime<Utc>],
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<BTreeMap<i32, Stall>>> {
    let mut per_event = Vec::with_capacity(events.len());
    for (i, at) in events.iter().enumerate() {
        let from = if i == 0 { start } else { events[i - 1] };
        let to = events.get(i + 1).copied().unwrap_or(end);
        per_event.push(stalls(pool, from, *at, to).await?);
    }
    Ok(per_event)
}

/// For each labelled event, in order, the longest stall on any partition that followed it (as
/// [`stalls_per_event`] counts them) as `results.txt` lines: `step1.longest_stall_s=10.93`,
/// `step1.stall_partition=0`; nothing for an event no stall followed.
///
/// # Errors
/// When a query fails.
pub async fn longest_stall_lines(
    pool: &PgPool,
    events: &[(String, DateTime<Utc>)],
    until: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, String)>> {
    let times: Vec<DateTime<Utc>> = events.iter().map(|(_, at)| *at).collect();
    let per_event = stalls_per_event(pool, DateTime::<Utc>::UNIX_EPOCH, &times, until).await?;
    let mut lines = Vec::new();
    for ((label, _), stalls) in events.iter().zip(&per_event) {
        if let Some((partition, stall)) = stalls.iter().max_by(|a, b| a.1.gap_s.total_cmp(&b.1.gap_s)) {
            lines.push((format!("{label}.longest_stall_s"), format!("{:.2}", stall.gap_s)));
            lines.push((format!("{label}.stall_partition"), partition.to_string()));
        }
    }
    Ok(lines)
}

/// The longest of `stalls` on `partitions` (`None` when none of them stalled).
pub fn longest(stalls: &BTreeMap<i32, Stall>, partitions: &[i32]) -> Option<f64> {
    partitions.iter().filter_map(|p| stalls.get(p)).map(|s| s.gap_s).reduce(f64::max)
}

/// Per-customer order, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerOrder {
    /// Rows stored after a row of the same customer and partition with a higher `customer_seq` (must be 0).
    pub inversions_within_partitions: i64,
    /// Customers whose rows sit on more than one partition, and their rows.
    pub customers_on_several_partitions: i64,
    pub rows_of_those_customers: i64,
    /// Rows stored after a row of the same customer with a higher `customer_seq` on another partition, and not
    /// after one on their own.
    pub inversions_across_partitions: i64,
}

/// Checks per-customer order over the whole table.
///
/// # Errors
/// When the query fails.
pub async fn customer_order(pool: &PgPool) -> anyhow::Result<CustomerOrder> {
    let r = sqlx::query(
        "WITH ranked AS (
             SELECT customer_seq,
                    MAX(customer_seq) OVER (PARTITION BY customer_id ORDER BY processed_at, kafka_offset
                                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_any,
                    MAX(customer_seq) OVER (PARTITION BY customer_id, kafka_partition ORDER BY processed_at, kafka_offset
                                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before_same
               FROM orders),
              moved AS (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY customer_id
                         HAVING COUNT(DISTINCT kafka_partition) > 1)
         SELECT (SELECT COUNT(*) FROM ranked WHERE before_same > customer_seq),
                (SELECT COUNT(*) FROM moved), (SELECT COALESCE(SUM(n), 0)::int8 FROM moved),
                (SELECT COUNT(*) FROM ranked
                  WHERE before_any > customer_seq AND (before_same IS NULL OR before_same < customer_seq))",
    )
    .fetch_one(pool)
    .await?;
    Ok(CustomerOrder {
        inversions_within_partitions: r.get(0),
        customers_on_several_partitions: r.get(1),
        rows_of_those_customers: r.get(2),
        inversions_across_partitions: r.get(3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_stall_is_taken_over_the_named_partitions_only() {
        let s = BTreeMap::from([
            (0, Stall { gap_s: 11.2, starts_s: 0.1 }),
            (1, Stall { gap_s: 0.4, starts_s: 2.0 }),
            (2, Stall { gap_s: 30.0, starts_s: -1.0 }),
        ]);
        assert_eq!(longest(&s, &[0, 1]), Some(11.2));
        assert_eq!(longest(&s, &[1, 5]), Some(0.4));
        assert_eq!(longest(&s, &[5]), None);
        assert_eq!(longest(&s, &[]), None);
    }
}
