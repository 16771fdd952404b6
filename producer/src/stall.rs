//! Noticing that acknowledgements stopped, and saying why.
//!
//! When brokers are down, a partition has no leader, or a partition has fewer in-sync replicas than its topic's
//! `min.insync.replicas` (the broker answers `NOT_ENOUGH_REPLICAS`), librdkafka keeps every record and retries it
//! by itself: the producer is idempotent, so a retry cannot duplicate an order, and nothing is lost unless a record
//! waits longer than `message.timeout.ms`. From outside, the producer would only look stuck. [`watch`] checks every
//! half second; when records are in flight and none was acknowledged for [`STALL_AFTER`], it logs
//! `producer_waiting` once with what it can find out (the brokers librdkafka cannot reach, and the topic's
//! partitions without a leader or with too few in-sync replicas, from the brokers' metadata); when acknowledgements
//! resume it logs `producer_resumed` with how long they had stopped. The summary counts the stalls and the longest.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{Producer, ThreadedProducer};

use crate::delivery::DeliveryCounter;
use crate::events::{ProducerResumed, ProducerWaiting};

/// How long records may wait with no acknowledgement at all before the producer says it is waiting.
pub const STALL_AFTER: Duration = Duration::from_secs(2);
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// What the brokers' metadata says about the topic's partitions.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diagnosis {
    pub unreachable: Vec<String>,
    pub without_leader: Vec<i32>,
    /// (partition, in-sync replicas), for partitions with fewer than `min_insync`.
    pub too_few_in_sync: Vec<(i32, usize)>,
    pub min_insync: Option<usize>,
    /// Why the metadata could not be read, when it could not.
    pub metadata_error: Option<String>,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.unreachable.is_empty() {
            parts.push(format!("cannot reach broker(s) {}", self.unreachable.join(", ")));
        }
        if !self.without_leader.is_empty() {
            parts.push(format!("partition(s) {:?} have no leader", self.without_leader));
        }
        if let Some(min) = self.min_insync {
            for (p, isr) in &self.too_few_in_sync {
                parts.push(format!(
                    "partition {p} has {isr} in-sync replica(s), fewer than the topic's min.insync.replicas={min}: the broker answers NotEnoughReplicas"
                ));
            }
        }
        if let Some(e) = &self.metadata_error {
            parts.push(format!("no broker answered a metadata request ({e})"));
        }
        if parts.is_empty() {
            parts.push("every partition has a leader and enough in-sync replicas in the metadata".to_owned());
        }
        f.write_str(&parts.join("; "))
    }
}

/// The running watch: [`Watch::finish`] ends it.
pub struct Watch {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// Ends the watch after a last look, so a stall that ended during the final flush is counted as ended.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Watches acknowledgements until [`Watch::finish`] (see the module's header).
pub fn watch(producer: Arc<ThreadedProducer<DeliveryCounter>>, config: ClientConfig, topic: String) -> Watch {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let metrics = Arc::clone(&producer.context().metrics);
        let mut last = (metrics.acked.get() + metrics.failed.get(), Instant::now());
        let mut waiting_since: Option<Instant> = None;
        let mut ticker = tokio::time::interval(CHECK_EVERY);
        loop {
            let finishing = tokio::select! {
                _ = ticker.tick() => false,
                _ = &mut stopped => true,
            };
            let answered = metrics.acked.get() + metrics.failed.get();
            if answered != last.0 {
                if let Some(since) = waiting_since.take() {
                    metrics.emit(ProducerResumed { stalled: since.elapsed() });
                }
                last = (answered, Instant::now());
            }
            if finishing {
                return;
            }
            let in_flight = producer.in_flight_count();
            if in_flight <= 0 {
                last.1 = Instant::now();
                continue;
            }
            if waiting_since.is_none() && last.1.elapsed() >= STALL_AFTER {
                waiting_since = Some(last.1);
                let diagnosis = diagnose(&producer, &config, &topic).await;
                metrics.emit(ProducerWaiting { in_flight, waited: last.1.elapsed(), diagnosis: &diagnosis });
            }
        }
    });
    Watch { stop, task }
}

/// Reads the topic's metadata and its `min.insync.replicas` (both bounded in time).
async fn diagnose(producer: &Arc<ThreadedProducer<DeliveryCounter>>, config: &ClientConfig, topic: &str) -> Diagnosis {
    let mut d = Diagnosis { unreachable: producer.context().unreachable.recent(), ..Diagnosis::default() };
    d.min_insync = min_insync(config, topic).await;
    let (p, t) = (Arc::clone(producer), topic.to_owned());
    let partitions = tokio::task::spawn_blocking(move || {
        let metadata = p.client().fetch_metadata(Some(&t), Duration::from_secs(5)).map_err(|e| e.to_string())?;
        let topic = metadata.topics().iter().find(|x| x.name() == t).ok_or_else(|| format!("topic {t} not listed"))?;
        Ok::<_, String>(topic.partitions().iter().map(|p| (p.id(), p.leader(), p.isr().len())).collect::<Vec<_>>())
    })
    .await;
    match partitions {
        Ok(Ok(partitions)) => {
            for (id, leader, isr) in partitions {
                if leader < 0 {
                    d.without_leader.push(id);
                } else if d.min_insync.is_some_and(|min| isr < min) {
                    d.too_few_in_sync.push((id, isr));
                }
            }
        }
        Ok(Err(e)) => d.metadata_error = Some(e),
        Err(e) => d.metadata_error = Some(e.to_string()),
    }
    d
}

/// The topic's `min.insync.replicas`, as the brokers describe it; `None` when they cannot be asked.
async fn min_insync(config: &ClientConfig, topic: &str) -> Option<usize> {
    let admin: AdminClient<DefaultClientContext> = config.create().ok()?;
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    let resource = ResourceSpecifier::Topic(topic);
    let asked = admin.describe_configs([&resource], &opts);
    let described = tokio::time::timeout(Duration::from_secs(6), asked).await.ok()?.ok()?;
    let resource = described.into_iter().next()?.ok()?;
    resource.get("min.insync.replicas")?.value.as_deref()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagnosis_names_unreachable_brokers_leaderless_partitions_and_not_enough_replicas() {
        let d = Diagnosis {
            unreachable: vec!["127.0.0.1:9094/2".into()],
            without_leader: vec![1],
            too_few_in_sync: vec![(0, 1)],
            min_insync: Some(2),
            metadata_error: None,
        };
        let text = d.to_string();
        assert!(text.contains("cannot reach broker(s) 127.0.0.1:9094/2"), "{text}");
        assert!(text.contains("partition(s) [1] have no leader"), "{text}");
        assert!(
            text.contains("partition 0 has 1 in-sync replica(s), fewer than the topic's min.insync.replicas=2"),
            "{text}"
        );
        assert!(text.contains("NotEnoughReplicas"), "{text}");
    }
}
