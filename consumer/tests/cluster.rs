//! Broker faults on the three-node cluster (docs/cluster.md), each under load: the producer at 2,000 orders/s and
//! three consumers on a topic of 3 partitions with 3 replicas and `min.insync.replicas=2`. Each test ends with the
//! fault suite's reconciliation: every acknowledged order is a row (none is a dead letter here), no order_id twice,
//! the log holds exactly the acknowledged orders (the idempotent producer's retries left no duplicate), the group
//! committed the log-end offset of every partition and owns every partition again.
//!
//! They need the cluster, so the single-broker run skips them (`#[ignore]`); `scripts/test.sh` runs them on it:
//! `scripts/stack.sh up --brokers 3`, then
//! `KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096 cargo test -p order-consumer --test cluster -- --ignored`.
//! They crash, stop and wipe the shared brokers, so they take turns (a lock), and each starts by waiting until the
//! cluster is whole. With `CLUSTER_REPORT_DIR` set, each writes what it measured (failover time, the longest gap
//! between stored rows, the produce → row p99 during the fault) to `<dir>/<test>.json`: figures, not assertions.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::cluster::{self, NODES};
use common::{ConsumerProcess, Scenario, TIMEOUT, eventually};
use order_producer::Summary;
use sqlx::Row;

const RATE: f64 = 2_000.0;
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// A scenario under load: three consumers, one partition each, and the producer at [`RATE`].
struct Load {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    s: Scenario,
    consumers: Vec<ConsumerProcess>,
    producer: tokio::task::JoinHandle<Summary>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Load {
    /// Waits for its turn (the tests share the brokers) and for a whole cluster, then starts the load.
    async fn start(name: &str, seed: u64) -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        cluster::wait_fully_replicated(&[]).await;
        let s = Scenario::replicated(name, 3).await;
        cluster::wait_fully_replicated(&[&s.topic, &s.dlq_topic]).await;
        // The consumer's default session timeout (10 s), not the 6 s of the other tests: a member that cannot reach
        // its group coordinator for that long counts itself expelled, and a coordinator on a crashed node needs the
        // node's fencing (4 s) plus an election and a load to come back (docs/cluster.md measures both).
        let env = [("SESSION_TIMEOUT_MS", "10000")];
        let consumers = vec![s.start_consumer("a", &env), s.start_consumer("b", &env), s.start_consumer("c", &env)];
        s.wait_for_assignment(3, |m| m.iter().all(|x| x.partitions.len() == 1)).await;
        let (producer, stop) = s.produce_until_stopped(RATE, seed);
        s.wait_for_rows_at_least(2_000, TIMEOUT).await;
        Self { _turn: turn, s, consumers, producer, stop }
    }

    /// Once the fault is over: waits until every replica is back in sync, keeps the load on a little, reconciles,
    /// writes what was measured from `t0` (the fault) to now, and drops the scenario's database.
    async fn conclude(self, name: &str, fault: &str, t0: f64, failover: Option<Duration>) -> Summary {
        cluster::wait_fully_replicated(&[&self.s.topic, &self.s.dlq_topic]).await;
        let t1 = now_s();
        let (s, summary) = self.finish().await;
        let mut figures = Figures::measure(&s, fault, t0, t1).await;
        figures.failover_ms = failover.map(|f| f.as_millis() as u64);
        figures.write(&summary, name);
        s.cleanup().await;
        summary
    }

    /// Keeps the load on until the recovered cluster stored another 4,000 orders (two seconds' worth), stops the
    /// producer, and reconciles. Returns the producer's summary.
    async fn finish(self) -> (Scenario, Summary) {
        let Self { s, mut consumers, producer, stop, .. } = self;
        let before = s.rows().await.count;
        s.wait_for_rows_at_least(before + 4_000, TIMEOUT).await;
        let _ = stop.send(());
        let summary = producer.await.expect("the producer task");
        assert_eq!(summary.failed, 0, "no order given up on: {summary:?}");
        assert_eq!(summary.acked, summary.sent, "every order sent was acknowledged: {summary:?}");
        let done = s.reconcile(summary.acked, 3).await;
        assert_eq!(done.dead_letters, 0, "no dead letter: every order is valid");
        assert_eq!(done.rows as u64, summary.acked, "every acknowledged order stored once");
        assert_eq!(done.log_end as u64, summary.acked, "the log holds each acknowledged order once");
        for c in &mut consumers {
            assert!(c.wait_alive(), "{} survived the fault; log: {}", c.label, c.log_path.display());
            c.terminate();
        }
        for c in &mut consumers {
            assert_eq!(c.wait_exit(TIMEOUT).await, Some(0), "{} exits 0", c.label);
        }
        (s, summary)
    }
}

/// What a fault test measured (written to `CLUSTER_REPORT_DIR`, when set).
#[derive(Debug, Default)]
struct Figures {
    fault: String,
    /// From the fault until the partition (or the quorum) had a new leader, as seen by polling the metadata
    /// (every 200 ms plus the request's time).
    failover_ms: Option<u64>,
    /// The longest time between two consecutive rows stored, of those intervals that overlap the time from 1 s
    /// before the fault until the cluster was whole.
    longest_gap_ms: f64,
    /// produce → row p99 of the orders produced from the fault until the cluster was whole.
    p99_during_ms: f64,
    rows_during: i64,
    acked: u64,
    stalls: u64,
    longest_stall_ms: u64,
    /// How long the whole test took (not reported: for the suite's own time budget).
    took: Duration,
}

impl Figures {
    /// Reads the gap and the p99 of the window [from, to] (seconds since the epoch) from the rows.
    async fn measure(s: &Scenario, fault: &str, from: f64, to: f64) -> Self {
        // Every interval between two consecutive rows that overlaps the window, including the one that starts
        // in it and ends after it (storing may resume only after the cluster is whole).
        let gap: Option<f64> = sqlx::query_scalar(
            "SELECT max(extract(epoch FROM processed_at - previous) * 1000)::float8
               FROM (SELECT processed_at, lag(processed_at) OVER (ORDER BY processed_at) AS previous FROM orders) g
              WHERE processed_at >= to_timestamp($1) AND previous <= to_timestamp($2)",
        )
        .bind(from - 1.0)
        .bind(to)
        .fetch_one(&s.pool)
        .await
        .expect("longest gap");
        let row = sqlx::query(
            "SELECT count(*) AS n, coalesce(percentile_cont(0.99) WITHIN GROUP
                    (ORDER BY extract(epoch FROM processed_at - produced_at) * 1000), 0)::float8 AS p99
               FROM orders WHERE produced_at BETWEEN to_timestamp($1) AND to_timestamp($2)",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&s.pool)
        .await
        .expect("p99 during the fault");
        Self {
            fault: fault.into(),
            longest_gap_ms: gap.unwrap_or_default(),
            p99_during_ms: row.get("p99"),
            rows_during: row.get("n"),
            took: s.age(),
            ..Self::default()
        }
    }

    fn write(mut self, summary: &Summary, name: &str) {
        self.acked = summary.acked;
        self.stalls = summary.stalls;
        self.longest_stall_ms = summary.longest_stall_ms;
        eprintln!("{name}: {self:?}, test took {:.0?}", self.took);
        if let Ok(dir) = std::env::var("CLUSTER_REPORT_DIR") {
            std::fs::create_dir_all(&dir).expect("report dir");
            let json = serde_json::json!({
                "fault": self.fault, "failover_ms": self.failover_ms, "longest_gap_ms": self.longest_gap_ms,
                "p99_during_ms": self.p99_during_ms, "rows_during": self.rows_during, "acked": self.acked,
                "stalls": self.stalls, "longest_stall_ms": self.longest_stall_ms,
            });
            let text = serde_json::to_string_pretty(&json).expect("figures as JSON");
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.json")), text).expect("write figures");
        }
    }
}

/// The partition with the most records so far, and its leader.
fn busiest_partition(s: &Scenario) -> (i32, i32) {
    let ends = s.log_end_offsets();
    let busiest = (0..ends.len()).max_by_key(|&p| ends[p]).unwrap_or(0) as i32;
    let leader = cluster::partitions(&s.topic).expect("metadata")[busiest as usize].leader;
    (busiest, leader)
}

/// Crashes the leader of the busiest partition (and, with `lose_disk`, deletes its data), waits for a new leader,
/// starts the node again and waits until every replica is back in sync; then reconciles and writes the figures.
async fn crash_the_busiest_leader(name: &str, seed: u64, lose_disk: bool) {
    let load = Load::start(name, seed).await;
    let (partition, node) = busiest_partition(&load.s);
    let (t0, since) = (now_s(), Instant::now());
    cluster::kill(node);
    if lose_disk {
        cluster::lose_disk(node);
    }
    let failover = cluster::wait_new_leader(&load.s.topic, partition, node, since).await;
    cluster::start(node);
    // A node formatted anew copies every partition back from the two others before it is in sync again.
    let fault = if lose_disk {
        format!("node {node} (leader of partition {partition}) killed, its data deleted")
    } else {
        format!("SIGKILL node {node}, leader of partition {partition}")
    };
    load.conclude(name, &fault, t0, Some(failover)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the three-node cluster: scripts/stack.sh up --brokers 3 (scripts/test.sh runs it)"]
async fn the_leader_of_the_busiest_partition_is_killed_and_nothing_is_lost() {
    crash_the_busiest_leader("leader-killed", 131, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the three-node cluster: scripts/stack.sh up --brokers 3 (scripts/test.sh runs it)"]
async fn the_active_controller_is_killed_and_nothing_is_lost() {
    let load = Load::start("controller-killed", 137).await;
    let controller = cluster::active_controller();
    let (t0, since) = (now_s(), Instant::now());
    cluster::kill(controller);
    let failover = eventually("a new active controller", TIMEOUT, || async {
        let now = cluster::active_controller();
        if now != controller { Ok(since.elapsed()) } else { Err(format!("still node {now}")) }
    })
    .await;
    cluster::start(controller);
    let fault = format!("SIGKILL node {controller}, the active controller");
    load.conclude("controller-killed", &fault, t0, Some(failover)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the three-node cluster: scripts/stack.sh up --brokers 3 (scripts/test.sh runs it)"]
async fn a_rolling_restart_of_all_three_brokers_loses_nothing() {
    let load = Load::start("rolling-restart", 139).await;
    let t0 = now_s();
    for node in NODES {
        // A controlled shutdown hands the node's leaderships over first; the next node goes only once every
        // partition has its three replicas in sync again, as an operator's rolling restart would.
        cluster::stop(node);
        cluster::start(node);
        cluster::wait_fully_replicated(&[&load.s.topic, &load.s.dlq_topic]).await;
    }
    load.conclude("rolling-restart", "rolling restart of nodes 1, 2, 3 (controlled shutdowns)", t0, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the three-node cluster: scripts/stack.sh up --brokers 3 (scripts/test.sh runs it)"]
async fn two_brokers_down_stall_the_producer_without_losing_or_duplicating_an_order() {
    let load = Load::start("two-down", 149).await;
    let t0 = now_s();
    // Two of three: the KRaft quorum is lost too, so no leader can move and no write reaches min.insync.replicas.
    cluster::kill_nodes(&[2, 3]);
    // Stored rows stop growing once the consumers have what was acknowledged before the crash.
    let last = std::cell::Cell::new((load.s.rows().await.count, Instant::now()));
    eventually("rows stop growing for 3 s (the producer's orders wait)", TIMEOUT, || async {
        let n = load.s.rows().await.count;
        if n != last.get().0 {
            last.set((n, Instant::now()));
        }
        if last.get().1.elapsed() >= Duration::from_secs(3) { Ok(()) } else { Err(format!("{n} rows, still moving")) }
    })
    .await;
    cluster::start_nodes(&[2, 3]);
    let summary = load.conclude("two-down", "SIGKILL nodes 2 and 3 together, then both started", t0, None).await;
    assert!(summary.stalls >= 1, "the producer says it waited: {summary:?}");
    assert!(summary.longest_stall_ms >= 2_000, "a stall of 2 s or more: {summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the three-node cluster: scripts/stack.sh up --brokers 3 (scripts/test.sh runs it)"]
async fn a_broker_that_lost_its_disk_is_rebuilt_from_its_peers() {
    crash_the_busiest_leader("disk-lost", 151, true).await;
}
