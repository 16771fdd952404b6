//! Helpers of the producer's integration tests: the local broker, and a fresh topic per test.
#![allow(dead_code)]

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

/// The broker the tests use: `KAFKA_BOOTSTRAP_SERVERS`, else the local stack's.
pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Creates `test-{name}-{uuid8}` with `partitions` partitions; fails with one line saying how to start the stack
/// when the broker does not answer.
pub async fn new_topic(name: &str, partitions: i32) -> String {
    let topic = format!("test-{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("admin client");
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
