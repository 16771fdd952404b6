//! The autoscaler's events (as in the consumer's `events`): each logs its inputs once and updates the metrics
//! `/metrics` serves, so every decision can be read back in the log and graphed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use shared::metrics::Readiness;
use tracing::{info, warn};

use crate::hpa::Decision;
use crate::keda::Lag;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: &'static str,
}

pub struct Metrics {
    registry: Arc<Registry>,
    pub desired: Gauge,
    pub current: Gauge,
    pub total_lag: Gauge,
    pub lag_with_persistent: Gauge,
    pub decisions: Family<ActionLabel, Counter>,
    pub holds: Counter,
    /// Set by the first poll that read the lag: `/readyz` says ready.
    polled: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Self {
            registry: Arc::default(),
            desired: Gauge::default(),
            current: Gauge::default(),
            total_lag: Gauge::default(),
            lag_with_persistent: Gauge::default(),
            decisions: Family::default(),
            holds: Counter::default(),
            polled: AtomicBool::new(false),
        };
        let mut r = Registry::default();
        r.register("order_autoscaler_desired_replicas", "Replicas the last decision asked for", m.desired.clone());
        r.register("order_autoscaler_current_replicas", "Consumers running at the last poll", m.current.clone());
        r.register(
            "order_autoscaler_total_lag",
            "The metric: the group's lag as KEDA counts it (capped)",
            m.total_lag.clone(),
        );
        r.register(
            "order_autoscaler_lag_with_persistent",
            "The group's lag with persistent lag, uncapped: what activation compares",
            m.lag_with_persistent.clone(),
        );
        r.register("order_autoscaler_decisions", "Polls, by what they did: up, down or none", m.decisions.clone());
        r.register(
            "order_autoscaler_holds",
            "Polls that held the count because something could not be read or done",
            m.holds.clone(),
        );
        for action in ["up", "down", "none"] {
            m.decisions.get_or_create(&ActionLabel { action }).inc_by(0);
        }
        Self { registry: Arc::new(r), ..m }
    }
}

impl Metrics {
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }
}

impl Readiness for Metrics {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        let ready = self.polled.load(Ordering::Relaxed);
        Box::pin(std::future::ready(if ready { Ok(()) } else { Err("no lag read yet".to_owned()) }))
    }
}

/// One poll's decision, with every input it was made from.
pub struct Decided<'a> {
    pub lag: &'a Lag,
    pub current: u32,
    pub decision: Decision,
}

impl Decided<'_> {
    pub fn emit(&self, m: &Metrics) {
        let (lag, d) = (self.lag, self.decision);
        m.polled.store(true, Ordering::Relaxed);
        m.total_lag.set(lag.metric as i64);
        m.lag_with_persistent.set(lag.with_persistent as i64);
        m.current.set(i64::from(self.current));
        m.desired.set(i64::from(d.desired));
        let action = match d.desired.cmp(&self.current) {
            std::cmp::Ordering::Greater => "up",
            std::cmp::Ordering::Less => "down",
            std::cmp::Ordering::Equal => "none",
        };
        m.decisions.get_or_create(&ActionLabel { action }).inc();
        info!(event = "autoscaler_decision", action, current = self.current, desired = d.desired,
              recommended = d.recommended, reason = d.reason.as_str(), active = d.active, metric = lag.metric,
              lag_with_persistent = lag.with_persistent, partitions = lag.partitions,
              partitions_with_lag = lag.partitions_with_lag, per_partition = ?lag.per_partition, "decision");
    }
}

/// The group has no committed offset on any partition: a new group, or a name that no consumer uses. Not an error
/// (KEDA counts each partition as `offsetResetPolicy` says), but worth a line, since a misspelt group looks the same.
pub struct NoCommittedOffsets<'a> {
    pub group: &'a str,
    pub topic: &'a str,
}

impl NoCommittedOffsets<'_> {
    pub fn emit(&self) {
        warn!(
            event = "autoscaler_group_without_offsets",
            group = self.group,
            topic = self.topic,
            "the group has committed no offset on this topic (new, or not the consumers' group?): each partition \
               counts as offsetResetPolicy says"
        );
    }
}

/// A poll that changed nothing because something could not be read or done: the count stays as it is, never
/// going to 0 on an error.
pub struct Held<'a> {
    pub current: Option<u32>,
    pub why: &'a dyn std::fmt::Display,
}

impl Held<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.holds.inc();
        warn!(event = "autoscaler_held", current = ?self.current, why = %self.why,
              "holding the current replica count; nothing is scaled on an error");
    }
}
