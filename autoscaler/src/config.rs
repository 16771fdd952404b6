//! Every option, named after the KEDA ScaledObject field it mirrors (docs/kubernetes.md has the table).

use std::path::PathBuf;
use std::time::Duration;

use shared::kafka::KafkaArgs;
use shared::metrics::MetricsArgs;

use crate::hpa::ReplicaRules;
use crate::keda::{LagRules, OffsetResetPolicy};

/// Where the consumers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// Local processes, started and stopped by `scripts/scale.sh`.
    Local,
    /// The compose stack: `scripts/scale.sh --stack compose N` (`up -d --no-recreate --scale order-consumer=N`).
    Compose,
}

impl Stack {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Compose => "compose",
        }
    }
}

/// Every option of `order-autoscaler`. Defaults are KEDA's and the HPA's.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "order-autoscaler",
    version,
    about = "Scales the order-consumer group by its lag, with KEDA's Apache Kafka scaler and the HPA's behaviour."
)]
#[command(group = clap::ArgGroup::new("bound").args(["allow_idle_consumers", "limit_to_partitions_with_lag"]))]
pub struct AutoscalerSettings {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// Topic whose lag is read (`topic`).
    #[arg(long, env = "KAFKA_TOPIC", default_value = shared::ORDERS_TOPIC)]
    pub topic: String,

    /// Consumer group whose committed offsets are read (`consumerGroup`).
    #[arg(long, env = "CONSUMER_GROUP", default_value = shared::CONSUMER_GROUP)]
    pub consumer_group: String,

    /// Target lag per replica (`lagThreshold`); must be above 0.
    #[arg(long, env = "LAG_THRESHOLD", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub lag_threshold: u64,

    /// Lag (persistent lag included) above which the target is active, for 0 ↔ 1 (`activationLagThreshold`).
    #[arg(long, env = "ACTIVATION_LAG_THRESHOLD", default_value_t = 0)]
    pub activation_lag_threshold: u64,

    /// What a partition without a committed offset counts (`offsetResetPolicy`): latest (1) or earliest (its
    /// log-end offset).
    #[arg(long, env = "OFFSET_RESET_POLICY", value_enum, default_value_t = OffsetResetPolicy::Latest)]
    pub offset_reset_policy: OffsetResetPolicy,

    /// Let the lag ask for more replicas than partitions (`allowIdleConsumers`).
    #[arg(long, env = "ALLOW_IDLE_CONSUMERS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub allow_idle_consumers: bool,

    /// Bound the replicas by the partitions that have lag (`limitToPartitionsWithLag`).
    #[arg(long, env = "LIMIT_TO_PARTITIONS_WITH_LAG", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub limit_to_partitions_with_lag: bool,

    /// Leave out of the metric a partition whose committed offset did not move since the last poll
    /// (`excludePersistentLag`).
    #[arg(long, env = "EXCLUDE_PERSISTENT_LAG", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub exclude_persistent_lag: bool,

    /// A partition without a committed offset counts 0, not 1, under `latest` (`scaleToZeroOnInvalidOffset`).
    #[arg(long, env = "SCALE_TO_ZERO_ON_INVALID_OFFSET", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub scale_to_zero_on_invalid_offset: bool,

    /// Fewest replicas (`minReplicaCount`); 0 lets an idle group go to 0 after the cooldown.
    #[arg(long, env = "MIN_REPLICA_COUNT", default_value_t = 0)]
    pub min_replica_count: u32,

    /// Most replicas (`maxReplicaCount`); set it to the partition count to never run an idle consumer.
    #[arg(long, env = "MAX_REPLICA_COUNT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_replica_count: u32,

    /// Time between two polls (`pollingInterval`), e.g. `30s`.
    #[arg(long, env = "POLLING_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub polling_interval: Duration,

    /// How long the target must stay inactive before going to 0 (`cooldownPeriod`).
    #[arg(long, env = "COOLDOWN_PERIOD", default_value = "300s", value_parser = humantime::parse_duration)]
    pub cooldown_period: Duration,

    /// Scale-down stabilization window (`behavior.scaleDown.stabilizationWindowSeconds`).
    #[arg(long, env = "SCALE_DOWN_STABILIZATION", default_value = "300s", value_parser = humantime::parse_duration)]
    pub scale_down_stabilization: Duration,

    /// The HPA's tolerance: no change while the usage ratio is within it of 1.
    #[arg(long, env = "HPA_TOLERANCE", default_value_t = 0.1)]
    pub tolerance: f64,

    /// Where the consumers run: local or compose.
    #[arg(long, env = "STACK", value_enum, default_value_t = Stack::Local)]
    pub stack: Stack,

    /// The project's scripts folder (`scale.sh` starts and stops the consumers).
    #[arg(long, env = "SCRIPTS_DIR", default_value = "scripts")]
    pub scripts_dir: PathBuf,

    /// How long a read of the offsets may take before the poll holds the count.
    #[arg(long, env = "KAFKA_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub kafka_timeout: Duration,
}

/// A setting that cannot work, refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("minReplicaCount ({min}) is above maxReplicaCount ({max})")]
    MinAboveMax { min: u32, max: u32 },
    #[error("the tolerance must be between 0 and 1, got {0}")]
    Tolerance(f64),
    #[error("the polling interval must be above 0")]
    PollingInterval,
}

impl AutoscalerSettings {
    /// # Errors
    /// Settings that contradict each other (clap already refused a threshold of 0 and both bounds at once).
    pub fn check(&self) -> Result<(), SettingsError> {
        if self.min_replica_count > self.max_replica_count {
            return Err(SettingsError::MinAboveMax { min: self.min_replica_count, max: self.max_replica_count });
        }
        if !(0.0..1.0).contains(&self.tolerance) {
            return Err(SettingsError::Tolerance(self.tolerance));
        }
        if self.polling_interval.is_zero() {
            return Err(SettingsError::PollingInterval);
        }
        Ok(())
    }

    pub fn lag_rules(&self) -> LagRules {
        LagRules {
            lag_threshold: self.lag_threshold,
            offset_reset_policy: self.offset_reset_policy,
            allow_idle_consumers: self.allow_idle_consumers,
            limit_to_partitions_with_lag: self.limit_to_partitions_with_lag,
            exclude_persistent_lag: self.exclude_persistent_lag,
            scale_to_zero_on_invalid_offset: self.scale_to_zero_on_invalid_offset,
        }
    }

    pub fn replica_rules(&self) -> ReplicaRules {
        ReplicaRules {
            lag_threshold: self.lag_threshold,
            activation_lag_threshold: self.activation_lag_threshold,
            min_replicas: self.min_replica_count,
            max_replicas: self.max_replica_count,
            tolerance: self.tolerance,
            scale_down_window: self.scale_down_stabilization,
            cooldown: self.cooldown_period,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_are_keda_s_and_the_hpa_s() {
        let s = AutoscalerSettings::try_parse_from(["order-autoscaler"]).unwrap();
        assert_eq!(s.lag_threshold, 10);
        assert_eq!(s.offset_reset_policy, OffsetResetPolicy::Latest);
        assert_eq!((s.min_replica_count, s.max_replica_count), (0, 100));
        assert_eq!(s.polling_interval, Duration::from_secs(30));
        assert_eq!(
            (s.cooldown_period, s.scale_down_stabilization),
            (Duration::from_secs(300), Duration::from_secs(300))
        );
        assert!(s.check().is_ok());
    }

    #[test]
    fn a_threshold_of_zero_and_contradictions_are_refused_at_start_up() {
        let zero = AutoscalerSettings::try_parse_from(["order-autoscaler", "--lag-threshold", "0"]).unwrap_err();
        assert!(zero.to_string().contains("lag-threshold"), "{zero}");
        let both = ["order-autoscaler", "--allow-idle-consumers", "--limit-to-partitions-with-lag"];
        assert!(AutoscalerSettings::try_parse_from(both).is_err(), "KEDA refuses the two together");
        let s = AutoscalerSettings::try_parse_from([
            "order-autoscaler",
            "--min-replica-count",
            "5",
            "--max-replica-count",
            "3",
        ])
        .unwrap();
        assert!(matches!(s.check(), Err(SettingsError::MinAboveMax { min: 5, max: 3 })));
    }
}
