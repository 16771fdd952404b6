//! The Kafka side: the group member, and the rebalance callbacks that make rebalances visible and safe.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{ClientContext, TopicPartitionList};
use tracing::{Span, debug, info, warn};

use crate::offsets::Offsets;
use crate::writer::HeldBatch;

/// The consumer this pipeline uses.
pub type OrderConsumer = StreamConsumer<GroupContext>;

/// Callbacks librdkafka runs inside `recv()`, on the pipeline's task, between two batches.
pub struct GroupContext {
    pub offsets: Offsets,
    /// The pipeline's batch while it waits in `recv()`: written before a revocation completes.
    pub held: HeldBatch,
    /// The pipeline's span (it carries the client id), so callback lines carry it too.
    span: Span,
}

impl GroupContext {
    pub fn new(topic: &str, span: Span) -> Self {
        Self { offsets: Offsets::new(topic), held: HeldBatch::default(), span }
    }
}

fn partitions(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    let mut p: Vec<i32> = tpl.elements_for_topic(topic).iter().map(|e| e.partition()).collect();
    p.sort_unstable();
    p
}

impl ClientContext for GroupContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        let _span = self.span.enter();
        shared::telemetry::log_librdkafka(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let _span = self.span.enter();
        shared::telemetry::log_client_error(&error, reason);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let _span = self.span.enter();
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked = partitions(tpl, self.offsets.topic());
                if consumer.assignment_lost() {
                    self.offsets.lost(&revoked);
                    warn!(event = "partitions_lost", partitions = ?revoked,
                          "assignment lost (expelled from the group): nothing committed, unwritten messages dropped");
                    return;
                }
                self.held.write_before_revoke(&revoked, &self.offsets);
                self.offsets.commit_revoked(consumer, &revoked);
                info!(event = "partitions_revoked", topic = self.offsets.topic(), partitions = ?revoked, "partitions revoked");
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => warn!(event = "rebalance_error", %error, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let _span = self.span.enter();
        if let Rebalance::Assign(tpl) = rebalance {
            let added = partitions(tpl, self.offsets.topic());
            self.offsets.assigned(&added);
            let now = consumer.assignment().map(|a| partitions(&a, self.offsets.topic())).unwrap_or_default();
            if added.is_empty() {
                debug!(event = "partitions_assigned", assignment = ?now, "rebalance left this member's partitions as they were");
                return;
            }
            info!(event = "partitions_assigned", topic = self.offsets.topic(), partitions = ?added, assignment = ?now,
                  "partitions assigned");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let _span = self.span.enter();
        self.offsets.commit_answered(result, offsets);
    }
}

/// Why the consumer could not join.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("invalid Kafka configuration: {0}")]
    Client(#[source] KafkaError),
    #[error(transparent)]
    Topic(#[from] shared::kafka::TopicError),
    #[error("cannot subscribe to '{topic}': {source}")]
    Subscribe { topic: String, source: KafkaError },
}

/// Creates the consumer, checks that the topic exists, and subscribes.
///
/// # Errors
/// Bad configuration, an unreachable broker or a missing topic.
pub async fn subscribe(
    config: rdkafka::ClientConfig,
    topic: &str,
    servers: &str,
    timeout: Duration,
) -> Result<std::sync::Arc<OrderConsumer>, SourceError> {
    let consumer: OrderConsumer =
        config.create_with_context(GroupContext::new(topic, Span::current())).map_err(SourceError::Client)?;
    let consumer = std::sync::Arc::new(consumer);
    let probe = std::sync::Arc::clone(&consumer);
    let (owned_topic, owned_servers) = (topic.to_owned(), servers.to_owned());
    let checked = tokio::task::spawn_blocking(move || {
        shared::kafka::check_topic(probe.client(), &owned_topic, &owned_servers, timeout)
    });
    match checked.await {
        Ok(result) => result?,
        Err(_) => return Err(shared::kafka::TopicError::Unreachable { servers: servers.to_owned(), timeout }.into()),
    }
    consumer.subscribe(&[topic]).map_err(|source| SourceError::Subscribe { topic: topic.to_owned(), source })?;
    Ok(consumer)
}
