//! The database goes away for 20 s while orders keep arriving. This scenario stops the shared Postgres server,
//! so it lives alone in its own test binary (cargo runs test binaries one after another).

mod common;

use std::time::Duration;

use common::{Scenario, TIMEOUT, eventually, stack_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_20s_the_consumer_pauses_stays_in_the_group_and_loses_nothing() {
    let s = Scenario::new("pg-outage", 2).await;
    let mut consumer = s.start_consumer("survivor", &[]);
    let client_id = consumer.client_id().await;
    s.wait_for_assignment(1, |m| m[0].partitions == [0, 1]).await;

    let producer = s.produce_in_background(3_000, 100.0, 5);
    eventually("rows before the outage", TIMEOUT, || async {
        let n = s.rows().await.count;
        if n >= 200 { Ok(()) } else { Err(format!("{n} rows")) }
    })
    .await;

    stack_command(&["postgres-stop"]);
    // The outage itself: 20 s of orders arriving with no database.
    let outage = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(outage);
    let mut checks = 0;
    loop {
        tokio::select! {
            () = &mut outage => break,
            () = tokio::time::sleep(Duration::from_secs(2)) => {
                let members = s.group_members().unwrap_or_default();
                assert!(consumer.wait_alive(), "consumer still running during the outage");
                if let [m] = members.as_slice() {
                    assert_eq!(m.client_id, client_id, "still the group's member");
                    assert_eq!(m.partitions, [0, 1], "still owns its partitions");
                    checks += 1;
                }
            }
        }
    }
    assert!(checks >= 5, "group checked during the outage ({checks} checks)");
    stack_command(&["postgres-start"]);

    let acked = producer.await.expect("producer task").acked;
    let rows = s.wait_for_rows(acked as i64, TIMEOUT).await;
    assert_eq!(rows.distinct, rows.count, "0 duplicate rows");
    assert_eq!(rows.consumers, 1, "the same consumer stored everything");
    s.wait_committed_equals_log_end(TIMEOUT).await;
    assert!(consumer.log().contains("batch_write_failed"), "the outage was seen and retried");

    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    s.cleanup().await;
}
