//! Replays, duplicates and out-of-date events never add a row and never regress one.

mod common;

use common::{Scenario, TIMEOUT};
use sqlx::Row;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_replay_with_status_updates_changes_nothing() {
    let s = Scenario::new("replay", 2).await;
    let mut settings = order_producer::ProducerSettings::for_servers(&common::bootstrap(), &s.topic);
    settings.count = Some(1_500);
    settings.rate = 0.0;
    settings.seed = Some(21);
    settings.status_updates = true;
    let summary = order_producer::run(&settings, std::future::pending()).await.expect("producer");
    assert_eq!(summary.acked, 1_500);
    assert!(summary.acked_new_orders < summary.acked, "some events are status updates: {summary:?}");

    let first = s.start_consumer("first", &[]);
    let rows = s.wait_for_rows(summary.acked_new_orders as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count, "one row per order, however many events it had");
    s.wait_committed_equals_log_end(TIMEOUT).await;
    let snapshot = |s: &Scenario| {
        let pool = s.pool.clone();
        async move {
            sqlx::query(
                "SELECT order_id::text, version, status, processed_by, kafka_offset FROM orders ORDER BY order_id",
            )
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.get::<String, _>(0),
                    r.get::<i32, _>(1),
                    r.get::<String, _>(2),
                    r.get::<String, _>(3),
                    r.get::<i64, _>(4),
                )
            })
            .collect::<Vec<_>>()
        }
    };
    let before = snapshot(&s).await;
    assert!(before.iter().any(|r| r.1 == 3 && r.2 == "delivered"), "delivered orders keep their newest version");
    assert!(before.iter().all(|r| (r.1 == 1) == (r.2 == "placed")));
    first.terminate();

    // A second group reads the whole topic again into the same table: every event is a replay.
    let replay_group = format!("{}-replay", s.group);
    let mut replay = s.start_consumer("replay", &[("CONSUMER_GROUP", &replay_group)]);
    s.wait_group_caught_up(&replay_group, TIMEOUT).await;
    replay.terminate();
    assert_eq!(replay.wait_exit(TIMEOUT).await, Some(0));
    assert!(replay.log().contains("consumed=1500"), "the replay consumed every event: {}", replay.log_path.display());
    assert_eq!(snapshot(&s).await, before, "no row added, changed or regressed by the replay");
    s.cleanup().await;
}
