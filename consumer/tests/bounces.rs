//! Consumers bounced five times while orders flow, as in Kafka's own consumer system tests: cleanly (SIGTERM, then
//! a new process) and hard (SIGKILL, then a new process). Nothing is lost, nothing is stored twice, and a clean
//! bounce does not even process a message twice. Hard bounces run with each offset store: with offsets in Kafka
//! the batches written since the last commit are delivered again and the upsert absorbs them (counted, not
//! asserted: a kill may land right after a commit); with offsets in Postgres (`OFFSET_STORE=postgres`) nothing is.

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
async fn start_replacement_and_settle(
    s: &Scenario,
    running: &mut Vec<ConsumerProcess>,
    bounce: usize,
    env: &[(&str, &str)],
) {
    running.push(s.start_consumer(&format!("{}{bounce}", ["a", "b"][bounce % 2]), env));
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
        start_replacement_and_settle(&s, &mut running, bounce, &[]).await;
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

/// Orders processed again during a run of hard bounces.
#[derive(Debug)]
struct Redelivered {
    /// From the `already_stored` lines of every consumer, the killed ones too.
    logged: u64,
    /// From the exit lines of the consumers that exited cleanly (the last two).
    at_clean_exits: u64,
    /// Messages skipped below their partition's stored offset (`OFFSET_STORE=postgres`), from the exit lines.
    skipped_below_stored: u64,
    /// Lines logging such a skip (one per partition and assignment), every consumer's, the killed ones too.
    skip_lines: usize,
}

/// Five hard bounces of two consumers started with `env`, 18,000 orders at 300/s; every order stored exactly once
/// and committed to Kafka. Returns what was processed again.
async fn five_hard_bounces(name: &str, seed: u64, env: &[(&str, &str)]) -> (Scenario, Redelivered) {
    let s = Scenario::new(name, 3).await;
    let mut running: Vec<ConsumerProcess> = vec![s.start_consumer("a0", env), s.start_consumer("b0", env)];
    s.wait_for_assignment(2, |m| m.iter().all(|x| !x.partitions.is_empty())).await;
    let producer = s.produce_in_background(18_000, 300.0, seed);
    let mut killed = Vec::new();

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
        killed.push(victim);
        // The killed member stays in the group until its session times out (6 s here); then it is replaced.
        start_replacement_and_settle(&s, &mut running, bounce, env).await;
    }

    let acked = producer.await.expect("producer task").acked;
    let done = s.reconcile(acked, 2).await;
    assert_eq!(done.rows as u64, acked, "every order stored exactly once");
    assert_eq!(done.log_end as u64, acked, "the topic holds each order once");
    for c in &running {
        c.terminate();
    }
    for c in &mut running {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0));
    }
    let stat = |field: &str| -> u64 { running.iter().map(|c| c.exit_stat(field).expect("exit line")).sum() };
    let redelivered = Redelivered {
        logged: running.iter().chain(&killed).map(|c| c.sum_logged("already_stored", "orders")).sum(),
        at_clean_exits: stat("already_stored"),
        skipped_below_stored: stat("skipped_below_stored"),
        skip_lines: running.iter().chain(&killed).map(|c| c.count_in_log("event=\"skipped_below_stored\"")).sum(),
    };
    eprintln!("{name}: {redelivered:?}; logs in target/test-logs/{}", s.topic);
    (s, redelivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hard_bounces_deliver_duplicates_that_the_upsert_absorbs() {
    let (s, _redelivered) = five_hard_bounces("hard-bounce", 22, &[]).await;
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hard_bounces_with_offsets_in_postgres_process_nothing_twice() {
    let (s, redelivered) = five_hard_bounces("hard-bounce-pg", 23, &[("OFFSET_STORE", "postgres")]).await;
    assert_eq!(redelivered.logged, 0, "no order processed again, killed consumers included: {redelivered:?}");
    assert_eq!(redelivered.at_clean_exits, 0, "{redelivered:?}");
    // The skip below the stored offset is only the second line of defence: the first, the start offsets set in each
    // assignment, left it nothing to skip.
    assert_eq!((redelivered.skipped_below_stored, redelivered.skip_lines), (0, 0), "{redelivered:?}");
    assert_eq!(s.stored_offsets().await, s.log_end_offsets(), "the stored offsets reached the log end");
    s.cleanup().await;
}
