//! The autoscaler on the page: `order-autoscaler`'s own rule, not a second one. Its settings are parsed by its own
//! [`AutoscalerSettings`] (so its defaults and checks are the binary's), its lag is [`KafkaScaler::lag`] (KEDA's
//! Kafka scaler) and its count [`Hpa::decide`] (the HPA), fed the committed and log-end offsets the page already
//! reads each second. A change of count runs through [`Fleet::scale`](harness::consumers::fleet::Fleet::scale), the
//! path the +1 / −1 controls take, as the one control running; while another control runs the autoscaler holds, as
//! `order-autoscaler` holds when its backend cannot act. Each change is a line on the page and a mark on the
//! timeline: from how many consumers to how many, the lag and the threshold that made it.
//!
//! As in `lab autoscale-demo`: `minReplicaCount` 1, `offsetResetPolicy: earliest` (the consumers start from the
//! earliest offset), `maxReplicaCount` the lab's `--max-consumers`; KEDA's cap keeps the count within the partitions.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use order_autoscaler::AutoscalerSettings;
use order_autoscaler::hpa::{Decision, Hpa};
use order_autoscaler::keda::{KafkaScaler, Lag, PartitionOffsets};
use serde::Serialize;

use super::controls::Refused;
use super::observe::{State, now_ms};
use super::{Lab, ServeSettings};

/// The highest lag threshold a control may set, records per consumer.
pub const MAX_THRESHOLD: u64 = 1_000_000;

/// What the page shows of the autoscaler.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AutoscalerState {
    pub on: bool,
    /// Its target lag per consumer (`lagThreshold`) while on.
    pub lag_threshold: Option<u64>,
    /// Seconds between two decisions (`pollingInterval`) and the scale-down window.
    pub polling_interval_s: f64,
    pub scale_down_window_s: f64,
    /// Its last decision while on.
    pub last: Option<Decided>,
}

/// One decision, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub at_ms: i64,
    pub current: u32,
    pub desired: u32,
    /// The group's lag, every partition counted; and the metric KEDA hands the HPA (capped at partitions ×
    /// threshold).
    pub lag: u64,
    pub metric: u64,
    /// The HPA's reason (`scaled`, `within_tolerance`, `stabilized`, `limited`, `activated`, `idle`).
    pub reason: &'static str,
    /// Why nothing was decided this time (the broker gave no offsets, another control runs), if so.
    pub held: Option<String>,
}

/// The autoscaler's rule and its memory (the HPA's recent recommendations) while it is on.
struct On {
    threshold: u64,
    settings: AutoscalerSettings,
    scaler: KafkaScaler,
    hpa: Hpa,
    next: Instant,
    last: Option<Decided>,
}

/// The autoscaler of one lab: off until a control turns it on.
#[derive(Default)]
pub struct Autoscaler {
    on: Mutex<Option<On>>,
}

impl Autoscaler {
    /// Turns it on with `threshold` (a new HPA: no recommendations remembered), or changes the threshold.
    ///
    /// # Errors
    /// A threshold out of bounds (400), or settings `order-autoscaler` itself refuses.
    pub fn turn_on(&self, settings: &ServeSettings, threshold: u64) -> Result<String, Refused> {
        if !(1..=MAX_THRESHOLD).contains(&threshold) {
            return Err(Refused::bad(threshold_bounds(&threshold.to_string())));
        }
        let parsed = AutoscalerSettings::try_parse_from(rules_args(settings, threshold))
            .map_err(|e| Refused::bad(format!("order-autoscaler refuses these settings: {e}")))?;
        parsed.check().map_err(|e| Refused::bad(format!("order-autoscaler refuses these settings: {e}")))?;
        let on = On {
            threshold,
            scaler: KafkaScaler::new(parsed.lag_rules()),
            hpa: Hpa::new(parsed.replica_rules()),
            settings: parsed,
            next: Instant::now(),
            last: None,
        };
        let what = format!(
            "autoscaler on: lag threshold {threshold} per consumer, a decision every {}, scale-down window {}",
            humantime::format_duration(on.settings.polling_interval),
            humantime::format_duration(on.settings.scale_down_stabilization)
        );
        let mut guard = self.on.lock().map_err(|_| unavailable())?;
        *guard = Some(on);
        Ok(what)
    }

    /// Turns it off; the consumers stay as they are.
    ///
    /// # Errors
    /// When it is not on (400).
    pub fn turn_off(&self) -> Result<String, Refused> {
        let mut guard = self.on.lock().map_err(|_| unavailable())?;
        match guard.take() {
            Some(_) => Ok("autoscaler off: the consumers stay as they are".to_owned()),
            None => Err(Refused::bad("the autoscaler is not on")),
        }
    }

    pub fn state(&self) -> AutoscalerState {
        let Ok(guard) = self.on.lock() else { return AutoscalerState::default() };
        match guard.as_ref() {
            Some(on) => AutoscalerState {
                on: true,
                lag_threshold: Some(on.threshold),
                polling_interval_s: on.settings.polling_interval.as_secs_f64(),
                scale_down_window_s: on.settings.scale_down_stabilization.as_secs_f64(),
                last: on.last.clone(),
            },
            None => AutoscalerState::default(),
        }
    }

    /// Whether a decision is due now (on, and its polling interval passed); moves the next one on when it is.
    fn due(&self) -> bool {
        let Ok(mut guard) = self.on.lock() else { return false };
        match guard.as_mut() {
            Some(on) if Instant::now() >= on.next => {
                on.next = Instant::now() + on.settings.polling_interval;
                true
            }
            _ => false,
        }
    }

    /// Decides with `current` consumers and these offsets; `None` when it was turned off meanwhile.
    fn decide(&self, current: u32, offsets: &[PartitionOffsets]) -> Option<(Lag, Decision, u64)> {
        let mut guard = self.on.lock().ok()?;
        let on = guard.as_mut()?;
        let lag = on.scaler.lag(offsets);
        let decision = on.hpa.decide(Instant::now(), current, &lag);
        on.last = Some(Decided {
            at_ms: now_ms(),
            current,
            desired: decision.desired,
            lag: lag.with_persistent,
            metric: lag.metric,
            reason: decision.reason.as_str(),
            held: None,
        });
        Some((lag, decision, on.threshold))
    }

    fn held(&self, current: Option<u32>, why: String) {
        if let Ok(mut guard) = self.on.lock()
            && let Some(on) = guard.as_mut()
        {
            let (lag, metric) = on.last.as_ref().map_or((0, 0), |l| (l.lag, l.metric));
            let current = current.unwrap_or_else(|| on.last.as_ref().map_or(0, |l| l.current));
            on.last = Some(Decided {
                at_ms: now_ms(),
                current,
                desired: current,
                lag,
                metric,
                reason: "held",
                held: Some(why),
            });
        }
    }
}

/// `order-autoscaler`'s command line for the lab's rules.
fn rules_args(settings: &ServeSettings, threshold: u64) -> Vec<String> {
    vec![
        "order-autoscaler".to_owned(),
        format!("--lag-threshold={threshold}"),
        "--min-replica-count=1".to_owned(),
        format!("--max-replica-count={}", settings.max_consumers.max(1)),
        "--offset-reset-policy=earliest".to_owned(),
        format!("--polling-interval={}", humantime::format_duration(settings.autoscale_every)),
        format!("--scale-down-stabilization={}", humantime::format_duration(settings.autoscale_window)),
    ]
}

pub fn threshold_bounds(got: &str) -> String {
    format!("a lag threshold is a whole number of records per consumer from 1 to {MAX_THRESHOLD}, got {got}")
}

fn unavailable() -> Refused {
    Refused { status: 409, message: "the autoscaler is unavailable".into() }
}

/// The offsets of one look, as the scaler reads them (no committed offset: `None`).
fn offsets(state: &State) -> Vec<PartitionOffsets> {
    state
        .partitions
        .iter()
        .map(|p| PartitionOffsets {
            partition: p.partition,
            log_end: p.log_end,
            committed: (p.committed >= 0).then_some(p.committed),
        })
        .collect()
}

/// Called after each look: when the autoscaler is on and a decision is due, decides from that look's offsets and
/// the fleet's count, and applies a change through [`Fleet::scale`](harness::consumers::fleet::Fleet::scale).
pub async fn poll(lab: &Arc<Lab>, state: &State) {
    let autoscaler = &lab.autoscaler;
    if !autoscaler.due() {
        return;
    }
    let current = match lab.fleet.running().await {
        Ok(running) => u32::try_from(running.len()).unwrap_or(u32::MAX),
        Err(e) => return autoscaler.held(None, format!("the consumers cannot be counted: {e:#}")),
    };
    if state.partitions.is_empty() {
        return autoscaler.held(Some(current), "the broker gave no offsets".to_owned());
    }
    if let Some(other) = lab.controls.busy() {
        return autoscaler.held(Some(current), format!("another control is running ({other})"));
    }
    let Some((lag, decision, threshold)) = autoscaler.decide(current, &offsets(state)) else { return };
    if decision.desired == current {
        return;
    }
    let (from, to) = (current, decision.desired);
    let what = format!("autoscaler: consumers {from} -> {to}");
    if let Err(r) = lab.controls.claim(&what) {
        return autoscaler.held(Some(current), r.message);
    }
    lab.observed.mark(words(from, to, &lag, threshold, decision), format!("autoscaler {from}→{to}"));
    let target = to as usize;
    let lab = lab.clone();
    tokio::spawn(async move {
        let outcome = lab.fleet.scale(target).await;
        super::controls::finish(&lab, &what, outcome);
    });
}

/// The line for a change: `autoscaler: 1 -> 3 consumers: lag 4512 over threshold 10 × 1 consumer (scaled; KEDA
/// counts 30, capped at 3 partitions × 10)`.
fn words(from: u32, to: u32, lag: &Lag, threshold: u64, decision: Decision) -> String {
    let target = threshold * u64::from(from.max(1));
    let side = if lag.metric > target { "over" } else { "under" };
    let consumers = if from == 1 { "consumer" } else { "consumers" };
    let cap = if lag.metric == lag.with_persistent {
        String::new()
    } else {
        format!("; KEDA counts {}, capped at {} partitions × {threshold}", lag.metric, lag.partitions)
    };
    format!(
        "autoscaler: {from} -> {to} consumers: lag {} {side} threshold {threshold} × {} {consumers} ({}{cap})",
        lag.with_persistent,
        from.max(1),
        decision.reason.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ServeSettings {
        crate::parse_options::<ServeSettings>(&["--autoscale-every", "2s"]).expect("defaults")
    }

    #[test]
    fn the_autoscaler_s_own_settings_and_bounds_are_used() {
        let a = Autoscaler::default();
        assert_eq!(a.turn_on(&settings(), 0).unwrap_err().status, 400);
        assert!(a.turn_on(&settings(), MAX_THRESHOLD + 1).unwrap_err().message.contains("from 1 to"));
        assert!(a.turn_off().unwrap_err().message.contains("not on"));
        let said = a.turn_on(&settings(), 10).expect("on");
        assert!(said.contains("lag threshold 10 per consumer, a decision every 2s"), "{said}");
        let s = a.state();
        assert!(s.on && s.lag_threshold == Some(10) && s.polling_interval_s == 2.0, "{s:?}");
        assert!(a.turn_off().is_ok());
        assert!(!a.state().on);
    }

    #[test]
    fn a_decision_goes_up_to_the_partitions_and_says_why() {
        let a = Autoscaler::default();
        a.turn_on(&settings(), 10).expect("on");
        let offsets: Vec<PartitionOffsets> =
            (0..3).map(|p| PartitionOffsets { partition: p, log_end: 2_000, committed: Some(500) }).collect();
        let (lag, decision, threshold) = a.decide(1, &offsets).expect("on");
        assert_eq!((decision.desired, lag.with_persistent, lag.metric), (3, 4_500, 30));
        assert_eq!(
            words(1, decision.desired, &lag, threshold, decision),
            "autoscaler: 1 -> 3 consumers: lag 4500 over threshold 10 × 1 consumer (scaled; KEDA counts 30, \
             capped at 3 partitions × 10)"
        );
    }
}
