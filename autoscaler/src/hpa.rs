//! From the metric to a replica count: KEDA's activation and scale to zero, then the HPA's rule for an
//! `AverageValue` target (kubernetes `pkg/controller/podautoscaler`), with its defaults.
//!
//! - **Activation** (KEDA): the target is active while the lag (persistent lag included) is above
//!   `activationLagThreshold`. From 0 replicas, an active target goes to `minReplicaCount` (at least 1). With
//!   `minReplicaCount: 0`, a target inactive for `cooldownPeriod` goes to 0.
//! - **The HPA's desired count**: `ceil(metric / lagThreshold)`, unless the usage ratio
//!   `metric / (lagThreshold × current)` is within the tolerance (10 %) of 1, where it keeps the current count.
//! - **Stabilization** (HPA `behavior`): a scale-up applies at once (window 0 s); a scale-down only to the highest
//!   count recommended during the scale-down window (300 s by default), so a lag that drains does not take
//!   consumers away until it has stayed low for the whole window.
//! - Then the count is kept within `minReplicaCount` (at least 1 while active) and `maxReplicaCount`.
//!
//! Two differences from the HPA, on purpose: its default scale-up policy also limits each step to +4 pods or
//! +100 % per 15 s, where here a scale-up is applied whole, as soon as it is decided; and the count running when
//! the autoscaler starts counts as a recommendation, so that a restarted autoscaler waits a whole window before it
//! scales down (a new HPA has no history and would not).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::keda::Lag;

/// The replica rules (a ScaledObject's replica counts and the HPA behaviour it configures).
#[derive(Debug, Clone, Copy)]
pub struct ReplicaRules {
    pub lag_threshold: u64,
    pub activation_lag_threshold: u64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub tolerance: f64,
    pub scale_down_window: Duration,
    pub cooldown: Duration,
}

/// What one poll decided, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The HPA's count before stabilization and limits.
    pub recommended: u32,
    /// The count to run.
    pub desired: u32,
    pub active: bool,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// 0 replicas and the lag above `activationLagThreshold`: up to the minimum.
    Activated,
    /// 0 replicas and not active: stays at 0.
    Idle,
    /// Inactive for `cooldownPeriod` with `minReplicaCount: 0`.
    ScaledToZero,
    /// The usage ratio is within the tolerance of 1.
    WithinTolerance,
    /// The HPA's count, applied as is.
    Scaled,
    /// A lower count was recommended, but a higher one within the scale-down window holds it.
    Stabilized,
    /// The count was brought within `minReplicaCount` and `maxReplicaCount`.
    Limited,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activated => "activated",
            Self::Idle => "idle",
            Self::ScaledToZero => "scaled_to_zero",
            Self::WithinTolerance => "within_tolerance",
            Self::Scaled => "scaled",
            Self::Stabilized => "stabilized",
            Self::Limited => "limited",
        }
    }
}

/// The HPA's state between polls: its recent recommendations, and when the target was last active.
#[derive(Debug)]
pub struct Hpa {
    rules: ReplicaRules,
    recommendations: VecDeque<(Instant, u32)>,
    last_active: Option<Instant>,
}

impl Hpa {
    pub fn new(rules: ReplicaRules) -> Self {
        Self { rules, recommendations: VecDeque::new(), last_active: None }
    }

    /// The count to run now, with `current` replicas running and `lag` measured.
    pub fn decide(&mut self, now: Instant, current: u32, lag: &Lag) -> Decision {
        let r = self.rules;
        let active = lag.with_persistent > r.activation_lag_threshold;
        if active {
            self.last_active = Some(now);
        }
        let floor = r.min_replicas.max(1);
        if current == 0 {
            return if active {
                Decision { recommended: floor, desired: floor.min(r.max_replicas), active, reason: Reason::Activated }
            } else {
                Decision { recommended: 0, desired: 0, active, reason: Reason::Idle }
            };
        }
        if !active && r.min_replicas == 0 && self.last_active.is_none_or(|t| now.duration_since(t) >= r.cooldown) {
            self.recommendations.clear();
            return Decision { recommended: 0, desired: 0, active, reason: Reason::ScaledToZero };
        }
        let threshold = r.lag_threshold.max(1) as f64;
        let ratio = lag.metric as f64 / (threshold * f64::from(current));
        let (recommended, mut reason) = if (1.0 - ratio).abs() <= r.tolerance {
            (current, Reason::WithinTolerance)
        } else {
            ((lag.metric as f64 / threshold).ceil() as u32, Reason::Scaled)
        };
        let stabilized = self.stabilize(now, current, recommended);
        if stabilized != recommended {
            reason = Reason::Stabilized;
        }
        let desired = stabilized.clamp(floor, r.max_replicas.max(floor));
        if desired != stabilized {
            reason = Reason::Limited;
        }
        Decision { recommended, desired, active, reason }
    }

    /// The HPA's `stabilizeRecommendationWithBehaviors` with a scale-up window of 0: the count may rise to
    /// `recommended` at once, and fall no lower than the highest recommendation of the scale-down window.
    fn stabilize(&mut self, now: Instant, current: u32, recommended: u32) -> u32 {
        let window = self.rules.scale_down_window;
        if self.recommendations.is_empty() {
            self.recommendations.push_back((now, current));
        }
        while self.recommendations.front().is_some_and(|(t, _)| now.duration_since(*t) > window) {
            self.recommendations.pop_front();
        }
        let down_limit = self.recommendations.iter().map(|(_, r)| *r).fold(recommended, u32::max);
        self.recommendations.push_back((now, recommended));
        current.max(recommended).min(down_limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ReplicaRules {
        ReplicaRules {
            lag_threshold: 10,
            activation_lag_threshold: 0,
            min_replicas: 1,
            max_replicas: 100,
            tolerance: 0.1,
            scale_down_window: Duration::from_secs(300),
            cooldown: Duration::from_secs(300),
        }
    }

    fn lag(metric: u64) -> Lag {
        Lag { metric, with_persistent: metric, ..Lag::default() }
    }

    #[test]
    fn the_hpa_asks_for_ceil_of_metric_over_threshold_outside_the_tolerance() {
        // (current, metric, expected desired, reason)
        let table = [
            (1, 109, 11, Reason::Scaled), // KEDA's edge case: 10 partitions, threshold 10, lag 109
            (1, 100, 10, Reason::Scaled),
            (10, 105, 10, Reason::WithinTolerance), // ratio 1.05: within 10 %
            (10, 111, 12, Reason::Scaled),          // ratio 1.11: outside, ceil(11.1)
            (3, 1, 3, Reason::Stabilized),          // a scale-down waits for the window
            (1, 5_000, 100, Reason::Limited),       // maxReplicaCount
        ];
        for (current, metric, expected, reason) in table {
            let decision = Hpa::new(rules()).decide(Instant::now(), current, &lag(metric));
            assert_eq!((decision.desired, decision.reason), (expected, reason), "{current} replicas, metric {metric}");
        }
    }

    #[test]
    fn a_scale_down_waits_for_the_whole_window_and_takes_its_highest_recommendation() {
        let mut hpa = Hpa::new(ReplicaRules { scale_down_window: Duration::from_secs(60), ..rules() });
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(hpa.decide(at(0), 1, &lag(60)).desired, 6, "up at once");
        assert_eq!(hpa.decide(at(15), 6, &lag(30)).desired, 6, "3 recommended, 6 within the window");
        assert_eq!(hpa.decide(at(30), 6, &lag(0)).desired, 6);
        assert_eq!(hpa.decide(at(70), 6, &lag(0)).desired, 3, "the 6 left the window, the 3 of t=15 has not");
        assert_eq!(hpa.decide(at(91), 3, &lag(0)).desired, 1, "then down to the minimum");
        assert_eq!(hpa.decide(at(92), 1, &lag(25)).desired, 3, "up again at once");
    }

    #[test]
    fn activation_takes_zero_to_the_minimum_and_cooldown_takes_an_idle_target_back_to_zero() {
        let mut hpa = Hpa::new(ReplicaRules {
            min_replicas: 0,
            activation_lag_threshold: 50,
            cooldown: Duration::from_secs(30),
            ..rules()
        });
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(hpa.decide(at(0), 0, &lag(50)).reason, Reason::Idle, "50 is not above the activation threshold");
        let activated = hpa.decide(at(1), 0, &lag(51));
        assert_eq!((activated.desired, activated.reason), (1, Reason::Activated));
        assert_eq!(hpa.decide(at(20), 1, &lag(0)).desired, 1, "inactive, but not for the cooldown yet");
        let zero = hpa.decide(at(32), 1, &lag(0));
        assert_eq!((zero.desired, zero.reason), (0, Reason::ScaledToZero));
    }

    #[test]
    fn a_minimum_of_one_never_scales_to_zero() {
        let mut hpa = Hpa::new(rules());
        let t0 = Instant::now();
        for s in [0, 400, 800] {
            assert_eq!(hpa.decide(t0 + Duration::from_secs(s), 1, &lag(0)).desired, 1);
        }
    }
}
