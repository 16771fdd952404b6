//! The Postgres side of the hot path: one multi-row upsert per batch, and the one list of errors that count as
//! transient. Connecting, migrating and closing are [`crate::pool`]'s.
//!
//! The upsert keeps the newest version of each order: `ON CONFLICT (order_id) DO UPDATE … WHERE` the stored
//! version is older. A replay, a duplicate delivery or an older event therefore never adds a row and never
//! regresses one.
//!
//! With `OFFSET_STORE=postgres` the batch's next offsets go to `consumer_offsets` in the same transaction as its
//! rows ([`write`]), and a member reads them back when it is assigned partitions ([`stored_offsets`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::{PgExecutor, PgPool};
use tracing::instrument;
use uuid::Uuid;

use crate::batch::{Entry, Outcome};

/// A database error, sorted by what the pipeline must do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable, restarting, overloaded or in a state that will pass: retry the same batch
    /// later, commit nothing meanwhile.
    #[error("transient database error: {0}")]
    Transient(#[source] sqlx::Error),
    /// Postgres refused the data itself (a data exception or a constraint): retrying cannot help.
    #[error("database rejected the data: {0}")]
    Rejected(#[source] sqlx::Error),
}

/// The explicit list: only SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation) mean the
/// data is at fault. Everything else (connection loss, shutdown, resource limits, a missing table a migration will
/// bring back, an unknown failure) is treated as transient, because treating it as rejected would drop good orders.
pub fn classify(error: sqlx::Error) -> StoreError {
    let rejected = match &error {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        _ => false,
    };
    if rejected { StoreError::Rejected(error) } else { StoreError::Transient(error) }
}

/// What an upsert does with an order already stored: keeps the newest version.
macro_rules! keep_newest {
    () => {
        "ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, customer_name = EXCLUDED.customer_name, restaurant = EXCLUDED.restaurant,
    items = EXCLUDED.items, total_amount = EXCLUDED.total_amount, status = EXCLUDED.status,
    created_at = EXCLUDED.created_at, customer_seq = EXCLUDED.customer_seq, version = EXCLUDED.version,
    kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset,
    produced_at = EXCLUDED.produced_at, processed_by = EXCLUDED.processed_by, processed_at = clock_timestamp()
WHERE orders.version < EXCLUDED.version
"
    };
}

/// [`UPSERT`]'s conflict clause, for a statement that upserts orders from elsewhere (the benchmark's ceiling).
pub const KEEP_NEWEST: &str = keep_newest!();

/// The columns an upsert writes, in the order of its values.
macro_rules! columns {
    () => {
        "order_id, customer_id, customer_name, restaurant, items, total_amount, status, created_at,
                    customer_seq, version, kafka_partition, kafka_offset, produced_at, processed_by"
    };
}

/// [`UPSERT`]'s columns, for a statement that writes the same rows another way (the benchmark's `COPY`).
pub const COLUMNS: &str = columns!();

/// One row per array element. The arrays are unnested in the select list, not in `FROM`: there Postgres turns
/// `UNNEST(a, b, …)` into a function scan that first copies every row into a tuplestore; in the select list the
/// arrays are read in step (they have the same length) and each row goes straight to the insert. In interleaved
/// trials one consumer stored more orders per second this way in 6 of 7 pairs, and Postgres spent less CPU per row
/// (docs/performance.md, run G).
const UPSERT: &str = concat!(
    "INSERT INTO orders (",
    columns!(),
    ")
SELECT UNNEST($1::uuid[]), UNNEST($2::text[]), UNNEST($3::text[]), UNNEST($4::text[]), UNNEST($5::text[])::jsonb,
       UNNEST($6::numeric[]), UNNEST($7::text[]), UNNEST($8::timestamptz[]), UNNEST($9::int8[]), UNNEST($10::int4[]),
       UNNEST($11::int4[]), UNNEST($12::int8[]), UNNEST($13::timestamptz[]), $14
",
    keep_newest!()
);

/// Column arrays for one [`UPSERT`]. Text columns borrow from the batch's orders: building them copies no
/// string, only `items` is written out (as JSON text, which Postgres casts to `jsonb`).
#[derive(Default)]
struct Columns<'a> {
    order_id: Vec<Uuid>,
    customer_id: Vec<&'a str>,
    customer_name: Vec<&'a str>,
    restaurant: Vec<&'a str>,
    items: Vec<String>,
    total_amount: Vec<Decimal>,
    status: Vec<&'static str>,
    created_at: Vec<DateTime<Utc>>,
    customer_seq: Vec<i64>,
    version: Vec<i32>,
    kafka_partition: Vec<i32>,
    kafka_offset: Vec<i64>,
    produced_at: Vec<Option<DateTime<Utc>>>,
}

impl<'a> Columns<'a> {
    fn from_entries(entries: &[&'a Entry]) -> Self {
        let mut c = Columns::default();
        for entry in entries {
            let Outcome::Order(o) = &entry.outcome else { continue };
            c.order_id.push(o.order_id);
            c.customer_id.push(&o.customer_id);
            c.customer_name.push(&o.customer_name);
            c.restaurant.push(&o.restaurant);
            c.items.push(serde_json::to_string(&o.items).unwrap_or_else(|_| "[]".to_owned()));
            c.total_amount.push(o.total_amount);
            c.status.push(o.status.as_str());
            c.created_at.push(o.created_at);
            c.customer_seq.push(i64::try_from(o.customer_seq).unwrap_or(i64::MAX));
            c.version.push(i32::try_from(o.version).unwrap_or(i32::MAX));
            c.kafka_partition.push(entry.partition);
            c.kafka_offset.push(entry.offset);
            c.produced_at.push(entry.produced_at);
        }
        c
    }
}

/// Moves a group's offsets forward, never back: a partition's row changes only when the new offset is higher. That
/// protects against a late write of an older batch and against a member that started below the stored offset (the
/// fall-back when the start offsets could not be read). It does not protect against a zombie: a member expelled
/// from the group that does not know it yet and still writes a batch while the partition's new owner writes too.
/// Both writes land (rows guarded by their version, the offset by this `WHERE`), so the zombie's batch may apply
/// orders the new owner then finds already stored. Fencing it out would need the group generation (member epoch)
/// stored and compared here, which librdkafka does not expose to the application.
const SAVE_OFFSETS: &str = r#"
INSERT INTO consumer_offsets (group_id, topic, kafka_partition, next_offset, updated_by)
SELECT $1, $2, u.kafka_partition, u.next_offset, $5
  FROM UNNEST($3::int4[], $4::int8[]) AS u(kafka_partition, next_offset)
ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE SET
    next_offset = EXCLUDED.next_offset, updated_by = EXCLUDED.updated_by, updated_at = clock_timestamp()
WHERE consumer_offsets.next_offset < EXCLUDED.next_offset
"#;

const STORED_OFFSETS: &str = "SELECT kafka_partition, next_offset FROM consumer_offsets \
     WHERE group_id = $1 AND topic = $2 AND kafka_partition = ANY($3)";

/// The rows of `consumer_offsets` one consumer reads and writes (`OFFSET_STORE=postgres`): its group's, for its
/// topic.
#[derive(Debug, Clone)]
pub struct OffsetKey {
    pub group_id: String,
    pub topic: String,
}

/// Upserts `entries` and, when `offsets` is given, moves those partitions' stored offsets to the given next
/// offsets, in one transaction: either both land or neither does. Without `offsets` it is the upsert alone, one
/// statement (its own transaction). Returns the rows inserted or updated; an order already stored at its version
/// or a newer one counts 0.
///
/// # Errors
/// A [`StoreError`], already classified; nothing was written.
pub async fn write(
    pool: &PgPool,
    entries: &[&Entry],
    processed_by: &str,
    offsets: Option<(&OffsetKey, &BTreeMap<i32, i64>)>,
) -> Result<u64, StoreError> {
    let Some((key, next)) = offsets.filter(|(_, next)| !next.is_empty()) else {
        return upsert(pool, entries, processed_by).await;
    };
    let mut tx = pool.begin().await.map_err(classify)?;
    let rows = upsert(&mut *tx, entries, processed_by).await?;
    save_offsets(&mut *tx, key, next, processed_by).await?;
    tx.commit().await.map_err(classify)?;
    Ok(rows)
}

/// Moves the stored offsets of `next`'s partitions forward (see [`SAVE_OFFSETS`]), on its own or inside
/// [`write`]'s transaction.
///
/// # Errors
/// A [`StoreError`], already classified.
#[instrument(skip_all, fields(partitions = next.len()))]
pub async fn save_offsets(
    db: impl PgExecutor<'_>,
    key: &OffsetKey,
    next: &BTreeMap<i32, i64>,
    updated_by: &str,
) -> Result<(), StoreError> {
    let (partitions, offsets): (Vec<i32>, Vec<i64>) = next.iter().map(|(p, o)| (*p, *o)).unzip();
    sqlx::query(SAVE_OFFSETS)
        .bind(&key.group_id)
        .bind(&key.topic)
        .bind(&partitions)
        .bind(&offsets)
        .bind(updated_by)
        .execute(db)
        .await
        .map_err(classify)?;
    Ok(())
}

/// The stored next offset of each of `partitions` that has one; a partition without a row is left out.
///
/// # Errors
/// A [`StoreError`], already classified.
#[instrument(skip_all, fields(partitions = partitions.len()))]
pub async fn stored_offsets(
    pool: &PgPool,
    key: &OffsetKey,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>, StoreError> {
    let rows: Vec<(i32, i64)> = sqlx::query_as(STORED_OFFSETS)
        .bind(&key.group_id)
        .bind(&key.topic)
        .bind(partitions)
        .fetch_all(pool)
        .await
        .map_err(classify)?;
    Ok(rows.into_iter().collect())
}

/// Upserts the given orders in one statement. Returns the rows inserted or updated; a duplicate or older version
/// counts 0.
///
/// # Errors
/// A [`StoreError`], already classified.
#[instrument(skip_all, fields(rows = entries.len()))]
pub async fn upsert(db: impl PgExecutor<'_>, entries: &[&Entry], processed_by: &str) -> Result<u64, StoreError> {
    if entries.is_empty() {
        return Ok(0);
    }
    let c = Columns::from_entries(entries);
    let result = sqlx::query(UPSERT)
        .bind(&c.order_id)
        .bind(&c.customer_id)
        .bind(&c.customer_name)
        .bind(&c.restaurant)
        .bind(&c.items)
        .bind(&c.total_amount)
        .bind(&c.status)
        .bind(&c.created_at)
        .bind(&c.customer_seq)
        .bind(&c.version)
        .bind(&c.kafka_partition)
        .bind(&c.kafka_offset)
        .bind(&c.produced_at)
        .bind(processed_by)
        .execute(db)
        .await
        .map_err(classify)?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_and_pool_errors_are_transient() {
        assert!(matches!(classify(sqlx::Error::PoolTimedOut), StoreError::Transient(_)));
        let io = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert!(matches!(classify(io), StoreError::Transient(_)));
    }
}
