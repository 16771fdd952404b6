//! On the three-node cluster, a topic whose `min.insync.replicas` (3) is larger than its live replicas (one broker
//! down): the broker refuses every write with NOT_ENOUGH_REPLICAS. The producer must lose nothing (librdkafka
//! retries, idempotently), say clearly in its log why it waits, count the stall in its summary, and finish once the
//! broker is back. (On one broker this cannot happen: Kafka caps the requirement at the replication factor.)
//!
//! Needs the cluster, so the single-broker run skips it; `scripts/test.sh` runs it on `scripts/stack.sh up
//! --brokers 3` with `--ignored`. It crashes node 3 and brings it back.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};

use common::{admin, bootstrap, records_in};

/// `scripts/stack.sh COMMAND --brokers 3 --node 3`.
fn node_3(command: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack.sh");
    let status = Command::new(script).args([command, "--brokers", "3", "--node", "3"]).status().expect("stack.sh");
    assert!(status.success(), "scripts/stack.sh {command} --node 3 failed");
}

/// The in-sync replicas of partition 0.
fn in_sync(topic: &str) -> Result<usize, String> {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap()).create().unwrap();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let t = metadata.topics().iter().find(|t| t.name() == topic).ok_or("topic not listed")?;
    t.partitions().first().map(|p| p.isr().len()).ok_or_else(|| "no partition".into())
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(()) => return,
            Err(reason) if Instant::now() >= deadline => panic!("{what}: not after {timeout:?}: {reason}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test]
#[ignore = "needs the three-node cluster: scripts/stack.sh up --brokers 3 (scripts/test.sh runs it)"]
async fn not_enough_in_sync_replicas_makes_the_producer_wait_say_why_and_lose_nothing() {
    // Three replicas, and writes need all three in sync: with a broker down every produce request is refused.
    let topic = format!("test-not-enough-replicas-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "3");
    let created = tokio::time::timeout(Duration::from_secs(15), admin().create_topics(&[new], &opts))
        .await
        .unwrap_or_else(|_| {
            panic!("Kafka is not reachable at {}; start the local stack: scripts/stack.sh up", bootstrap())
        })
        .expect("create topic");
    created[0].as_ref().expect("topic created");
    wait_until("3 in-sync replicas", Duration::from_secs(30), || match in_sync(&topic)? {
        3 => Ok(()),
        n => Err(format!("{n} in sync")),
    })
    .await;
    // The controller takes node 3 out of the in-sync replicas once its session expires (about 9 s).
    node_3("kafka-kill");
    wait_until("2 in-sync replicas", Duration::from_secs(60), || match in_sync(&topic)? {
        2 => Ok(()),
        n => Err(format!("{n} in sync")),
    })
    .await;

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(&topic);
    std::fs::create_dir_all(&dir).unwrap();
    let (log_path, summary_path) = (dir.join("producer.log"), dir.join("summary.json"));
    let mut producer = Command::new(env!("CARGO_BIN_EXE_order-producer"))
        .args(["--bootstrap-servers", &bootstrap(), "--topic", &topic, "--count", "50", "--rate", "0", "--seed", "9"])
        .arg("--summary-file")
        .arg(&summary_path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("KAFKA_PROPERTIES")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start order-producer");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    wait_until("the producer says why it waits", Duration::from_secs(30), || {
        let text = log();
        let waiting = text.lines().find(|l| l.contains("event=\"producer_waiting\""));
        match waiting {
            Some(line) if line.contains("NotEnoughReplicas") && line.contains("min.insync.replicas=3") => Ok(()),
            Some(line) => Err(format!("waiting, but not naming the cause: {line}")),
            None => Err("no producer_waiting line yet".into()),
        }
    })
    .await;
    assert_eq!(records_in(&topic, 1), 0, "the broker stored nothing while it refused the writes");
    assert!(producer.try_wait().unwrap().is_none(), "the producer still runs (it waits, it does not give up)");

    // The operator's fix: the broker back. It catches up, rejoins the in-sync replicas, the retries go through.
    node_3("kafka-start");

    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = producer.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the producer did not finish; log: {}", log_path.display());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(status.success(), "the producer exits 0: {}", log());
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["acked"], 50, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["stalls"], 1, "{summary}");
    assert!(summary["longest_stall_ms"].as_u64().unwrap() >= 2_000, "{summary}");
    assert!(log().contains("event=\"producer_resumed\""), "{}", log());
    assert_eq!(records_in(&topic, 1), 50, "each order once: the retries left no duplicate");
}
