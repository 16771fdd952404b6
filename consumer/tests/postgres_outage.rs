//! The database restarts, then goes away for 30 s, while orders keep arriving. This scenario stops the shared
//! Postgres server, so it lives alone in its own test binary (cargo runs test binaries one after another).

mod common;

use std::time::Duration;

use common::scrape::{get, scrape};
use common::{Scenario, TIMEOUT, eventually, stack_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_then_down_for_30s_the_consumer_pauses_stays_in_the_group_and_loses_nothing() {
    let s = Scenario::new("pg-outage", 2).await;
    let mut consumer = s.start_consumer("survivor", &[]);
    let client_id = consumer.client_id().await;
    s.wait_for_assignment(1, |m| m[0].partitions == [0, 1]).await;

    let producer = s.produce_in_background(5_000, 100.0, 5);
    let rows_at_least = |n: i64| {
        let s = &s;
        async move {
            eventually(&format!("{n} rows"), TIMEOUT, || async {
                let have = s.rows().await.count;
                if have >= n { Ok(()) } else { Err(format!("{have} rows")) }
            })
            .await
        }
    };
    rows_at_least(200).await;
    let metrics_addr = consumer.metrics_addr().await;
    assert_eq!(get(&metrics_addr, "/readyz").await.expect("readyz").0, 200, "ready before the outage");

    // A restart: the pool's connections die; the next batch fails, is retried, and lands.
    stack_command(&["postgres-stop"]);
    stack_command(&["postgres-start"]);
    let after_restart = s.rows().await.count;
    rows_at_least(after_restart + 300).await;

    stack_command(&["postgres-stop"]);
    // The outage itself: 30 s of orders arriving with no database.
    let outage = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(outage);
    let (mut checks, mut outage_seen) = (0, false);
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
                // A scrape during the outage answers and shows it (checked until seen: /readyz waits up to 2 s
                // for the database).
                if outage_seen {
                    continue;
                }
                let (status, body) = get(&metrics_addr, "/readyz").await.expect("readyz answers during the outage");
                let paused = scrape(&metrics_addr).await.expect("scrape").sum("order_consumer_paused_for_outage");
                if status == 503 && body.contains("database") && paused == Some(1.0) {
                    outage_seen = true;
                }
            }
        }
    }
    assert!(checks >= 10, "group checked during the outage ({checks} checks)");
    assert!(outage_seen, "/readyz said not ready (the database) while the paused gauge was 1");
    stack_command(&["postgres-start"]);

    let acked = producer.await.expect("producer task").acked;
    eventually("the paused gauge back to 0", TIMEOUT, || async {
        match scrape(&metrics_addr).await?.sum("order_consumer_paused_for_outage") {
            Some(0.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let done = s.reconcile(acked, 1).await;
    assert_eq!(done.rows as u64, acked, "every order stored once");
    assert_eq!(s.rows().await.consumers, 1, "the same consumer stored everything");
    assert_eq!(done.members[0].client_id, client_id);
    assert_eq!(consumer.count_in_log("event=\"partitions_assigned\""), 1, "never left the group");
    assert!(consumer.log().contains("batch_write_failed"), "the outage was seen and retried");

    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    s.cleanup().await;
}
