//! Consumer-group scenarios: how partitions are shared between consumers, checked on the broker's view of the
//! group and on the rows each consumer wrote.

mod common;

use common::{Scenario, TIMEOUT};

const ORDERS: u64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_partition_three_consumers_one_owner_stores_every_order_once() {
    let s = Scenario::new("one-partition", 1).await;
    let mut consumers: Vec<_> = (1..=3).map(|i| s.start_consumer(&format!("c{i}"), &[])).collect();

    let members = s.wait_for_assignment(3, |m| m.iter().filter(|x| !x.partitions.is_empty()).count() == 1).await;
    let owners: Vec<_> = members.iter().filter(|m| m.partitions == [0]).collect();
    assert_eq!(owners.len(), 1, "exactly one member owns partition 0: {members:?}");
    assert_eq!(members.iter().filter(|m| m.partitions.is_empty()).count(), 2, "two members are idle");

    let acked = s.produce_orders(ORDERS, 1).await.acked;
    let rows = s.wait_for_rows(acked as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count, "no order stored twice");
    let writers = s.writers_per_partition().await;
    assert_eq!(writers.get(&0), Some(&vec![owners[0].client_id.clone()]), "only the owner wrote rows");
    s.wait_committed_equals_log_end(TIMEOUT).await;

    for c in &consumers {
        c.terminate();
    }
    for c in &mut consumers {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0), "{} exits 0 on SIGTERM", c.label);
    }
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_partitions_three_consumers_each_owns_one_and_all_three_store_rows() {
    let s = Scenario::new("three-partitions", 3).await;
    let mut consumers: Vec<_> = (1..=3).map(|i| s.start_consumer(&format!("c{i}"), &[])).collect();

    let members = s.wait_for_assignment(3, |m| m.iter().all(|x| x.partitions.len() == 1)).await;
    let mut owned: Vec<i32> = members.iter().flat_map(|m| m.partitions.clone()).collect();
    owned.sort_unstable();
    assert_eq!(owned, [0, 1, 2], "each partition owned by exactly one member: {members:?}");

    let acked = s.produce_orders(ORDERS, 2).await.acked;
    let rows = s.wait_for_rows(acked as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count, "0 duplicate rows");
    assert_eq!(rows.consumers, 3, "rows carry three distinct client ids");
    let writers = s.writers_per_partition().await;
    for m in &members {
        assert_eq!(
            writers.get(&m.partitions[0]),
            Some(&vec![m.client_id.clone()]),
            "partition written by its owner only"
        );
    }
    s.wait_committed_equals_log_end(TIMEOUT).await;

    for c in &consumers {
        c.terminate();
    }
    for c in &mut consumers {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0));
    }
    s.cleanup().await;
}
