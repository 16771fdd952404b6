//! The local three-node cluster (`scripts/stack.sh up --brokers 3`): which node leads what, which node is the
//! active controller, and the faults the cluster suite injects (a crash, a controlled stop, a start, a lost disk),
//! each through `scripts/stack.sh` so a user can run the same command.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::{TIMEOUT, bootstrap, eventually, repo_root};

/// The cluster's nodes.
pub const NODES: [i32; 3] = [1, 2, 3];

/// Runs `scripts/stack.sh COMMAND --brokers 3 --node N[,M]` and asserts it succeeded.
fn stack_nodes(command: &str, nodes: &[i32]) {
    let list = nodes.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let status = std::process::Command::new(repo_root().join("scripts/stack.sh"))
        .args([command, "--brokers", "3", "--node", &list])
        .status()
        .expect("scripts/stack.sh");
    assert!(status.success(), "scripts/stack.sh {command} --brokers 3 --node {list} failed");
}

/// SIGKILL: the node crashes, no controlled shutdown.
pub fn kill(node: i32) {
    kill_nodes(&[node]);
}

/// SIGKILL to several nodes at once.
pub fn kill_nodes(nodes: &[i32]) {
    stack_nodes("kafka-kill", nodes);
}

/// A controlled shutdown (SIGTERM): the node hands its leaderships over before it exits.
pub fn stop(node: i32) {
    stack_nodes("kafka-stop", &[node]);
}

/// Starts the node and waits until the cluster has its three brokers again.
pub fn start(node: i32) {
    start_nodes(&[node]);
}

/// Starts several nodes at once (two are needed together when the quorum was lost) and waits as [`start`] does.
pub fn start_nodes(nodes: &[i32]) {
    stack_nodes("kafka-start", nodes);
}

/// Deletes the node's data directory (its partitions' logs and its copy of the metadata log), as a lost disk
/// would; the node must be stopped. `start` then formats it and it copies everything back from its peers.
pub fn lose_disk(node: i32) {
    let local = std::env::var("LOCAL_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".local"));
    let data = local.join("kafka-cluster").join(format!("node-{node}")).join("data");
    std::fs::remove_dir_all(&data).unwrap_or_else(|e| panic!("delete {}: {e}", data.display()));
}

fn inspector() -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", "cluster-inspector")
        .create()
        .expect("inspection client")
}

/// One partition as the brokers' metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    /// -1 while the partition has no leader.
    pub leader: i32,
    pub isr: Vec<i32>,
}

/// Leader and in-sync replicas of each partition of `topic`.
pub fn partitions(topic: &str) -> Result<Vec<PartitionState>, String> {
    let metadata = inspector().fetch_metadata(Some(topic), Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let t = metadata.topics().iter().find(|t| t.name() == topic).ok_or_else(|| format!("{topic} not listed"))?;
    if let Some(e) = t.error() {
        return Err(format!("{topic}: {e:?}"));
    }
    let mut out: Vec<PartitionState> = t
        .partitions()
        .iter()
        .map(|p| PartitionState { partition: p.id(), leader: p.leader(), isr: p.isr().to_vec() })
        .collect();
    out.sort_by_key(|p| p.partition);
    Ok(out)
}

/// Waits until every partition of every topic given (and of the group offsets' topic) has a leader and all three
/// replicas in sync: the cluster is whole again, so the next fault starts from a healthy cluster.
pub async fn wait_fully_replicated(topics: &[&str]) {
    let mut all: Vec<&str> = topics.to_vec();
    all.push("__consumer_offsets");
    eventually("every partition led, with 3 in-sync replicas", Duration::from_secs(120), || async {
        for topic in &all {
            for p in partitions(topic)? {
                if p.leader < 0 || p.isr.len() != NODES.len() {
                    return Err(format!("{topic} {p:?}"));
                }
            }
        }
        Ok(())
    })
    .await;
}

/// The node the quorum elected active controller (`kafka-metadata-quorum describe --status`, its `LeaderId`).
pub fn active_controller() -> i32 {
    let out = std::process::Command::new(repo_root().join("scripts/kafka.sh"))
        .args(["kafka-metadata-quorum", "--bootstrap-server", &bootstrap(), "describe", "--status"])
        .output()
        .expect("kafka-metadata-quorum");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("LeaderId:").map(|v| v.trim().parse::<i32>()))
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no LeaderId in kafka-metadata-quorum's answer: {text}"))
}

/// Waits until `partition` of `topic` is led by a node other than `old`; returns how long that took from `since`.
pub async fn wait_new_leader(topic: &str, partition: i32, old: i32, since: Instant) -> Duration {
    eventually(&format!("{topic}/{partition}: a leader other than node {old}"), TIMEOUT, || async {
        let p = partitions(topic)?.into_iter().find(|p| p.partition == partition).ok_or("partition missing")?;
        if p.leader >= 0 && p.leader != old { Ok(since.elapsed()) } else { Err(format!("{p:?}")) }
    })
    .await
}
