//! The group changes while orders flow: consumers come and go (one at a time and several at once), the topic
//! gains partitions, and a static member restarts. Each scenario ends with the fault suite's reconciliation.

mod common;

use std::time::{Duration, Instant};

use common::{ConsumerProcess, Scenario, TIMEOUT, eventually};

/// Waits until `n` members each own at least one partition.
async fn wait_for_owners(s: &Scenario, n: usize) {
    s.wait_for_assignment(n, |m| m.iter().all(|x| !x.partitions.is_empty())).await;
}

async fn stop_all(consumers: Vec<ConsumerProcess>) {
    for c in &consumers {
        c.terminate();
    }
    for mut c in consumers {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0), "{} exits 0", c.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_added_and_removed_under_load_one_at_a_time_and_several_at_once() {
    let s = Scenario::new("add-remove", 6).await;
    let mut consumers = vec![s.start_consumer("c1", &[])];
    wait_for_owners(&s, 1).await;
    let producer = s.produce_in_background(9_000, 300.0, 31);

    // One at a time: 1 → 2 → 3.
    for i in 2..=3 {
        consumers.push(s.start_consumer(&format!("c{i}"), &[]));
        wait_for_owners(&s, i).await;
    }
    // Two at once: 3 → 5.
    consumers.push(s.start_consumer("c4", &[]));
    consumers.push(s.start_consumer("c5", &[]));
    wait_for_owners(&s, 5).await;
    // One leaves: 5 → 4.
    let mut leaving = consumers.remove(0);
    leaving.terminate();
    assert_eq!(leaving.wait_exit(TIMEOUT).await, Some(0));
    wait_for_owners(&s, 4).await;
    // Two leave at once, one cleanly and one killed: 4 → 2.
    let (mut clean, mut killed) = (consumers.remove(0), consumers.remove(0));
    clean.terminate();
    killed.kill().await;
    assert_eq!(clean.wait_exit(TIMEOUT).await, Some(0));
    wait_for_owners(&s, 2).await;

    let acked = producer.await.expect("producer task").acked;
    let done = s.reconcile(acked, 2).await;
    assert_eq!(done.rows as u64, acked, "every order stored once");
    assert!(s.rows().await.consumers >= 3, "the work was shared");
    stop_all(consumers).await;
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_under_load_are_picked_up_by_producer_and_group() {
    let mut s = Scenario::new("grow", 2).await;
    let consumers = vec![s.start_consumer("c1", &[]), s.start_consumer("c2", &[])];
    wait_for_owners(&s, 2).await;
    let producer = s.produce_in_background(9_000, 300.0, 32);
    eventually("rows before the change", TIMEOUT, || async {
        let n = s.rows().await.count;
        if n >= 500 { Ok(()) } else { Err(format!("{n} rows")) }
    })
    .await;

    s.add_partitions(4).await;
    // Both clients refresh metadata every 10 s: the group rebalances onto 4 partitions, the producer writes to them.
    s.wait_for_assignment(2, |m| m.iter().map(|x| x.partitions.len()).sum::<usize>() == 4).await;
    eventually("rows from the new partitions", TIMEOUT, || async {
        let writers = s.writers_per_partition().await;
        if writers.contains_key(&2) && writers.contains_key(&3) { Ok(()) } else { Err(format!("{writers:?}")) }
    })
    .await;

    let acked = producer.await.expect("producer task").acked;
    let done = s.reconcile(acked, 2).await;
    assert_eq!(done.rows as u64, acked);
    stop_all(consumers).await;
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarted_within_the_session_timeout_gets_its_partitions_back_without_a_rebalance() {
    let s = Scenario::new("static", 4).await;
    // STATIC_MEMBERSHIP derives group.instance.id from CLIENT_ID_BASE and the host: `a-<host>`, `b-<host>`.
    // The restart below takes well under the 15 s session timeout.
    let env = [("STATIC_MEMBERSHIP", "true"), ("SESSION_TIMEOUT_MS", "15000")];
    // b joins first and so leads the group; a restarting leader would make the broker rebalance on purpose.
    let b = s.start_consumer("b", &env);
    wait_for_owners(&s, 1).await;
    let mut a = s.start_consumer("a", &env);
    let members = s.wait_for_assignment(2, |m| m.iter().all(|x| x.partitions.len() == 2)).await;
    let a_id = a.client_id().await;
    let a_partitions = members.iter().find(|m| m.client_id == a_id).expect("a is a member").partitions.clone();
    let producer = s.produce_in_background(6_000, 300.0, 33);
    eventually("rows from both", TIMEOUT, || async {
        let r = s.rows().await;
        if r.consumers == 2 { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;
    let b_events = (b.count_in_log("event=\"partitions_assigned\""), b.count_in_log("event=\"partitions_revoked\""));

    a.terminate();
    assert_eq!(a.wait_exit(TIMEOUT).await, Some(0));
    let restarted_at = Instant::now();
    let a_again = s.start_consumer("a-again", &[env[0], env[1], ("CLIENT_ID_BASE", "a")]);
    // The broker hands the stored assignment to the new process under the same instance id. (It keeps showing
    // the first process's client id in `kafka-consumer-groups --describe`: no rebalance, no new metadata.)
    a_again.wait_for_log(&format!("assignment={a_partitions:?}"), TIMEOUT).await;
    assert!(restarted_at.elapsed() < Duration::from_secs(15), "back within the session timeout");
    s.wait_for_assignment(2, |m| m.iter().all(|x| x.partitions.len() == 2)).await;

    let acked = producer.await.expect("producer task").acked;
    let done = s.reconcile(acked, 2).await;
    assert_eq!(done.rows as u64, acked);
    let b_after = (b.count_in_log("event=\"partitions_assigned\""), b.count_in_log("event=\"partitions_revoked\""));
    assert_eq!(b_after, b_events, "no assignment or revocation for b after a's restart: no rebalance");
    assert_eq!(a_again.count_in_log("event=\"partitions_assigned\""), 1, "a's partitions came back in one step");
    stop_all(vec![b, a_again]).await;
    s.cleanup().await;
}
