//! Consumers bounced five times while orders flow, as in Kafka's own consumer system tests: cleanly (SIGTERM, then
//! a new process) and hard (SIGKILL, then a new process). Nothing is lost, nothing is stored twice, and a clean
//! bounce does not even process a message twice.

mod common;

use common::{ConsumerProcess, Scenario, TIMEOUT, eventually};

const BOUNCES: usize = 5;

/// Waits until the group has exactly the `expected` members (by client id), each owning at least one partition.
async fn wait_for_members(s: &Scenario, expected: &[String]) {
    eventually("group members after the bounce", TIMEOUT, || async {
        let members = s.group_members()?;
        let mut ids: Vec<&str> = members.iter().map(|m| m.client_id.as_str()).collect();
        ids.sort_unstable();
        let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
        want.sort_unstable();
        if ids == want && members.iter().all(|m| !m.partitions.is_empty()) {
            Ok(())
        } else {
            Err(format!("{members:?}"))
        }
    })
    .await;
}

/// Starts the bounce's new process and waits until the group is exactly the running consumers.
async fn start_replacement_and_settle(s: &Scenario, running: &mut Vec<ConsumerProcess>, bounce: usize) {
    running.push(s.start_consumer(&format!("{}{bounce}", ["a", "b"][bounce % 2]), &[]));
    let mut ids = Vec::new();
    for c in running.iter() {
        ids.push(c.client_id().await);
    }
    wait_for_members(s, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_clean_bounces_lose_nothing_and_process_no_message_twice() {
    let s = Scenario::new("clean-bounce", 3).await;
    let mut running: Vec<ConsumerProcess> = vec![s.start_consumer("a0", &[]), s.start_consumer("b0", &[])];
    s.wait_for_assignment(2, |m| m.iter().all(|x| !x.partitions.is_empty())).await;
    let producer = s.produce_in_background(9_000, 300.0, 21);
    let mut stopped: Vec<ConsumerProcess> = Vec::new();

    for bounce in 1..=BOUNCES {
        let mut leaving = running.remove(0);
        leaving.terminate();
        assert_eq!(leaving.wait_exit(TIMEOUT).await, Some(0), "bounce {bounce}: SIGTERM exits 0");
        stopped.push(leaving);
        start_replacement_and_settle(&s, &mut running, bounce).await;
    }

    let acked = producer.await.expect("producer task").acked;
    let done = s.reconcile(acked, 2).await;
    assert_eq!(done.rows as u64, acked, "every order stored");
    assert_eq!(done.log_end as u64, acked, "the topic holds each order once");

    for mut c in running {
        c.terminate();
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0));
        stopped.push(c);
    }
    let consumed: u64 = stopped.iter().map(|c| c.exit_stat("consumed").expect("consumed count at exit")).sum();
    assert_eq!(consumed as i64, done.log_end, "position = consumed: no message was processed twice");
    let dropped: u64 = stopped.iter().map(|c| c.exit_stat("dropped_on_revoke").unwrap_or(0)).sum();
    assert_eq!(dropped, 0, "no revocation left unwritten messages behind");
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hard_bounces_deliver_duplicates_that_the_upsert_absorbs() {
    let s = Scenario::new("hard-bounce", 3).await;
    let mut running: Vec<ConsumerProcess> = vec![s.start_consumer("a0", &[]), s.start_consumer("b0", &[])];
    s.wait_for_assignment(2, |m| m.iter().all(|x| !x.partitions.is_empty())).await;
    let producer = s.produce_in_background(18_000, 300.0, 22);

    for bounce in 1..=BOUNCES {
        // Kill only once the victim has stored something since it started, so every kill interrupts real work.
        let victim = running.remove(0);
        let victim_id = victim.client_id().await;
        eventually("the victim stores rows", TIMEOUT, || async {
            let writers = s.writers_per_partition().await;
            if writers.values().flatten().any(|w| *w == victim_id) { Ok(()) } else { Err(format!("{writers:?}")) }
        })
        .await;
        let mut victim = victim;
        victim.kill().await;
        // The killed member stays in the group until its session times out (6 s here); then it is replaced.
        start_replacement_and_settle(&s, &mut running, bounce).await;
    }

    let acked = producer.await.expect("producer task").acked;
    let done = s.reconcile(acked, 2).await;
    assert_eq!(done.rows as u64, acked, "every order stored exactly once");
    assert_eq!(done.log_end as u64, acked, "the topic holds each order once");
    for c in &running {
        c.terminate();
    }
    for mut c in running {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0));
    }
    s.cleanup().await;
}
