//! Why the consumer uses `auto.offset.reset=earliest`: orders written to newly added partitions before the group
//! notices them are skipped by `latest`, although every committed offset then equals its log-end offset.

mod common;

use std::time::Duration;

use common::{Scenario, TIMEOUT};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

/// Grows the topic to 3 partitions and writes `n` orders straight to each new partition, before the group's
/// next metadata refresh can tell it about them.
async fn grow_and_write_to_new_partitions(s: &Scenario, n: u64) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", common::bootstrap()).create().unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let result = admin.create_partitions(&[NewPartitions::new(&s.topic, 3)], &opts).await.unwrap();
    result[0].as_ref().expect("partitions added");
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", common::bootstrap()).create().unwrap();
    // The broker may still describe the old partition count for a moment; a record sent to a partition the
    // producer's metadata lacks fails at once (Local: Unknown partition).
    common::eventually("the producer's metadata to list 3 partitions", TIMEOUT, || async {
        let metadata =
            producer.client().fetch_metadata(Some(&s.topic), Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len());
        if partitions == 3 { Ok(()) } else { Err(format!("{partitions} partition(s)")) }
    })
    .await;
    let mut generator = order_producer::generator::OrderGenerator::new(100, Some(31), false);
    for partition in [1, 2] {
        for _ in 0..n {
            let (_, order) = generator.next_event();
            let payload = order.to_json();
            let record = FutureRecord::to(&s.topic).partition(partition).key(&order.customer_id).payload(&payload);
            producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).unwrap();
        }
    }
}

async fn scenario(reset: &str) -> (i64, u64, Vec<i64>) {
    let s = Scenario::new(&format!("reset-{reset}"), 1).await;
    let property = format!("auto.offset.reset={reset}");
    let mut consumer = s.start_consumer("c", &[("KAFKA_PROPERTIES", &property)]);
    s.wait_for_assignment(1, |m| m[0].partitions == [0]).await;
    // With `latest`, a member the group shows as assigned has not always asked for the log end yet, and skips what
    // is written before it has (as on the new partitions below). Keep orders coming until it has committed on
    // partition 0, so that its position is known before the orders counted on.
    let mut warmup = 0;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while s.committed_offsets()[0] < 0 {
        assert!(std::time::Instant::now() < deadline, "the consumer never committed on partition 0");
        warmup += s.produce_orders(10, u64::MAX - warmup).await.acked;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s.wait_committed_equals_log_end(TIMEOUT).await;
    let stored = s.rows().await.count;
    let before = s.produce_orders(100, 1).await.acked;
    s.wait_for_rows(stored + before as i64, TIMEOUT).await;

    grow_and_write_to_new_partitions(&s, 50).await;
    let s3 = s.with_partitions(3);
    s3.wait_for_assignment(1, |m| m[0].partitions == [0, 1, 2]).await;
    // Keep orders coming until the consumer has stored (and committed) something from both new partitions.
    let mut after = 0;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while s3.committed_offsets()[1..].iter().any(|c| *c < 0) {
        assert!(std::time::Instant::now() < deadline, "the consumer never committed on the new partitions");
        after += s3.produce_orders(30, 2 + after).await.acked;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let offsets = s3.wait_committed_equals_log_end(TIMEOUT).await;
    let rows = s3.rows().await.count;
    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    s3.cleanup().await;
    (rows, warmup + before + 100 + after, offsets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_skips_the_orders_written_to_new_partitions_before_assignment() {
    let (rows, produced, offsets) = scenario("latest").await;
    assert_eq!(offsets.len(), 3, "committed = log-end on all three partitions: {offsets:?}");
    // At least the 100 written before the group saw the new partitions are lost; orders that arrived between the
    // assignment and the consumer's first fetch of those partitions are lost too.
    assert!(
        rows as u64 <= produced - 100,
        "{rows} rows of {produced}: the orders written before assignment are skipped"
    );
    assert!(rows >= 100, "partition 0's orders before the increase are stored ({rows} rows)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earliest_stores_every_order() {
    let (rows, produced, _) = scenario("earliest").await;
    assert_eq!(rows as u64, produced);
}
