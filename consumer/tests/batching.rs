//! Adaptive batching: a batch is written as soon as nothing more is waiting, so at a low rate an order waits for
//! one database write, not for `BATCH_TIMEOUT_MS`; under load the batches still fill.

mod common;

use common::{Scenario, TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_order_is_stored_without_waiting_for_the_batch_to_fill_or_time_out() {
    let s = Scenario::new("adaptive-idle", 1).await;
    // Ten minutes of batch timeout and room for 50,000: only an idle queue can make these batches end within the
    // test's deadline, which is a tenth of the timeout.
    let mut consumer = s.start_consumer("idle", &[("BATCH_TIMEOUT_MS", "600000"), ("BATCH_SIZE", "50000")]);
    s.wait_for_assignment(1, |m| m.iter().all(|x| !x.partitions.is_empty())).await;

    let first = s.produce_orders(1, 31).await;
    s.wait_for_rows(first.acked as i64, TIMEOUT).await;
    let second = s.produce_orders(3, 32).await;
    let rows = s.wait_for_rows((first.acked + second.acked) as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, 4, "each order stored once");
    s.wait_committed_equals_log_end(TIMEOUT).await;

    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    assert_eq!(consumer.exit_stat("stored"), Some(4));
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_stored_in_full_batches() {
    const ORDERS: u64 = 6_000;
    const BATCH_SIZE: u64 = 500;
    let s = Scenario::new("adaptive-backlog", 1).await;
    let produced = s.produce_orders(ORDERS, 33).await;
    assert_eq!(produced.acked, ORDERS);

    // One write per batch: with more, each batch's lanes count as writes of their own.
    let mut consumer = s.start_consumer("backlog", &[("BATCH_SIZE", "500"), ("WRITE_CONCURRENCY", "1")]);
    s.wait_for_rows(ORDERS as i64, TIMEOUT).await;
    s.wait_committed_equals_log_end(TIMEOUT).await;
    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));

    // librdkafka prefetches the backlog, so the queue is rarely empty when a batch could take more: most batches
    // are full. A consumer that wrote whenever one fetch response ran out would need several times as many.
    let batches = consumer.exit_stat("batches").expect("batches in the exit line");
    let full = ORDERS / BATCH_SIZE;
    println!("{ORDERS} orders stored in {batches} batches of at most {BATCH_SIZE}");
    assert!(batches <= 2 * full, "{ORDERS} orders in {batches} batches; {full} if every batch were full");
    s.cleanup().await;
}
