//! The send loop.
//!
//! Sends are pipelined: a record is handed to librdkafka and the loop moves on; librdkafka batches, compresses and
//! retries (idempotently) in the background and reports every delivery to [`DeliveryCounter`]. The loop only waits
//! when librdkafka's queue is full or when it is ahead of the requested rate. On shutdown it flushes, so the
//! summary's `acked` count is exact: every record either was acknowledged by all in-sync replicas or is counted as
//! failed.
//!
//! The first record is sent alone, and the rate's clock starts when it is acknowledged. librdkafka's idempotent
//! producer asks for its producer id when a metadata response arrives and a broker is up; when the first metadata
//! response comes before the connection to the partition leaders is up, it waits for its retry timer (500 ms,
//! sometimes twice), and every record sent meanwhile waits with it. Paced from the start, those records would carry
//! that wait as latency: the outliers of docs/performance.md, "Latency outliers".

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use shared::client_id::client_id;
use shared::metrics::{MetricsError, MetricsServer};
use tracing::{info, warn};

use crate::config::ProducerSettings;
use crate::delivery::DeliveryCounter;
use crate::events::{Metrics, SendFailed, Sent};
use crate::generator::{EventKind, OrderGenerator};
use crate::stall;
use crate::summary::{Summary, SummaryFileError};

/// Why the producer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    /// A pass-through property tried to override one the producer relies on.
    #[error(transparent)]
    Config(#[from] shared::kafka::ProtectedProperty),
    /// librdkafka refused the configuration (for example an unknown property).
    #[error("invalid Kafka configuration: {0}")]
    Client(#[source] KafkaError),
    /// The broker is unreachable or the topic is missing.
    #[error(transparent)]
    Topic(#[from] shared::kafka::TopicError),
    /// Records were still unacknowledged when the final flush gave up.
    #[error("{0} records were not acknowledged before the flush timeout")]
    FlushTimeout(u64),
    /// `--summary-file` could not be written.
    #[error(transparent)]
    SummaryFile(#[from] SummaryFileError),
    /// The metrics server could not start (`METRICS_ADDR`).
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// Runs the producer until `--count` orders were sent, `--duration` passed, or `shutdown` resolves; then flushes.
///
/// # Errors
/// Bad configuration, an unreachable broker, a missing topic, or records left unacknowledged by the final flush.
pub async fn run(settings: &ProducerSettings, shutdown: impl Future<Output = ()>) -> Result<Summary, ProducerError> {
    let client_id = client_id(&settings.client_id_base);
    let metrics = Arc::new(Metrics::default());
    metrics.rate_target.set(settings.rate);
    let config = settings.client_config(&client_id)?;
    // Listening first, so a taken port fails start-up before anything is connected; served until `run` returns.
    let _server = MetricsServer::start(&settings.metrics, metrics.registry(), Arc::clone(&metrics) as _).await?;
    let counter = DeliveryCounter::new(Arc::clone(&metrics));
    let producer: Arc<ThreadedProducer<DeliveryCounter>> =
        Arc::new(config.create_with_context(counter).map_err(ProducerError::Client)?);
    check_topic(&producer, settings).await?;
    // Says so when acknowledgements stop (brokers down, NotEnoughReplicas); runs until the final flush is over.
    let watcher = stall::watch(Arc::clone(&producer), config.clone(), settings.topic.clone());
    info!(event = "producer_started", client_id = %client_id, topic = %settings.topic, rate = settings.rate,
          count = ?settings.count, customers = settings.customers, "producer started");

    let mut generator = OrderGenerator::new(settings.customers, settings.seed, settings.status_updates);
    // One buffer for every payload: librdkafka copies the bytes on send, so the buffer is free again at once.
    let mut payload = Vec::new();
    let mut clock = Clock::starting_now(settings);
    let interval = (settings.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / settings.rate));
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let mut sent: u64 = 0;
    let mut last_progress = (clock.started, 0u64);

    'send: while settings.count.is_none_or(|count| sent < count) {
        let now = Instant::now();
        if clock.deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now >= clock.next_progress {
            progress(&producer, sent, &mut last_progress);
            clock.next_progress += settings.progress_interval;
        }
        if let Some(interval) = interval {
            let due = clock.started + interval.mul_f64(sent as f64);
            if due > now {
                tokio::select! {
                    _ = &mut shutdown => break 'send,
                    _ = tokio::time::sleep_until(due.into()) => {}
                }
            }
        } else if sent % 1024 == 0 && (&mut shutdown).now_or_never().is_some() {
            break;
        }

        let (kind, event) = generator.next_event_ref();
        event.write_json(&mut payload);
        let mut record = BaseRecord::with_opaque_to(&settings.topic, usize::from(kind == EventKind::NewOrder))
            .key(event.customer_id.as_bytes())
            .payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => {
                    metrics.emit(Sent);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    tokio::select! {
                        _ = &mut shutdown => break 'send,
                        _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                    }
                }
                Err((error, _)) => {
                    metrics.emit(SendFailed { error: &error, order_id: &event.order_id });
                    break;
                }
            }
        }
        sent += 1;
        if sent == 1 {
            tokio::select! {
                _ = &mut shutdown => break 'send,
                ready = producer.context().first_delivery(settings.connect_timeout) => if !ready {
                    warn!(event = "producer_not_ready", timeout_ms = settings.connect_timeout.as_millis() as u64,
                          "first order not acknowledged yet; sending the rest anyway");
                }
            }
            clock = Clock::starting_now(settings);
            last_progress.0 = clock.started;
        }
    }

    info!(event = "producer_flushing", in_flight = producer.in_flight_count(), "flushing");
    let flusher = Arc::clone(&producer);
    let flushed = tokio::task::spawn_blocking(move || flusher.flush(Duration::from_secs(60))).await;
    watcher.finish().await;
    let summary = Summary {
        sent,
        acked: metrics.acked.get(),
        acked_new_orders: metrics.acked_new_orders.get(),
        failed: metrics.failed.get(),
        elapsed_ms: clock.started.elapsed().as_millis() as u64,
        stalls: metrics.stalls.get(),
        longest_stall_ms: metrics.longest_stall_ms.load(std::sync::atomic::Ordering::Relaxed),
    };
    summary.log();
    let incomplete = match flushed {
        Ok(Ok(())) => None,
        _ => {
            let left = producer.in_flight_count().max(0) as u64;
            warn!(event = "flush_incomplete", left, "records left unacknowledged");
            Some(left)
        }
    };
    if let Some(path) = &settings.summary_file {
        summary.write_file(path, incomplete.unwrap_or(0))?;
    }
    match incomplete {
        None => Ok(summary),
        Some(left) => Err(ProducerError::FlushTimeout(left)),
    }
}

/// The send loop's clock: started at launch, and again once the first order is acknowledged (see the module's
/// header), so that the rate, `--duration` and the progress lines count from there.
struct Clock {
    started: Instant,
    deadline: Option<Instant>,
    next_progress: Instant,
}

impl Clock {
    fn starting_now(settings: &ProducerSettings) -> Self {
        let started = Instant::now();
        Self {
            started,
            deadline: settings.duration.map(|d| started + d),
            next_progress: started + settings.progress_interval,
        }
    }
}

fn progress(producer: &ThreadedProducer<DeliveryCounter>, sent: u64, last: &mut (Instant, u64)) {
    let metrics = &producer.context().metrics;
    let acked = metrics.acked.get();
    let secs = last.0.elapsed().as_secs_f64().max(0.001);
    let rate = ((acked - last.1) as f64 / secs).round();
    *last = (Instant::now(), acked);
    info!(
        event = "producer_progress",
        rate,
        sent,
        acked,
        failed = metrics.failed.get(),
        in_flight = producer.in_flight_count(),
        "progress"
    );
}

/// Fails fast, with a clear reason, when the broker is unreachable or the topic is missing.
async fn check_topic(
    producer: &Arc<ThreadedProducer<DeliveryCounter>>,
    settings: &ProducerSettings,
) -> Result<(), ProducerError> {
    let p = Arc::clone(producer);
    let (topic, servers, timeout) =
        (settings.topic.clone(), settings.kafka.bootstrap_servers.clone(), settings.connect_timeout);
    let checked =
        tokio::task::spawn_blocking(move || shared::kafka::check_topic(p.client(), &topic, &servers, timeout));
    match checked.await {
        Ok(result) => Ok(result?),
        Err(_) => Err(shared::kafka::TopicError::Unreachable {
            servers: settings.kafka.bootstrap_servers.clone(),
            timeout: settings.connect_timeout,
        }
        .into()),
    }
}
