//! The run's timeline, sampled once a second: rows per consumer, lag per partition, members and owners. The
//! experiment and the autoscaler demo draw it; the one sampler every tool starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::group::GroupView;
use crate::world::World;

/// One second of the timeline.
#[derive(Debug, Serialize)]
pub struct Sample {
    pub t_s: f64,
    /// Rows stored so far, per consumer.
    pub rows: BTreeMap<String, i64>,
    /// Log-end minus committed, summed over partitions (-1 when the broker did not answer).
    pub lag: i64,
    /// The same per partition (empty when the broker did not answer).
    pub lag_by_partition: Vec<i64>,
    pub members: usize,
    pub owners: usize,
}

/// Samples `world` every second, with times from `t0`, until the returned sender says stop; the task returns the
/// samples.
pub fn start(world: Arc<World>, t0: DateTime<Utc>) -> (watch::Sender<bool>, tokio::task::JoinHandle<Vec<Sample>>) {
    let (stop, mut stopped) = watch::channel(false);
    let handle = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stopped.changed() => break,
                _ = tick.tick() => {}
            }
            let Ok(now) = world.now().await else { continue };
            let rows = world.rows_by_consumer(None, None).await.unwrap_or_default();
            let partitions = world.partition_count().unwrap_or(1);
            let lag_by_partition: Vec<i64> =
                match (world.log_end(&world.topic, partitions), world.committed(partitions)) {
                    (Ok(end), Ok(committed)) => end.iter().zip(&committed).map(|(e, c)| e - (*c).max(0)).collect(),
                    _ => Vec::new(),
                };
            let lag = if lag_by_partition.is_empty() { -1 } else { lag_by_partition.iter().sum() };
            let view = world.group().ok();
            out.push(Sample {
                t_s: (now - t0).num_milliseconds() as f64 / 1000.0,
                rows,
                lag,
                lag_by_partition,
                members: view.as_ref().map_or(0, |v| v.members.len()),
                owners: view.as_ref().map_or(0, GroupView::owners),
            });
        }
        out
    });
    (stop, handle)
}
