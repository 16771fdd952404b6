//! The measures of `lab/src/measure.rs` against a real Postgres: rows written the way consumers write them
//! (the project's migration), with times chosen so the expected stalls and inversions are known. And the
//! `lab lab measure wait-stored` subcommand against the real broker and Postgres.
//!
//! Needs the local stack (`scripts/stack.sh up`), or `DATABASE_URL` pointing at a server where its role may create
//! databases and `KAFKA_BOOTSTRAP_SERVERS` at a broker. Each run uses a database (and a topic) of its own and drops
//! it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use lab::measure::{self, CustomerOrder};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use shared::DEFAULT_DATABASE_URL;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Executor, PgPool};

struct Db {
    admin: PgPool,
    name: String,
    url: String,
    pool: PgPool,
}

impl Db {
    async fn new(test: &str) -> Self {
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let admin =
            PgPoolOptions::new().max_connections(1).connect(&url).await.expect("Postgres (scripts/stack.sh up)");
        let name = format!("measure_{test}_{}", std::process::id());
        admin.execute(format!("DROP DATABASE IF EXISTS {name}").as_str()).await.expect("drop an old test database");
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create the test database");
        let (base, _) = url.rsplit_once('/').expect("a database URL ends with /database");
        let url = format!("{base}/{name}");
        let pool = PgPoolOptions::new().max_connections(1).connect(&url).await.expect("connect");
        pool.execute(include_str!("../../migrations/20261125000001_create_orders.sql")).await.expect("migration");
        Self { admin, name, url, pool }
    }

    async fn drop(self) {
        self.pool.close().await;
        self.admin.execute(format!("DROP DATABASE {}", self.name).as_str()).await.expect("drop the test database");
    }
}

fn at(ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("a valid instant") + Duration::milliseconds(ms)
}

/// Inserts one row: `customer`'s event `seq`, at (`partition`, `offset`), produced at `produced_ms` and stored at
/// `stored_ms`.
async fn row(pool: &PgPool, customer: &str, seq: i64, partition: i32, offset: i64, produced_ms: i64, stored_ms: i64) {
    sqlx::query(
        "INSERT INTO orders (order_id, customer_id, customer_name, restaurant, items, total_amount, status, created_at,
                             customer_seq, version, kafka_partition, kafka_offset, produced_at, processed_by, processed_at)
         VALUES (gen_random_uuid(), $1, 'n', 'r', '[]', 1, 'placed', $2, $3, 1, $4, $5, $2, 'test', $6)",
    )
    .bind(customer)
    .bind(at(produced_ms))
    .bind(seq)
    .bind(partition)
    .bind(offset)
    .bind(at(stored_ms))
    .execute(pool)
    .await
    .expect("insert a row");
}

#[tokio::test]
async fn a_stall_counts_only_while_an_order_waits() {
    let db = Db::new("stall").await;
    let (p0, p1) = (0, 1);
    // Both partitions store a row every 100 ms, 10 ms after it was produced, until 5 s.
    let mut offsets = [0_i64; 2];
    for t in (0..=5_000).step_by(100) {
        for p in [p0, p1] {
            row(&db.pool, "c", 1, p, offsets[p as usize], t, t + 10).await;
            offsets[p as usize] += 1;
        }
    }
    // The event at 5.05 s: partition 0's owner dies. Orders keep arriving every 100 ms from 5.1 s and are stored
    // only at the takeover, 16 s.
    for t in (5_100..=15_900).step_by(100) {
        row(&db.pool, "c", 1, p0, offsets[0], t, 16_000 + t / 1_000).await;
        offsets[0] += 1;
    }
    // Partition 1 gets no orders from 5 s to 14 s: silent, but not stalled. Then one order, stored 50 ms later.
    row(&db.pool, "c", 1, p1, offsets[1], 14_000, 14_050).await;

    let stalls = measure::stalls(&db.pool, at(0), at(5_050), at(20_000)).await.expect("stalls");
    let s0 = stalls[&p0];
    assert!((s0.gap_s - 10.905).abs() < 0.001, "partition 0 waited from 5.1 s to 16.005 s: {s0:?}");
    assert!((s0.starts_s - 0.05).abs() < 0.001, "it began 50 ms after the event: {s0:?}");
    let s1 = stalls[&p1];
    assert!((s1.gap_s - 0.05).abs() < 0.001, "partition 1 was only silent, not stalled: {s1:?}");
    assert_eq!(measure::longest(&stalls, &[p0, p1]), Some(s0.gap_s));

    // The steady window before the event: the baseline is one row's 10 ms wait.
    let baseline = measure::stalls(&db.pool, at(0), at(0), at(5_050)).await.expect("baseline");
    assert!(baseline.values().all(|s| (s.gap_s - 0.01).abs() < 0.001), "{baseline:?}");
    // A window that ends before the takeover holds no stall of partition 0.
    let early = measure::stalls(&db.pool, at(0), at(5_050), at(15_000)).await.expect("early");
    assert!(!early.contains_key(&p0), "{early:?}");

    // The same through `lab lab measure stalls`, which prints what the soak records (`measure::longest_stall_lines`): the
    // takeover's stall belongs to the event before it, and the window after a later event, with nothing stored in
    // it, holds none.
    let unix = |ms: i64| format!("{:.3}", at(ms).timestamp_millis() as f64 / 1000.0);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["measure", "stalls", "--database-url", &db.url])
        .args(["--event", &format!("kill={}", unix(5_050)), "--event", &format!("later={}", unix(16_500))])
        .args(["--until", &unix(20_000)])
        .output()
        .expect("run measure");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, ["kill.longest_stall_s=10.90", "kill.stall_partition=0"], "{stdout}");
    db.drop().await;
}

#[tokio::test]
async fn customer_order_tells_a_broken_partition_from_a_partition_change() {
    let db = Db::new("order").await;
    // a: 1 and 2 on partition 0; after the increase 3 lands on partition 1 and is stored before 2.
    row(&db.pool, "a", 1, 0, 0, 0, 10).await;
    row(&db.pool, "a", 3, 1, 0, 30, 40).await;
    row(&db.pool, "a", 2, 0, 1, 20, 50).await;
    // b: in order on one partition.
    row(&db.pool, "b", 1, 0, 2, 0, 60).await;
    row(&db.pool, "b", 2, 0, 3, 1, 70).await;
    // c: stored out of order within partition 2, which must never happen.
    row(&db.pool, "c", 2, 2, 1, 10, 80).await;
    row(&db.pool, "c", 1, 2, 0, 5, 90).await;

    let order = measure::customer_order(&db.pool).await.expect("customer order");
    assert_eq!(
        order,
        CustomerOrder {
            inversions_within_partitions: 1,
            customers_on_several_partitions: 1,
            rows_of_those_customers: 3,
            inversions_across_partitions: 1,
        }
    );
    db.drop().await;
}

/// `lab lab measure wait-stored` is done when a finished group would be: every partition committed to its log end (a
/// partition that never held a record counts as done) and the rows in the table. Short of either it fails at its
/// deadline and says what it saw.
#[tokio::test]
async fn wait_stored_needs_the_offsets_at_the_end_and_the_rows() {
    let db = Db::new("wait_stored").await;
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| shared::DEFAULT_BOOTSTRAP.into());
    let topic = format!("measure-wait-stored-{}", std::process::id());
    let group = format!("{topic}-group");
    let kafka = |config: &mut ClientConfig| config.set("bootstrap.servers", &bootstrap).clone();
    let admin: AdminClient<DefaultClientContext> = kafka(&mut ClientConfig::new()).create().expect("admin client");
    let replicas = std::env::var("REPLICATION_FACTOR").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    let created = admin
        .create_topics(&[NewTopic::new(&topic, 3, TopicReplication::Fixed(replicas))], &AdminOptions::new())
        .await
        .expect("the broker (scripts/stack.sh up)");
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    // Two records on partition 0, one on partition 1, none on partition 2.
    let producer: FutureProducer = kafka(&mut ClientConfig::new()).create().expect("producer");
    for partition in [0, 0, 1] {
        let record = FutureRecord::<(), str>::to(&topic).payload("{}").partition(partition);
        producer.send(record, std::time::Duration::from_secs(30)).await.expect("a record sent");
    }
    let wait = |expected: i64| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_lab"))
            .args([
                "measure",
                "wait-stored",
                "--bootstrap-servers",
                &bootstrap,
                "--database-url",
                &db.url,
                "--topic",
                &topic,
            ])
            .args(["--group", &group, "--expected", &expected.to_string(), "--timeout", "2s"])
            .output()
    };

    let nothing_committed = wait(3).await.expect("measure runs");
    let said = String::from_utf8_lossy(&nothing_committed.stderr);
    assert!(!nothing_committed.status.success());
    assert!(said.contains("committed [-1, -1, -1] of log end [2, 1, 0]"), "{said}");

    let committer: BaseConsumer = kafka(ClientConfig::new().set("group.id", &group)).create().expect("consumer");
    let mut ends = TopicPartitionList::new();
    ends.add_partition_offset(&topic, 0, Offset::Offset(2)).expect("offset");
    ends.add_partition_offset(&topic, 1, Offset::Offset(1)).expect("offset");
    committer.commit(&ends, CommitMode::Sync).expect("offsets committed");
    let no_rows = wait(3).await.expect("measure runs");
    let said = String::from_utf8_lossy(&no_rows.stderr);
    assert!(!no_rows.status.success());
    assert!(said.contains("committed to the end, 0 rows stored"), "{said}");

    for (seq, (partition, offset)) in [(0, 0), (0, 1), (1, 0)].into_iter().enumerate() {
        row(&db.pool, "c1", seq as i64, partition, offset, 0, 1).await;
    }
    let stored = wait(3).await.expect("measure runs");
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));
    assert_eq!(String::from_utf8_lossy(&stored.stdout), format!("group {group} stored 3 rows of {topic}\n"));

    admin.delete_topics(&[&topic], &AdminOptions::new()).await.expect("topic deleted");
    db.drop().await;
}
