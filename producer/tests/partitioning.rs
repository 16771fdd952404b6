//! The producer against the real broker: every key lands on the partition Kafka's Java client would choose
//! (vectors computed by Kafka's own code), and the summary's `acked` count is exactly what the topic holds.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use order_producer::ProducerSettings;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use common::{bootstrap, new_topic};

/// (key, partition count) → partition, as computed by Kafka's Java producer.
fn java_vectors() -> HashMap<(String, u32), i32> {
    include_str!("../../harness/tests/data/partitioner_vectors.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            ((f[0].to_owned(), f[2].parse().unwrap()), f[3].parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn every_key_lands_where_kafkas_java_client_puts_it() {
    let vectors = java_vectors();
    for partitions in [3, 5] {
        let topic = new_topic(&format!("partitioner-{partitions}"), partitions).await;
        let settings = ProducerSettings::for_servers(&bootstrap(), &topic);
        let producer: FutureProducer = settings.client_config("partitioner-test").unwrap().create().unwrap();
        let keys: Vec<String> = (1..=1000).map(shared::order::customer_id).collect();
        let sends = keys
            .iter()
            .map(|key| producer.send(FutureRecord::to(&topic).key(key).payload("{}"), Duration::from_secs(10)));
        let deliveries = futures::future::join_all(sends).await;
        for (key, delivery) in keys.iter().zip(deliveries) {
            let delivery = delivery.map_err(|(e, _)| e).expect("delivered");
            assert_eq!(
                delivery.partition,
                vectors[&(key.clone(), partitions as u32)],
                "{key} over {partitions} partitions"
            );
        }
    }
}

#[tokio::test]
async fn a_fixed_batch_is_acked_exactly_and_lands_on_the_java_partitions() {
    let topic = new_topic("producer-batch", 3).await;
    let mut settings = ProducerSettings::for_servers(&bootstrap(), &topic);
    settings.count = Some(3_000);
    settings.rate = 0.0;
    settings.customers = 1_000;
    settings.seed = Some(99);
    let summary = order_producer::run(&settings, std::future::pending()).await.expect("producer run");
    assert_eq!((summary.sent, summary.acked, summary.failed), (3_000, 3_000, 0));

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut total = 0;
    for p in 0..3 {
        total += consumer.fetch_watermarks(&topic, p, Duration::from_secs(10)).unwrap().1;
        tpl.add_partition_offset(&topic, p, Offset::Beginning).unwrap();
    }
    assert_eq!(total, 3_000, "the topic holds exactly the acked records");
    consumer.assign(&tpl).unwrap();
    let vectors = java_vectors();
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while read < total && Instant::now() < deadline {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else { continue };
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        assert_eq!(m.partition(), vectors[&(key.clone(), 3)], "{key}");
        let order: shared::order::OrderEvent = serde_json::from_slice(m.payload().unwrap()).unwrap();
        assert_eq!(order.customer_id, key, "keyed by customer_id");
        assert_eq!(order.validate(), Ok(()));
        read += 1;
    }
    assert_eq!(read, total);
}
