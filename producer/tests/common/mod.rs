//! Helpers of the producer's integration tests: the local broker, and a fresh topic per test.
#![allow(dead_code)]

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// The broker the tests use: `KAFKA_BOOTSTRAP_SERVERS`, else the local stack's.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// An admin client on [`bootstrap`].
pub fn admin() -> AdminClient<DefaultClientContext> {
    ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("admin client")
}

/// Records in the topic's first `partitions` partitions (the sum of their log-end offsets).
pub fn records_in(topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", bootstrap()).create().unwrap();
    (0..partitions).map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap().1).sum()
}

/// Creates `test-{name}-{uuid8}` with `partitions` partitions; fails with one line saying how to start the stack
/// when the broker does not answer.
pub async fn new_topic(name: &str, partitions: i32) -> String {
    let topic = format!("test-{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let admin = admin();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let result = tokio::time::timeout(
        Duration::from_secs(15),
        admin.create_topics(&[NewTopic::new(&topic, partitions, TopicReplication::Fixed(1))], &opts),
    )
    .await
    .unwrap_or_else(|_| panic!("Kafka is not reachable at {}; start the local stack: scripts/stack.sh up", bootstrap()))
    .expect("create topic");
    result[0].as_ref().expect("topic created");
    topic
}
