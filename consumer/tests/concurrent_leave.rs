//! Three of four consumers stopped at the same instant (`docker compose up --scale order-consumer=1` from 4):
//! the one that stays must get every partition as soon as the others have left, not when the broker gives up on
//! one of them a session timeout later. One of the three stopped is the idle member (4 consumers, 3 partitions),
//! the member librdkafka used to close without a LeaveGroup (see `order_consumer::source::leave`).

mod common;

use std::time::{Duration, Instant};

use common::{ConsumerProcess, Scenario, TIMEOUT, eventually};

/// Long enough that a member the broker has to expire keeps the group waiting far past [`TAKEOVER_WITHIN`].
const SESSION_TIMEOUT_MS: &str = "30000";
/// How long the remaining member may take to own every partition after the SIGTERM: ample for a clean leave and
/// the rebalance after it, half the session timeout an expiry would take.
const TAKEOVER_WITHIN: Duration = Duration::from_secs(15);

/// SIGTERM to all of them in one `kill`, as `docker compose` scaling down sends it.
fn terminate_together(consumers: &[ConsumerProcess]) {
    let mut kill = std::process::Command::new("kill");
    kill.arg("-TERM");
    for c in consumers {
        kill.arg(c.pid().to_string());
    }
    assert!(kill.status().expect("kill").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_four_consumers_stopped_at_once_hand_every_partition_to_the_last_one_well_before_the_session_timeout()
{
    let s = Scenario::new("leave-together", 3).await;
    let env = [("SESSION_TIMEOUT_MS", SESSION_TIMEOUT_MS)];
    // The keeper joins first and owns all three; cooperative-sticky then lets it keep at least one when the others
    // join, so the idle fourth member is one of those stopped.
    let mut keeper = s.start_consumer("keeper", &env);
    s.wait_for_assignment(1, |m| m[0].partitions.len() == 3).await;
    let leaving: Vec<ConsumerProcess> = (1..=3).map(|i| s.start_consumer(&format!("c{i}"), &env)).collect();
    let keeper_id = keeper.client_id().await;
    let members = s
        .wait_for_assignment(4, |m| {
            let owners = m.iter().filter(|x| !x.partitions.is_empty()).count();
            owners == 3 && m.iter().any(|x| x.client_id == keeper_id && !x.partitions.is_empty())
        })
        .await;
    assert!(members.iter().any(|m| m.partitions.is_empty()), "one member idle: {members:?}");

    let producer = s.produce_in_background(6_000, 300.0, 41);
    eventually("rows from three consumers", TIMEOUT, || async {
        let r = s.rows().await;
        if r.consumers == 3 { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;

    terminate_together(&leaving);
    let stopped_at = Instant::now();
    let owners = eventually("the keeper alone owns every partition", TAKEOVER_WITHIN, || async {
        let m = s.group_members()?;
        let whole = m.len() == 1 && m[0].client_id == keeper_id && m[0].partitions.len() == 3;
        if whole { Ok(m) } else { Err(format!("{m:?}")) }
    })
    .await;
    let took = stopped_at.elapsed();
    for mut c in leaving {
        assert_eq!(c.wait_exit(TIMEOUT).await, Some(0), "{} exits 0", c.label);
    }
    let mut owned = owners[0].partitions.clone();
    owned.sort_unstable();
    assert_eq!(owned, vec![0, 1, 2]);
    eprintln!("the keeper owned every partition {took:?} after the SIGTERM");

    let acked = producer.await.expect("producer task").acked;
    let done = s.reconcile(acked, 1).await;
    assert_eq!(done.rows as u64, acked, "every order stored once");
    keeper.terminate();
    assert_eq!(keeper.wait_exit(TIMEOUT).await, Some(0));
    s.cleanup().await;
}
