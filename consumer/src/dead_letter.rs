//! The dead-letter path: a message that can never be stored is copied, bytes unchanged, to `food-orders.dlq`,
//! with headers naming where it came from, why it failed, and which consumer sent it. Its offset is committed
//! only after the dead-letter topic acknowledged it (see [`crate::offsets`]).

use futures::future::join_all;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::sync::Arc;
use std::time::Duration;

use shared::telemetry::KafkaLogs;

use crate::batch::{Entry, Outcome};
use crate::events::{DeadLettered, Metrics};

/// Header names; scripts and tests read them.
pub mod headers {
    pub const ORIGINAL_TOPIC: &str = "dlq.original.topic";
    pub const ORIGINAL_PARTITION: &str = "dlq.original.partition";
    pub const ORIGINAL_OFFSET: &str = "dlq.original.offset";
    pub const ERROR_KIND: &str = "dlq.error.kind";
    pub const ERROR_MESSAGE: &str = "dlq.error.message";
    pub const CONSUMER_ID: &str = "dlq.consumer.id";
}

/// Sends poison messages to the dead-letter topic.
pub struct DeadLetters {
    producer: FutureProducer<KafkaLogs>,
    topic: String,
    source_topic: String,
    consumer_id: String,
    metrics: Arc<Metrics>,
}

impl DeadLetters {
    /// # Errors
    /// When librdkafka refuses the configuration.
    pub fn new(
        config: &rdkafka::ClientConfig,
        topic: &str,
        source_topic: &str,
        consumer_id: &str,
        metrics: Arc<Metrics>,
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: config.create_with_context(KafkaLogs)?,
            topic: topic.to_owned(),
            source_topic: source_topic.to_owned(),
            consumer_id: consumer_id.to_owned(),
            metrics,
        })
    }

    /// Sends every given poison message and waits for the broker's acknowledgements; each acknowledged one is
    /// marked, so a retry never sends it twice. Returns how many were sent.
    ///
    /// # Errors
    /// The first delivery error; the messages it concerns stay unmarked and are sent again on the next try.
    pub async fn send<'a>(&self, entries: impl Iterator<Item = &'a mut Entry>) -> Result<usize, KafkaError> {
        let entries: Vec<&mut Entry> = entries.collect();
        let deliveries = entries.iter().map(|entry| {
            let Outcome::Poison { poison, .. } = &entry.outcome else { unreachable!("only poison is dead-lettered") };
            let partition = entry.partition.to_string();
            let offset = entry.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header { key: headers::ORIGINAL_TOPIC, value: Some(self.source_topic.as_str()) })
                .insert(Header { key: headers::ORIGINAL_PARTITION, value: Some(partition.as_str()) })
                .insert(Header { key: headers::ORIGINAL_OFFSET, value: Some(offset.as_str()) })
                .insert(Header { key: headers::ERROR_KIND, value: Some(poison.kind.as_str()) })
                .insert(Header { key: headers::ERROR_MESSAGE, value: Some(poison.reason.as_str()) })
                .insert(Header { key: headers::CONSUMER_ID, value: Some(self.consumer_id.as_str()) });
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic).headers(headers);
            if let Some(key) = entry.key.as_deref() {
                record = record.key(key);
            }
            if let Some(payload) = entry.payload.as_deref() {
                record = record.payload(payload);
            }
            self.producer.send(record, Duration::from_secs(5))
        });
        let results = join_all(deliveries).await;
        let mut first_error = None;
        let mut sent = 0;
        for (entry, result) in entries.into_iter().zip(results) {
            match result {
                Ok(_) => {
                    if let Outcome::Poison { dead_lettered, poison } = &mut entry.outcome {
                        *dead_lettered = true;
                        self.metrics.emit(DeadLettered {
                            kind: poison.kind,
                            reason: &poison.reason,
                            partition: entry.partition,
                            offset: entry.offset,
                        });
                    }
                    sent += 1;
                }
                Err((error, _)) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(sent),
        }
    }
}
