//! KEDA's Apache Kafka scaler: the group's lag, and the metric it hands the HPA (kedacore/keda
//! `pkg/scalers/kafka_scaler.go`, `getLagForPartition` and `getTotalLag`), with the same parameters and defaults.
//!
//! - A partition's lag is its log-end offset minus the group's committed offset. With no committed offset it
//!   counts 1 under `offsetResetPolicy: latest` (0 with `scaleToZeroOnInvalidOffset`) and the log-end offset under
//!   `earliest`.
//! - `excludePersistentLag`: a partition whose committed offset has not moved since the previous poll adds 0 to the
//!   metric (something is stuck there; more consumers would not help), but still counts for activation.
//! - Unless `allowIdleConsumers`, the metric is capped so that it asks for no more replicas than partitions: when
//!   `total / lagThreshold` (integer division) exceeds the bound, the total becomes `bound × lagThreshold`. The
//!   bound is the partition count, or with `limitToPartitionsWithLag` the partitions whose lag is above 0. Because
//!   the division truncates, a total just under the next multiple passes uncapped: 10 partitions, threshold 10 and
//!   a lag of 109 ask for 11 replicas, as in KEDA (set `maxReplicaCount` to the partition count to stay within it).

use std::collections::BTreeMap;

/// What a partition's missing committed offset counts as (`offsetResetPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OffsetResetPolicy {
    /// A new group would start at the end: the partition counts 1 (0 with `scaleToZeroOnInvalidOffset`).
    Latest,
    /// A new group would read everything: the partition counts its log-end offset.
    Earliest,
}

/// The scaler's parameters (the trigger's metadata in a ScaledObject).
#[derive(Debug, Clone, Copy)]
pub struct LagRules {
    pub lag_threshold: u64,
    pub offset_reset_policy: OffsetResetPolicy,
    pub allow_idle_consumers: bool,
    pub limit_to_partitions_with_lag: bool,
    pub exclude_persistent_lag: bool,
    pub scale_to_zero_on_invalid_offset: bool,
}

/// One partition at one poll: its log-end offset and the group's committed offset, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub partition: i32,
    pub log_end: i64,
    pub committed: Option<i64>,
}

/// The lag at one poll, as KEDA computes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lag {
    /// The metric handed to the HPA: the lag without persistent lag, capped (see the module's header).
    pub metric: u64,
    /// The lag with persistent lag and uncapped: what activation compares with `activationLagThreshold`.
    pub with_persistent: u64,
    pub partitions: u64,
    pub partitions_with_lag: u64,
    /// Each partition's lag as counted in the metric.
    pub per_partition: BTreeMap<i32, u64>,
}

/// The scaler, with the committed offsets it saw at the previous poll (for `excludePersistentLag`).
#[derive(Debug)]
pub struct KafkaScaler {
    rules: LagRules,
    previous: BTreeMap<i32, i64>,
}

impl KafkaScaler {
    pub fn new(rules: LagRules) -> Self {
        Self { rules, previous: BTreeMap::new() }
    }

    /// The lag of one poll's offsets.
    pub fn lag(&mut self, partitions: &[PartitionOffsets]) -> Lag {
        let mut lag = Lag { partitions: partitions.len() as u64, ..Lag::default() };
        let mut total = 0u64;
        for p in partitions {
            let (counted, with_persistent) = self.partition_lag(p);
            total += counted;
            lag.with_persistent += with_persistent;
            if counted > 0 {
                lag.partitions_with_lag += 1;
            }
            lag.per_partition.insert(p.partition, counted);
        }
        let threshold = self.rules.lag_threshold.max(1);
        if !self.rules.allow_idle_consumers || self.rules.limit_to_partitions_with_lag {
            let bound = if self.rules.limit_to_partitions_with_lag { lag.partitions_with_lag } else { lag.partitions };
            if total / threshold > bound {
                total = bound * threshold;
            }
        }
        lag.metric = total;
        lag
    }

    /// (counted in the metric, counted for activation).
    fn partition_lag(&mut self, p: &PartitionOffsets) -> (u64, u64) {
        let Some(committed) = p.committed else {
            let counted = match self.rules.offset_reset_policy {
                OffsetResetPolicy::Latest => u64::from(!self.rules.scale_to_zero_on_invalid_offset),
                OffsetResetPolicy::Earliest => p.log_end.max(0) as u64,
            };
            return (counted, counted);
        };
        let lag = (p.log_end - committed).max(0) as u64;
        if self.rules.exclude_persistent_lag {
            let previous = self.previous.insert(p.partition, committed);
            if previous == Some(committed) {
                return (0, lag);
            }
        }
        (lag, lag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(lag_threshold: u64) -> LagRules {
        LagRules {
            lag_threshold,
            offset_reset_policy: OffsetResetPolicy::Latest,
            allow_idle_consumers: false,
            limit_to_partitions_with_lag: false,
            exclude_persistent_lag: false,
            scale_to_zero_on_invalid_offset: false,
        }
    }

    fn offsets(lags: &[i64]) -> Vec<PartitionOffsets> {
        lags.iter()
            .enumerate()
            .map(|(i, lag)| PartitionOffsets { partition: i as i32, log_end: 1_000 + lag, committed: Some(1_000) })
            .collect()
    }

    /// Spreads `total` lag over `n` partitions, the remainder on the first.
    fn spread(total: i64, n: usize) -> Vec<i64> {
        let mut lags = vec![total / n as i64; n];
        lags[0] += total % n as i64;
        lags
    }

    #[test]
    fn the_metric_is_capped_at_the_partition_count_with_keda_s_integer_division() {
        // (partitions, threshold, total lag, allowIdleConsumers, expected metric)
        let table = [
            (10, 10, 109, false, 109), // 109 / 10 = 10, not above 10: uncapped, so the HPA asks for 11 (KEDA's case)
            (10, 10, 110, false, 100), // 11 > 10: capped at 10 × 10
            (10, 10, 5_000, false, 100),
            (3, 100, 250, false, 250),
            (3, 100, 400, false, 300),
            (3, 100, 400, true, 400), // allowIdleConsumers: no cap
            (1, 10, 0, false, 0),
        ];
        for (partitions, threshold, total, idle, expected) in table {
            let mut scaler = KafkaScaler::new(LagRules { allow_idle_consumers: idle, ..rules(threshold) });
            let lag = scaler.lag(&offsets(&spread(total, partitions)));
            assert_eq!(lag.metric, expected, "{partitions} partitions, threshold {threshold}, lag {total}");
            assert_eq!(lag.with_persistent, total as u64, "activation sees the uncapped lag");
        }
    }

    #[test]
    fn limit_to_partitions_with_lag_bounds_by_the_partitions_that_have_some() {
        let mut scaler = KafkaScaler::new(LagRules { limit_to_partitions_with_lag: true, ..rules(10) });
        let lag = scaler.lag(&offsets(&[500, 0, 0, 40, 0, 0]));
        assert_eq!(lag.partitions_with_lag, 2);
        assert_eq!(lag.metric, 20, "540 / 10 = 54 > 2 partitions with lag: 2 × 10");
    }

    #[test]
    fn a_partition_without_a_committed_offset_counts_as_its_reset_policy_says() {
        let fresh = [PartitionOffsets { partition: 0, log_end: 700, committed: None }];
        let latest = KafkaScaler::new(rules(10)).lag(&fresh);
        assert_eq!((latest.metric, latest.with_persistent), (1, 1));
        let zero = KafkaScaler::new(LagRules { scale_to_zero_on_invalid_offset: true, ..rules(10) }).lag(&fresh);
        assert_eq!((zero.metric, zero.with_persistent), (0, 0));
        let earliest =
            KafkaScaler::new(LagRules { offset_reset_policy: OffsetResetPolicy::Earliest, ..rules(1_000) }).lag(&fresh);
        assert_eq!(earliest.metric, 700);
    }

    #[test]
    fn persistent_lag_is_left_out_of_the_metric_from_the_second_unchanged_poll_but_still_activates() {
        let mut scaler = KafkaScaler::new(LagRules { exclude_persistent_lag: true, ..rules(100) });
        let stuck = [PartitionOffsets { partition: 0, log_end: 150, committed: Some(100) }];
        assert_eq!(scaler.lag(&stuck).metric, 50, "first sight: counted");
        let again = scaler.lag(&stuck);
        assert_eq!((again.metric, again.with_persistent), (0, 50), "unchanged: out of the metric, not of activation");
        let moved = [PartitionOffsets { partition: 0, log_end: 160, committed: Some(120) }];
        assert_eq!(scaler.lag(&moved).metric, 40, "moving again: counted");
    }
}
