//! What the harness observes of one run: the group and offsets from the broker, the rows from Postgres. Times are the
//! database's clock (`clock_timestamp()`), so event times and row times compare without skew.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::group::GroupView;
use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);
/// How often [`World::wait_stored`] asks the broker for the group's committed offsets.
const STORED_POLL: Duration = Duration::from_millis(500);

/// Read-only views of one experiment's topic, group and table.
pub struct World {
    pub topic: String,
    pub dlq_topic: String,
    pub group: String,
    /// Connected with the experiment's group id to read its committed offsets; it never subscribes or joins.
    inspector: BaseConsumer,
    pub pool: PgPool,
}

/// Which broker leads a partition, and where its copies are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionLeader {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub in_sync: Vec<i32>,
}

/// The end state a run is reconciled against, read together: what the topic holds (its log-end offsets), what the
/// group committed, what the table stores, and what went to the dead-letter topic. Every tool's "nothing lost,
/// nothing twice" is read here.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconciliation {
    pub log_end: Vec<i64>,
    /// The group's committed offset per partition, -1 where it committed none.
    pub committed: Vec<i64>,
    pub rows: i64,
    pub distinct_orders: i64,
    pub dead_letters: i64,
}

impl Reconciliation {
    /// Records in the topic: the sum of its log-end offsets.
    pub fn records(&self) -> i64 {
        self.log_end.iter().sum()
    }

    /// Rows that repeat an `order_id` (0: nothing stored twice).
    pub fn duplicates(&self) -> i64 {
        self.rows - self.distinct_orders
    }

    /// Every partition committed up to its log end.
    pub fn committed_to_end(&self) -> bool {
        committed_to_end(&self.committed, &self.log_end)
    }

    /// Every acknowledged order is a row or a dead letter, and nothing else is: rows + dead letters = `acked`.
    pub fn accounts_for(&self, acked: i64) -> bool {
        self.rows + self.dead_letters == acked
    }
}

/// Whether every partition's committed offset reached its log end; a partition that never held a record has none
/// (-1) and needs none.
pub fn committed_to_end(committed: &[i64], log_end: &[i64]) -> bool {
    committed.len() == log_end.len() && committed.iter().zip(log_end).all(|(c, e)| *e == 0 || c >= e)
}

impl World {
    /// # Errors
    /// When the Kafka client cannot be created or the database URL is malformed.
    pub fn new(bootstrap: &str, topic: &str, dlq_topic: &str, group: &str, database_url: &str) -> anyhow::Result<Self> {
        let inspector: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("client.id", "scaling-experiment-inspector")
            .create()
            .context("Kafka inspector client")?;
        let pool = PgPoolOptions::new().max_connections(2).connect_lazy(database_url).context("database URL")?;
        Ok(Self { topic: topic.into(), dlq_topic: dlq_topic.into(), group: group.into(), inspector, pool })
    }

    /// The group as the coordinator sees it.
    pub fn group(&self) -> anyhow::Result<GroupView> {
        Ok(crate::group::describe(&self.inspector, &self.group, &self.topic, KAFKA_TIMEOUT)?)
    }

    pub fn partition_count(&self) -> anyhow::Result<i32> {
        let metadata = self.inspector.fetch_metadata(Some(&self.topic), KAFKA_TIMEOUT)?;
        let topic = metadata.topics().first().context("topic metadata")?;
        Ok(topic.partitions().len() as i32)
    }

    /// Leader, replicas and in-sync replicas of each partition of the topic, as the brokers' metadata has them
    /// (one broker on the single-node stack; which of three on the cluster, `BROKERS=3`).
    pub fn leaders(&self) -> anyhow::Result<Vec<PartitionLeader>> {
        let metadata = self.inspector.fetch_metadata(Some(&self.topic), KAFKA_TIMEOUT)?;
        let topic = metadata.topics().first().context("topic metadata")?;
        let mut out: Vec<PartitionLeader> = topic
            .partitions()
            .iter()
            .map(|p| PartitionLeader {
                partition: p.id(),
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                in_sync: p.isr().to_vec(),
            })
            .collect();
        out.sort_by_key(|p| p.partition);
        Ok(out)
    }

    /// Log-end offset of each partition of `topic`.
    pub fn log_end(&self, topic: &str, partitions: i32) -> anyhow::Result<Vec<i64>> {
        (0..partitions).map(|p| Ok(self.inspector.fetch_watermarks(topic, p, KAFKA_TIMEOUT)?.1)).collect()
    }

    /// The group's committed offset of each partition (-1 where none).
    pub fn committed(&self, partitions: i32) -> anyhow::Result<Vec<i64>> {
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&self.topic, p);
        }
        let committed = self.inspector.committed_offsets(tpl, KAFKA_TIMEOUT)?;
        Ok((0..partitions)
            .map(|p| match committed.find_partition(&self.topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            })
            .collect())
    }

    /// Whether the group committed every partition of the topic up to its log end (the broker alone: no row counted).
    ///
    /// # Errors
    /// When the broker does not answer.
    pub fn drained(&self) -> anyhow::Result<bool> {
        let partitions = self.partition_count()?;
        Ok(committed_to_end(&self.committed(partitions)?, &self.log_end(&self.topic, partitions)?))
    }

    /// The end state, read together ([`Reconciliation`]).
    ///
    /// # Errors
    /// When the broker or the database does not answer.
    pub async fn reconciliation(&self) -> anyhow::Result<Reconciliation> {
        let partitions = self.partition_count().context("the topic's partitions")?;
        let log_end = self.log_end(&self.topic, partitions).context("log-end offsets")?;
        let committed = self.committed(partitions).context("committed offsets")?;
        let (rows, distinct_orders) = self.row_counts().await.context("rows")?;
        let dead_letters = self.dead_letters().context("dead letters")?;
        Ok(Reconciliation { log_end, committed, rows, distinct_orders, dead_letters })
    }

    /// Records in the dead-letter topic.
    pub fn dead_letters(&self) -> anyhow::Result<i64> {
        Ok(self.log_end(&self.dlq_topic, 1)?.iter().sum())
    }

    /// The database's clock.
    pub async fn now(&self) -> anyhow::Result<DateTime<Utc>> {
        Ok(sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(&self.pool).await?)
    }

    /// Rows per consumer stored in [from, to) (all time when `None`).
    pub async fn rows_by_consumer(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> anyhow::Result<BTreeMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT processed_by, COUNT(*) FROM orders
              WHERE ($1::timestamptz IS NULL OR processed_at >= $1) AND ($2::timestamptz IS NULL OR processed_at < $2)
              GROUP BY processed_by",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await;
        // Before the first consumer created the table there are no rows.
        Ok(rows.unwrap_or_default().iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect())
    }

    /// Rows in the table (0 before the first consumer created it).
    pub async fn rows(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM orders").fetch_one(&self.pool).await?)
    }

    /// (rows, distinct order ids).
    pub async fn row_counts(&self) -> anyhow::Result<(i64, i64)> {
        let r = sqlx::query("SELECT COUNT(*), COUNT(DISTINCT order_id) FROM orders").fetch_one(&self.pool).await?;
        Ok((r.get(0), r.get(1)))
    }

    /// Stored rows per second between the first and the last row.
    pub async fn stored_rate(&self) -> anyhow::Result<f64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(COUNT(*) / NULLIF(EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)), 0), 0)::float8 FROM orders",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Sum over consumers of each one's own rate (its rows between its first and last row): the group's
    /// throughput while every consumer has work, whatever the partitions' sizes.
    pub async fn busy_rate(&self) -> anyhow::Result<f64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(SUM(n / NULLIF(secs, 0)), 0)::float8 FROM (
                 SELECT COUNT(*) AS n, EXTRACT(EPOCH FROM MAX(processed_at) - MIN(processed_at)) AS secs
                   FROM orders GROUP BY processed_by) t",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Waits until the group has committed every partition of the topic up to its log end and the table holds at
    /// least `expected` rows; returns the rows. The consumers commit only stored rows, so the first implies the
    /// second unless orders went to the dead-letter topic. Costs the database nothing while the consumers write:
    /// one count at the end. A look that fails (the group's coordinator moving, a connection refused) is tried
    /// again until the deadline, whose error says what was seen last.
    ///
    /// # Errors
    /// When that is not reached within `timeout`.
    pub async fn wait_stored(&self, expected: i64, timeout: Duration) -> anyhow::Result<i64> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = match self.stored(expected).await {
                Ok(Ok(rows)) => return Ok(rows),
                Ok(Err(state)) => state,
                Err(error) => format!("{error:#}"),
            };
            if std::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "group {} has not stored {expected} rows of {} after {timeout:?}: {seen}",
                    self.group,
                    self.topic
                );
            }
            tokio::time::sleep(STORED_POLL).await;
        }
    }

    /// One look of [`World::wait_stored`]: `Ok(rows)` once done, otherwise what it saw.
    async fn stored(&self, expected: i64) -> anyhow::Result<Result<i64, String>> {
        let partitions = self.partition_count()?;
        let end = self.log_end(&self.topic, partitions)?;
        let committed = self.committed(partitions)?;
        if !committed_to_end(&committed, &end) {
            return Ok(Err(format!("committed {committed:?} of log end {end:?}")));
        }
        let rows = self.rows().await?;
        Ok(if rows >= expected { Ok(rows) } else { Err(format!("committed to the end, {rows} rows stored")) })
    }

    /// Rows per Kafka partition.
    pub async fn rows_by_partition(&self) -> anyhow::Result<BTreeMap<i32, i64>> {
        let rows = sqlx::query("SELECT kafka_partition, COUNT(*) FROM orders GROUP BY 1").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get::<i32, _>(0), r.get::<i64, _>(1))).collect())
    }
}
