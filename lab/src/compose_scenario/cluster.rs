//! The three-node cluster on the compose stack (`lab compose-scenario --cluster`, run by
//! `lab compose-test --with-cluster`): docker-compose.cluster.yml laid over docker-compose.yml, one node
//! killed and started again while the producer runs, then drained. Its steps and checks: docs/cluster.md.
//!
//! Observed from the host the way the harness reads any stack ([`World`]): leaders and in-sync replicas from the
//! brokers' metadata, owners from the group coordinator, committed and log-end offsets, rows from Postgres.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use harness::compose::Compose;
use harness::wait::wait_for;
use harness::world::{PartitionLeader, Reconciliation, World};
use serde::Serialize;

use super::{ScenarioReport, ScenarioSettings};

/// The cluster's nodes, each partition's replicas.
const NODES: usize = 3;
/// The orders topic's partitions here (`TOPIC_PARTITIONS`), and so the consumers that own one each.
const PARTITIONS: usize = 3;
/// The node killed and started again, and its node id.
const VICTIM: &str = "kafka-2";
const VICTIM_ID: i32 = 2;
/// Rows the consumers must store while the node is down.
const STORED_WHILE_DOWN: i64 = 1_000;

/// What the cluster's scenario measured, in seconds.
#[derive(Debug, Default, Serialize)]
pub struct ClusterFigures {
    /// From `up` returning to 3 in-sync replicas on every partition.
    pub in_sync_s: Option<f64>,
    /// From `kill kafka-2` to the node dropped from every partition's in-sync replicas.
    pub dropped_s: Option<f64>,
    /// From then to 1,000 more rows stored than when the node was killed.
    pub stored_while_down_s: Option<f64>,
    /// From `start kafka-2` to 3 in-sync replicas on every partition again.
    pub back_in_sync_s: Option<f64>,
    /// From the producer stopped to drained.
    pub drain_s: Option<f64>,
}

/// The host and port of the first of `bootstrap`'s servers: Kafka's (node 1) host listener.
fn host_listener(bootstrap: &str) -> anyhow::Result<(String, u16)> {
    let first = bootstrap.split(',').next().unwrap_or_default();
    let (host, port) = first.rsplit_once(':').with_context(|| format!("'{first}' is not host:port"))?;
    let port: u16 = port.parse().with_context(|| format!("'{first}' has no port number"))?;
    anyhow::ensure!(
        port <= u16::MAX - 4,
        "Kafka's host port {port} leaves no room for kafka-2's and kafka-3's (+2, +4)"
    );
    Ok((host.to_owned(), port))
}

/// The three nodes' host listeners: Kafka's, and kafka-2's and kafka-3's two and four ports above it.
fn bootstrap_of_all(host: &str, port: u16) -> String {
    [0, 2, 4].map(|offset| format!("{host}:{}", port + offset)).join(",")
}

/// The compose stack with docker-compose.cluster.yml over docker-compose.yml: 3 partitions, the producer at
/// `--rate` (200 by default) and the three nodes' host ports.
///
/// # Errors
/// When `--bootstrap-servers` names no port, or no compose CLI is found.
pub(super) fn compose(settings: &ScenarioSettings, root: &Path) -> anyhow::Result<Compose> {
    let (_, port) = host_listener(&settings.bootstrap_servers)?;
    let env = [
        ("TOPIC_PARTITIONS", PARTITIONS.to_string()),
        ("PRODUCER_RATE", settings.rate.unwrap_or(200).to_string()),
        ("KAFKA_HOST_PORT", port.to_string()),
        ("KAFKA_2_HOST_PORT", (port + 2).to_string()),
        ("KAFKA_3_HOST_PORT", (port + 4).to_string()),
    ];
    let env = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Ok(Compose::find(root, env)?.with_file("docker-compose.cluster.yml"))
}

/// Every partition with all three replicas in sync.
fn fully_replicated(leaders: &[PartitionLeader]) -> bool {
    leaders.len() == PARTITIONS && leaders.iter().all(|p| p.replicas.len() == NODES && p.in_sync.len() == NODES)
}

fn describe(leaders: &[PartitionLeader]) -> String {
    let parts: Vec<String> =
        leaders.iter().map(|p| format!("p{} leader {} in sync {:?}", p.partition, p.leader, p.in_sync)).collect();
    parts.join("; ")
}

/// One look at the drained state: the run's reconciliation, and how many members own partitions.
#[derive(Debug, Clone, PartialEq)]
struct Drain {
    seen: Reconciliation,
    owners: usize,
}

impl Drain {
    async fn observe(world: &World) -> anyhow::Result<Self> {
        Ok(Self { seen: world.reconciliation().await?, owners: world.group().context("the group")?.owners() })
    }

    /// Rows = records, none twice, committed = log-end on every partition, every partition owned.
    fn done(&self) -> bool {
        let seen = &self.seen;
        seen.rows == seen.records()
            && seen.duplicates() == 0
            && seen.log_end.len() == PARTITIONS
            && seen.committed_to_end()
            && self.owners == PARTITIONS
    }
}

/// Runs the cluster's steps; what it measured goes into `report.cluster` whatever happened.
///
/// # Errors
/// When a command fails or a wait runs past its deadline (a drain that does not finish is failed checks instead).
pub(super) async fn steps(
    settings: &ScenarioSettings,
    compose: &Compose,
    report: &mut ScenarioReport,
) -> anyhow::Result<()> {
    let mut figures = ClusterFigures::default();
    let outcome = steps_measured(settings, compose, report, &mut figures).await;
    report.cluster = Some(figures);
    outcome
}

async fn steps_measured(
    settings: &ScenarioSettings,
    compose: &Compose,
    report: &mut ScenarioReport,
    figures: &mut ClusterFigures,
) -> anyhow::Result<()> {
    // 1. Three nodes, 3 partitions of 3 replicas, three consumers, the producer.
    let build: &[&str] = if settings.no_build { &[] } else { &["--build"] };
    compose.run(&[&["up", "-d"], build, &["--scale", "order-consumer=3"]].concat()).await?;
    let (host, port) = host_listener(&settings.bootstrap_servers)?;
    let (topic, dlq, group) = (shared::ORDERS_TOPIC, shared::DLQ_TOPIC, shared::CONSUMER_GROUP);
    let bootstrap = bootstrap_of_all(&host, port);
    let world = World::new(&bootstrap, topic, dlq, group, settings.database.url.expose())?;
    let in_sync =
        wait_for("three replicas in sync on each of the 3 partitions", Duration::from_secs(240), async || {
            world.leaders().ok().filter(|l| fully_replicated(l))
        })
        .await;
    let expectation = "each of the 3 partitions has 3 replicas, all in sync";
    let (_, waited) = report.waited(1, expectation, in_sync, |l, _| describe(l))?;
    figures.in_sync_s = Some(waited.as_secs_f64());
    let owned = wait_for("three consumers owning the 3 partitions", Duration::from_secs(240), async || {
        world.group().ok().filter(|g| g.owners() == PARTITIONS)
    })
    .await;
    report.waited(1, "three consumers own the 3 partitions", owned, |v, _| super::describe(&v.members))?;
    let stored =
        wait_for("orders stored", Duration::from_secs(60), async || world.rows().await.ok().filter(|r| *r > 0)).await;
    report.waited(1, "orders are stored", stored, |rows, _| format!("{rows} rows"))?;

    // 2. A node crashes under load: the cluster drops it from every in-sync replica set, and the two others go on.
    compose.run(&["kill", VICTIM]).await?;
    let before = world.rows().await?;
    let dropped = wait_for("kafka-2 out of every partition's in-sync replicas", Duration::from_secs(60), async || {
        world.leaders().ok().filter(|l| l.len() == PARTITIONS && l.iter().all(|p| !p.in_sync.contains(&VICTIM_ID)))
    })
    .await;
    let expectation = "kafka-2 dropped from every partition's in-sync replicas";
    let (_, waited) = report
        .waited(2, expectation, dropped, |l, waited| format!("after {:.1} s: {}", waited.as_secs_f64(), describe(l)))?;
    figures.dropped_s = Some(waited.as_secs_f64());
    let stored = wait_for("1,000 more orders stored with kafka-2 down", Duration::from_secs(90), async || {
        world.rows().await.ok().filter(|r| *r > before + STORED_WHILE_DOWN)
    })
    .await;
    let expectation = "orders are still stored with kafka-2 down (1,000 more)";
    let (_, waited) = report.waited(2, expectation, stored, |after, waited| {
        format!("rows {before} → {after} ({:.1} s after the node was dropped)", waited.as_secs_f64())
    })?;
    figures.stored_while_down_s = Some(waited.as_secs_f64());

    // 3. The node is started again and catches up.
    compose.run(&["start", VICTIM]).await?;
    let in_sync = wait_for("kafka-2 back in sync", Duration::from_secs(180), async || {
        world.leaders().ok().filter(|l| fully_replicated(l))
    })
    .await;
    let expectation = "kafka-2 back in sync: 3 in-sync replicas on each of the 3 partitions";
    let (_, waited) = report
        .waited(3, expectation, in_sync, |l, waited| format!("after {:.1} s: {}", waited.as_secs_f64(), describe(l)))?;
    figures.back_in_sync_s = Some(waited.as_secs_f64());

    // 4. The producer stopped, the consumers drain, and the reconciliation, read by a client that did not live
    // through the crash (in one run, the client connected across it got OperationTimedOut for the whole drain).
    world.pool.close().await;
    drop(world);
    let world = World::new(&bootstrap, topic, dlq, group, settings.database.url.expose())?;
    let producer = report.stop_producer(4, compose).await?;
    // What the last look saw, for the report when the drain does not finish.
    let mut last = String::from("nothing");
    let drained = wait_for(
        "drained: rows = records in the topic, none twice, lag 0 on every partition, 3 owners",
        Duration::from_secs(120),
        async || match Drain::observe(&world).await {
            Ok(seen) if seen.done() => Some(seen),
            Ok(seen) => {
                last = format!("{seen:?}");
                None
            }
            Err(error) => {
                last = format!("{error:#}");
                None
            }
        },
    )
    .await;
    let Drain { seen, owners } = match drained {
        Ok((seen, waited)) => {
            figures.drain_s = Some(waited.as_secs_f64());
            seen
        }
        Err(error) => {
            report.check(4, "drained within 120 s", false, format!("{error:#}; last seen: {last}"));
            match Drain::observe(&world).await {
                Ok(seen) => seen,
                Err(_) => return Ok(()),
            }
        }
    };
    world.pool.close().await;
    report.rows = Some(seen.rows);
    report.dead_letters = Some(seen.dead_letters);
    let records = seen.records();
    report.check(
        4,
        "rows = records in the topic",
        seen.rows == records,
        format!("{} rows, {records} records, {} dead letters", seen.rows, seen.dead_letters),
    );
    report.check(
        4,
        "no order stored twice",
        seen.duplicates() == 0,
        format!("{} distinct order_ids", seen.distinct_orders),
    );
    report.check(
        4,
        "the topic holds exactly the acknowledged orders (log-end total = acked)",
        records == producer.acked as i64,
        format!("log-end total {records}, acked {}", producer.acked),
    );
    report.check(
        4,
        "lag 0: committed = log-end on every partition",
        seen.committed_to_end(),
        format!("committed {:?}, log-end {:?}", seen.committed, seen.log_end),
    );
    report.check(4, "3 owners", owners == PARTITIONS, format!("{owners} owners"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(partition: i32, in_sync: &[i32]) -> PartitionLeader {
        PartitionLeader { partition, leader: in_sync[0], replicas: vec![1, 2, 3], in_sync: in_sync.to_vec() }
    }

    #[test]
    fn the_nodes_listen_two_ports_apart() {
        let (host, port) = host_listener("127.0.0.1:29092").expect("host:port");
        assert_eq!(bootstrap_of_all(&host, port), "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096");
        assert_eq!(host_listener("localhost:9092,localhost:9094").expect("host:port"), ("localhost".into(), 9092));
        assert!(host_listener("127.0.0.1").is_err());
        assert!(host_listener("127.0.0.1:65534").is_err());
    }

    #[test]
    fn fully_replicated_means_three_in_sync_on_each_of_three_partitions() {
        let whole = [partition(0, &[1, 2, 3]), partition(1, &[2, 3, 1]), partition(2, &[3, 1, 2])];
        assert!(fully_replicated(&whole));
        assert!(!fully_replicated(&whole[..2]));
        let node_down = [partition(0, &[1, 3]), partition(1, &[3, 1]), partition(2, &[3, 1, 2])];
        assert!(!fully_replicated(&node_down));
    }

    #[test]
    fn drained_needs_every_row_once_lag_zero_and_three_owners() {
        let seen = Reconciliation {
            rows: 30,
            distinct_orders: 30,
            dead_letters: 0,
            committed: vec![10, 12, 8],
            log_end: vec![10, 12, 8],
        };
        let done = Drain { seen: seen.clone(), owners: 3 };
        assert!(done.done());
        let with = |seen: Reconciliation| Drain { seen, owners: 3 }.done();
        assert!(!with(Reconciliation { rows: 29, distinct_orders: 29, ..seen.clone() }));
        assert!(!with(Reconciliation { distinct_orders: 29, ..seen.clone() }));
        assert!(!with(Reconciliation { committed: vec![10, 11, 8], ..seen.clone() }));
        assert!(!Drain { owners: 2, ..done.clone() }.done());
    }
}
