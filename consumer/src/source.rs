//! The Kafka side: the group member, and the rebalance callbacks that make rebalances visible and safe.
//!
//! This is the first stage, and it knows nothing of the later ones. What they must do when the group moves
//! partitions (above all, finish what was consumed from partitions before they leave) they declare by handing
//! [`subscribe`] a [`GroupHook`], which the callbacks run.
//!
//! # Start offsets
//! [`GroupContext`] applies each assignment itself rather than leaving it to rust-rdkafka's default
//! `ConsumerContext::rebalance`: that default hands `pre_rebalance` the assignment read-only and then calls
//! `rd_kafka_incremental_assign` (cooperative-sticky, and KIP-848's `GROUP_PROTOCOL=consumer`, which librdkafka
//! reports as cooperative too) or `rd_kafka_assign` (eager strategies). Here the partitions' start offsets from
//! [`GroupHook::start_offsets`] are first written into the assignment list, so librdkafka's first fetch of each
//! partition starts there; a partition left at `Offset::Invalid` starts at the group's committed offset, as by
//! default. Setting them in the list is race-free, where a seek after the assignment would race with the fetch
//! librdkafka has already started from the committed offset.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{Span, debug, warn};

use crate::events::{LagReported, Metrics, PartitionsAssigned, PartitionsRevoked, RebalanceError};

/// The consumer this pipeline uses.
pub type OrderConsumer = StreamConsumer<GroupContext>;

/// What the rest of the consumer does at the moments librdkafka's callbacks mark. They run inside `recv()`, on the
/// pipeline's task, between two batches, so they never overlap the pipeline's own work.
pub trait GroupHook: Send + Sync {
    /// Where `partitions`, about to be assigned to this member, start reading; those left out start at the group's
    /// committed offset (or `auto.offset.reset`). Runs before the assignment is applied.
    fn start_offsets(&self, partitions: &[i32]) -> BTreeMap<i32, i64>;

    /// `partitions` now belong to this member.
    fn assigned(&self, partitions: &[i32]);

    /// `partitions` are about to leave this member, which still owns them. The revocation completes, and their next
    /// owner starts reading, only when this returns: whatever must be stored and committed for them (through
    /// `consumer`) is done here.
    fn revoking(&self, consumer: &BaseConsumer<GroupContext>, partitions: &[i32]);

    /// `partitions` were taken away without a revocation (this member was expelled): another member may own them
    /// already, so nothing may be committed for them.
    fn lost(&self, partitions: &[i32]);

    /// The broker's answer to a commit.
    fn commit_answered(&self, result: KafkaResult<()>, offsets: &TopicPartitionList);
}

/// Callbacks librdkafka runs inside `recv()`: each logs what happened, counts it and runs the hook.
pub struct GroupContext {
    topic: String,
    group: String,
    hook: Arc<dyn GroupHook>,
    metrics: Arc<Metrics>,
    /// The pipeline's span (it carries the client id), so callback lines carry it too.
    span: Span,
}

impl GroupContext {
    pub fn new(topic: &str, group: &str, hook: Arc<dyn GroupHook>, metrics: Arc<Metrics>, span: Span) -> Self {
        Self { topic: topic.to_owned(), group: group.to_owned(), hook, metrics, span }
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

    /// librdkafka's statistics (every `statistics.interval.ms`): the lag of each partition this member owns.
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else { return };
        let known = topic.partitions.values().filter(|p| p.partition >= 0);
        let partitions = known.clone().count();
        let lags = known.filter(|p| p.desired).map(|p| (p.partition, p.consumer_lag)).collect();
        self.metrics.emit(LagReported { group: &self.group, topic: &self.topic, partitions, lags });
    }
}

impl GroupContext {
    /// Writes the hook's start offsets into the assignment list `tpl`, before librdkafka applies it.
    fn set_start_offsets(&self, tpl: &mut TopicPartitionList) {
        let assigned = partitions(tpl, &self.topic);
        if assigned.is_empty() {
            return;
        }
        for (partition, offset) in self.hook.start_offsets(&assigned) {
            if let Err(error) = tpl.set_partition_offset(&self.topic, partition, Offset::Offset(offset)) {
                warn!(event = "start_offset_not_set", partition, offset, %error,
                      "partition starts at the group's committed offset instead");
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    /// rust-rdkafka's default rebalance, with the start offsets set in the assignment first (see the module's
    /// header): `pre_rebalance`, then the assignment applied as the protocol requires, then `post_rebalance`.
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let assigning = err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
        if assigning {
            let _span = self.span.enter();
            self.set_start_offsets(tpl);
        }
        let rebalance = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assign(tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => Rebalance::Revoke(tpl),
            other => Rebalance::Error(KafkaError::Rebalance(RDKafkaErrorCode::from(other))),
        };
        self.pre_rebalance(consumer, &rebalance);
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let applied = match (assigning, cooperative) {
            (true, true) => consumer.incremental_assign(tpl),
            (true, false) => consumer.assign(tpl),
            (false, true) => consumer.incremental_unassign(tpl),
            (false, false) => consumer.unassign(),
        };
        if let Err(error) = applied {
            let _span = self.span.enter();
            warn!(event = "rebalance_not_applied", %error, assigning, "librdkafka refused the assignment change");
        }
        self.post_rebalance(consumer, &rebalance);
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let _span = self.span.enter();
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let revoked = partitions(tpl, &self.topic);
                let lost = consumer.assignment_lost();
                if lost {
                    self.hook.lost(&revoked);
                } else {
                    self.hook.revoking(consumer, &revoked);
                }
                let (topic, group) = (self.topic.as_str(), self.group.as_str());
                self.metrics.emit(PartitionsRevoked { topic, partitions: &revoked, lost, group });
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => self.metrics.emit(RebalanceError { error }),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let _span = self.span.enter();
        if let Rebalance::Assign(tpl) = rebalance {
            let added = partitions(tpl, &self.topic);
            self.hook.assigned(&added);
            let now = consumer.assignment().map(|a| partitions(&a, &self.topic)).unwrap_or_default();
            self.metrics.emit(PartitionsAssigned { topic: &self.topic, added: &added, now: &now });
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        let _span = self.span.enter();
        self.hook.commit_answered(result, offsets);
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

/// Creates the consumer with `hook` in its callbacks, checks that the topic exists, and subscribes.
///
/// # Errors
/// Bad configuration, an unreachable broker or a missing topic.
pub async fn subscribe(
    config: rdkafka::ClientConfig,
    topic: &str,
    servers: &str,
    timeout: Duration,
    hook: Arc<dyn GroupHook>,
    metrics: Arc<Metrics>,
) -> Result<Arc<OrderConsumer>, SourceError> {
    let group = config.get("group.id").unwrap_or_default().to_owned();
    let context = GroupContext::new(topic, &group, hook, metrics, Span::current());
    let consumer = Arc::new(config.create_with_context::<_, OrderConsumer>(context).map_err(SourceError::Client)?);
    let probe = Arc::clone(&consumer);
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

/// Leaves the group and closes the consumer, once the pipeline has written and committed what it holds. Closing
/// runs the revocation callback for the partitions still owned, then sends LeaveGroup and waits for the broker's
/// answer, so the others get the partitions at once. It blocks: call it off the async threads.
///
/// One case needs a step first. librdkafka (2.12.1) closes a classic-protocol cooperative member that owns no partition
/// without any LeaveGroup: with nothing to revoke, its termination skips the step that would send it
/// (`rd_kafka_cgrp_revoke_all_rejoin`, "consumer is terminating, skipping rejoin"), and the coordinator keeps the
/// member until its session times out. When others leave at the same moment (scaling 4 → 1, where the fourth
/// member is idle), the rebalance their leaving starts waits for that dead member, and their partitions stay
/// unowned for the whole session timeout. Unsubscribing first takes the path that does leave (no subscription
/// left, so librdkafka leaves instead of rejoining); the close then waits for the LeaveGroup's answer as usual.
/// (With `GROUP_PROTOCOL=consumer` librdkafka leaves on close anyway; the unsubscribe first leaves the same way.)
/// A static member is left alone: it must not leave on shutdown (KIP-345), so that a restart keeps its partitions.
pub fn close(consumer: Arc<OrderConsumer>, static_member: bool) {
    let owns_nothing = consumer.assignment().is_ok_and(|assignment| assignment.count() == 0);
    if owns_nothing && !static_member && matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative) {
        consumer.unsubscribe();
        debug!(
            event = "unsubscribed_before_close",
            "no partitions owned: unsubscribed so that closing leaves the group"
        );
    }
    drop(consumer);
}
