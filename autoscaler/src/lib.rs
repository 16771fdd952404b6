//! `order-autoscaler`: scales the `order-consumer` group by its lag, on the local or the compose stack, with the
//! rule KEDA and the HPA apply on Kubernetes (docs/kubernetes.md), so the same settings behave the same on one
//! machine and on many.
//!
//! # Layout
//! - [`config`]: every option, named after the ScaledObject field it mirrors.
//! - [`lag`]: each partition's log-end offset and the group's committed offset, read from Kafka.
//! - [`keda`]: KEDA's Apache Kafka scaler: the lag and the metric, with its cap at the partition count.
//! - [`hpa`]: activation and scale to zero (KEDA), then the HPA's count, tolerance and stabilization.
//! - [`backend`]: counting and changing the consumers through `scripts/scale.sh`.
//! - [`events`]: each decision logged with its inputs and exported as metrics.
//!
//! Each poll reads the running consumers and the offsets, decides, and scales when the count changes. When
//! anything cannot be read or done (a broker that does not answer, a topic that does not exist, a script that
//! fails) the poll holds the current count and says why: an error never scales to zero.

#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod backend;
pub mod config;
pub mod events;
pub mod hpa;
pub mod keda;
pub mod lag;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use shared::metrics::{MetricsError, MetricsServer};
use tracing::info;

pub use config::AutoscalerSettings;

use crate::backend::Backend;
use crate::config::SettingsError;
use crate::events::{Decided, Held, Metrics, NoCommittedOffsets};
use crate::hpa::Hpa;
use crate::keda::KafkaScaler;
use crate::lag::{LagError, OffsetReader};

/// Why the autoscaler could not start.
#[derive(Debug, thiserror::Error)]
pub enum AutoscalerError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Lag(#[from] LagError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// Polls and scales until `shutdown` resolves; the consumers are left as they are.
///
/// # Errors
/// Settings that contradict each other, a Kafka configuration librdkafka refuses, a metrics port that is taken.
pub async fn run(settings: AutoscalerSettings, shutdown: impl Future<Output = ()>) -> Result<(), AutoscalerError> {
    settings.check()?;
    let metrics = Arc::new(Metrics::default());
    let _server = MetricsServer::start(&settings.metrics, metrics.registry(), Arc::clone(&metrics) as _).await?;
    let reader = Arc::new(OffsetReader::new(&settings)?);
    let backend = Backend::new(settings.scripts_dir.clone(), settings.stack);
    let mut scaler = KafkaScaler::new(settings.lag_rules());
    let mut hpa = Hpa::new(settings.replica_rules());
    info!(event = "autoscaler_started", stack = backend.stack().as_str(), topic = %settings.topic,
          group = %settings.consumer_group, lag_threshold = settings.lag_threshold,
          min = settings.min_replica_count, max = settings.max_replica_count,
          polling_interval = ?settings.polling_interval, scale_down_stabilization = ?settings.scale_down_stabilization,
          "scaling the group by its lag");
    let mut shutdown = std::pin::pin!(shutdown);
    let mut ticks = tokio::time::interval(settings.polling_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticks.tick() => poll(&reader, &backend, &mut scaler, &mut hpa, &metrics).await,
        }
    }
    info!(event = "autoscaler_stopped", "stopped; the consumers keep running as they are");
    Ok(())
}

/// One poll: count, read, decide, scale.
async fn poll(reader: &Arc<OffsetReader>, backend: &Backend, scaler: &mut KafkaScaler, hpa: &mut Hpa, m: &Metrics) {
    let current = match backend.count().await {
        Ok(current) => current,
        Err(why) => return Held { current: None, why: &why }.emit(m),
    };
    let reading = Arc::clone(reader);
    let offsets = match tokio::task::spawn_blocking(move || reading.read()).await {
        Ok(Ok(offsets)) => offsets,
        Ok(Err(why)) => return Held { current: Some(current), why: &why }.emit(m),
        Err(why) => return Held { current: Some(current), why: &why }.emit(m),
    };
    if offsets.iter().all(|p| p.committed.is_none()) {
        NoCommittedOffsets { group: reader.group(), topic: reader.topic() }.emit();
    }
    let lag = scaler.lag(&offsets);
    let decision = hpa.decide(Instant::now(), current, &lag);
    Decided { lag: &lag, current, decision }.emit(m);
    if decision.desired != current {
        if let Err(why) = backend.set(decision.desired).await {
            Held { current: Some(current), why: &why }.emit(m);
        }
    }
}
