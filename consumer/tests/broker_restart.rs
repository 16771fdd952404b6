//! The Kafka broker restarts (a controlled shutdown, then a start) while the producer sends and two consumers
//! consume. This scenario stops the shared broker, so it lives alone in its own test binary.

mod common;

use common::{Scenario, TIMEOUT, eventually, stack_command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_is_survived_by_producer_and_consumers_without_duplicates() {
    let s = Scenario::new("broker-restart", 3).await;
    let mut consumers = vec![s.start_consumer("a", &[]), s.start_consumer("b", &[])];
    s.wait_for_assignment(2, |m| m.iter().all(|x| !x.partitions.is_empty())).await;
    let producer = s.produce_in_background(9_000, 300.0, 61);
    eventually("rows before the restart", TIMEOUT, || async {
        let n = s.rows().await.count;
        if n >= 1_000 { Ok(()) } else { Err(format!("{n} rows")) }
    })
    .await;

    // scripts/stack.sh waits until the broker is gone, then until it answers again.
    stack_command(&["kafka-stop"]);
    stack_command(&["kafka-start"]);

    let acked = producer.await.expect("the producer recovered by itself").acked;
    assert_eq!(acked, 9_000, "every order acknowledged despite the restart");
    let done = s.reconcile(acked, 2).await;
    assert_eq!(done.rows as u64, acked, "every order stored once");
    assert_eq!(done.log_end as u64, acked, "idempotence: the producer's retries left no duplicate in the log");
    for c in &mut consumers {
        assert!(c.wait_alive(), "{} survived the restart", c.label);
        c.terminate();
    }
    for c in &mut consumers {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0));
    }
    s.cleanup().await;
}
