//! What the benchmark reads from the rows: who stored each partition last, and who handed a partition to whom (its
//! stalls come from [`crate::measure`], as the experiment's do). Every time is the database's clock (`processed_at`
//! is `clock_timestamp()` at insert), so no clock skew enters a figure, and the same queries work whatever the group
//! protocol.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

/// The newest row of one partition.
#[derive(Debug, Clone)]
pub struct Latest {
    pub partition: i32,
    pub client_id: String,
    /// Seconds since it was stored.
    pub age_s: f64,
}

/// One change of the client id that stores a partition, between two consecutive rows.
#[derive(Debug, Clone)]
pub struct Handover {
    pub partition: i32,
    pub from: String,
    pub to: String,
}

/// An index the queries below need to stay cheap while the table grows (created once the consumers' migration
/// has created the table; the benchmark's database is its own).
///
/// # Errors
/// When the statement fails.
pub async fn create_index(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query("CREATE INDEX IF NOT EXISTS orders_partition_time_idx ON orders (kafka_partition, processed_at)")
        .execute(pool)
        .await?;
    Ok(())
}

/// Whether the consumers' migration has created the table.
pub async fn table_exists(pool: &PgPool) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass('orders') IS NOT NULL").fetch_one(pool).await.unwrap_or(false)
}

/// The newest row of each partition that has one.
///
/// # Errors
/// When the query fails.
pub async fn latest(pool: &PgPool, partitions: i32) -> anyhow::Result<Vec<Latest>> {
    let rows = sqlx::query(
        "SELECT p, l.processed_by, EXTRACT(EPOCH FROM clock_timestamp() - l.processed_at)::float8
           FROM generate_series(0, $1 - 1) AS p
           CROSS JOIN LATERAL (SELECT processed_by, processed_at FROM orders
                                WHERE kafka_partition = p ORDER BY processed_at DESC LIMIT 1) l
          ORDER BY p",
    )
    .bind(partitions)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| Latest { partition: r.get(0), client_id: r.get(1), age_s: r.get(2) }).collect())
}

/// Who stored each partition's last row at or before `at` (`None` where nothing was stored yet).
///
/// # Errors
/// When the query fails.
pub async fn owners_at(pool: &PgPool, partitions: i32, at: DateTime<Utc>) -> anyhow::Result<Vec<Option<String>>> {
    let rows = sqlx::query(
        "SELECT p, (SELECT processed_by FROM orders WHERE kafka_partition = p AND processed_at <= $2
                     ORDER BY processed_at DESC LIMIT 1)
           FROM generate_series(0, $1 - 1) AS p ORDER BY p",
    )
    .bind(partitions)
    .bind(at)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| r.get::<Option<String>, _>(1)).collect())
}

/// Every change of the storing client id between consecutive rows of a partition, where the later row was
/// stored after `event`, looking at rows stored in [`from`, `to`].
///
/// # Errors
/// When the query fails.
pub async fn handovers(
    pool: &PgPool,
    from: DateTime<Utc>,
    event: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<Handover>> {
    let rows = sqlx::query(
        "SELECT kafka_partition, prev, processed_by
           FROM (SELECT kafka_partition, processed_by, processed_at,
                        LAG(processed_by) OVER (PARTITION BY kafka_partition ORDER BY processed_at) AS prev
                   FROM orders WHERE processed_at BETWEEN $1 AND $3) t
          WHERE prev IS NOT NULL AND prev <> processed_by AND processed_at > $2
          ORDER BY kafka_partition",
    )
    .bind(from)
    .bind(event)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| Handover { partition: r.get(0), from: r.get(1), to: r.get(2) }).collect())
}
