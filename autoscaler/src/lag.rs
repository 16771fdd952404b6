//! Reads, for every partition of the topic, its log-end offset and the group's committed offset: what KEDA's
//! scaler reads (offsets committed to Kafka; an offset stored elsewhere is invisible to it, docs/kubernetes.md).
//!
//! The reader is a Kafka client with the group's id that never subscribes: it asks the group coordinator for the
//! committed offsets (OffsetFetch) without joining, so the group does not rebalance because of it.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use shared::telemetry::KafkaLogs;

use crate::config::AutoscalerSettings;
use crate::keda::PartitionOffsets;

/// Why a poll could not read the offsets; the count is held.
#[derive(Debug, thiserror::Error)]
pub enum LagError {
    #[error("invalid Kafka configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Topic(#[from] shared::kafka::TopicError),
    #[error("cannot read the log-end offset of partition {partition}: {source}")]
    Watermarks { partition: i32, source: KafkaError },
    #[error("cannot read the group's committed offsets: {0}")]
    Committed(#[source] KafkaError),
}

pub struct OffsetReader {
    consumer: BaseConsumer<KafkaLogs>,
    group: String,
    topic: String,
    servers: String,
    timeout: Duration,
}

impl OffsetReader {
    /// # Errors
    /// A configuration librdkafka refuses.
    pub fn new(settings: &AutoscalerSettings) -> Result<Self, LagError> {
        let client_id = shared::client_id::client_id("order-autoscaler");
        let mut config = settings.kafka.client_config(&client_id).map_err(|e| LagError::Config(e.to_string()))?;
        config.set("group.id", &settings.consumer_group).set("enable.auto.commit", "false");
        let consumer = config.create_with_context(KafkaLogs).map_err(|e| LagError::Config(e.to_string()))?;
        Ok(Self {
            consumer,
            group: settings.consumer_group.clone(),
            topic: settings.topic.clone(),
            servers: settings.kafka.bootstrap_servers.clone(),
            timeout: settings.kafka_timeout,
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Every partition's offsets. Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    /// The broker does not answer, the topic does not exist, or an offset cannot be read.
    pub fn read(&self) -> Result<Vec<PartitionOffsets>, LagError> {
        shared::kafka::check_topic(self.consumer.client(), &self.topic, &self.servers, self.timeout)?;
        let metadata = self.consumer.fetch_metadata(Some(&self.topic), self.timeout).map_err(|_| {
            shared::kafka::TopicError::Unreachable { servers: self.servers.clone(), timeout: self.timeout }
        })?;
        let mut partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        partitions.sort_unstable();
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(&self.topic, *p);
        }
        let committed = self.consumer.committed_offsets(tpl, self.timeout).map_err(LagError::Committed)?;
        partitions
            .iter()
            .map(|&partition| {
                let (_, high) = self
                    .consumer
                    .fetch_watermarks(&self.topic, partition, self.timeout)
                    .map_err(|source| LagError::Watermarks { partition, source })?;
                let committed = match committed.find_partition(&self.topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => Some(offset),
                    _ => None,
                };
                Ok(PartitionOffsets { partition, log_end: high, committed })
            })
            .collect()
    }
}
