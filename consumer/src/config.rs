//! Consumer configuration: defaults → environment → flags (clap), and its mapping onto librdkafka.

use std::time::Duration;

use rdkafka::ClientConfig;
use shared::database::Database;
use shared::duration::{millis, positive_millis};
use shared::kafka::{KafkaArgs, ProtectedProperty};
use shared::metrics::MetricsArgs;
use shared::secret::Secret;

pub use shared::DEFAULT_DATABASE_URL;

/// Where the offset a partition's next owner starts from is kept (`OFFSET_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OffsetStore {
    /// The group's committed offsets in Kafka: after a crash, the batches written since the last commit are
    /// delivered again (the upsert absorbs them).
    Kafka,
    /// The `consumer_offsets` table, written in the same transaction as the rows: after a crash nothing stored is
    /// delivered again. Kafka commits still follow, for lag tooling.
    Postgres,
}

impl OffsetStore {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kafka => "kafka",
            Self::Postgres => "postgres",
        }
    }
}

/// How the group assigns partitions (`GROUP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupProtocol {
    /// The classic protocol: the group leader, a client, assigns with `ASSIGNMENT_STRATEGY`.
    Classic,
    /// KIP-848: the broker assigns, and members take and give up partitions one heartbeat at a time.
    Consumer,
}

impl GroupProtocol {
    /// librdkafka's `group.protocol` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Consumer => "consumer",
        }
    }
}

impl std::fmt::Display for GroupProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the classic protocol's leader spreads partitions (`ASSIGNMENT_STRATEGY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AssignmentStrategy {
    /// Incremental: only the partitions that move are revoked.
    CooperativeSticky,
    /// Eager: every member gives up everything at each rebalance; ranges of each topic's partitions.
    Range,
    /// Eager, partitions dealt one by one.
    Roundrobin,
}

impl AssignmentStrategy {
    /// librdkafka's `partition.assignment.strategy` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CooperativeSticky => "cooperative-sticky",
            Self::Range => "range",
            Self::Roundrobin => "roundrobin",
        }
    }
}

/// Every option of `order-consumer`. Defaults work against the local stack.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "order-consumer",
    version,
    about = "Consumes food orders as a group member and upserts them into Postgres."
)]
pub struct ConsumerSettings {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// Topic to consume.
    #[arg(long, env = "KAFKA_TOPIC", default_value = shared::ORDERS_TOPIC)]
    pub topic: String,

    /// Topic for messages that can never be stored.
    #[arg(long, env = "DLQ_TOPIC", default_value = shared::DLQ_TOPIC)]
    pub dlq_topic: String,

    /// Consumer group to join.
    #[arg(long, env = "CONSUMER_GROUP", default_value = shared::CONSUMER_GROUP)]
    pub group_id: String,

    /// Base of the client id; the full id is `{base}-{hostname}-{uuid8}`.
    #[arg(long, env = "CLIENT_ID_BASE", default_value = "order-consumer")]
    pub client_id_base: String,

    #[command(flatten)]
    pub database: Database,

    /// File holding the password of DATABASE_URL's user (a Docker or Kubernetes secret); it overrides the URL's
    /// password, so the URL in the environment need not carry one. The trailing line break is dropped.
    #[arg(long = "database-password-file", env = "DATABASE_PASSWORD_FILE", value_name = "PATH",
          value_parser = shared::secret::read_secret_file)]
    pub database_password: Option<Secret>,

    /// URL of the role that owns the schema and runs the migrations at start-up, so that DATABASE_URL's role needs
    /// only SELECT, INSERT and UPDATE on `orders` (docs/security.md). Unset: DATABASE_URL's role does both.
    #[arg(long, env = "MIGRATION_DATABASE_URL", hide_env_values = true)]
    pub migration_database_url: Option<Secret>,

    /// File holding the password of MIGRATION_DATABASE_URL's user; overrides the URL's password.
    #[arg(long = "migration-database-password-file", env = "MIGRATION_DATABASE_PASSWORD_FILE", value_name = "PATH",
          value_parser = shared::secret::read_secret_file)]
    pub migration_database_password: Option<Secret>,

    /// Most messages written in one statement.
    #[arg(long, env = "BATCH_SIZE", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    pub batch_size: u32,

    /// Longest a batch keeps taking messages that are already waiting, in milliseconds (or a duration: `50ms`). A
    /// batch is written as soon as no further message is waiting, when it holds `BATCH_SIZE`, or at this deadline,
    /// whichever comes first.
    #[arg(long = "batch-timeout-ms", env = "BATCH_TIMEOUT_MS", default_value = "50", value_parser = positive_millis)]
    pub batch_timeout: Duration,

    /// Most writes running at once, each on its own database connection: a batch is written as up to this many
    /// transactions side by side, split by customer (the record's key) into lanes, so one consumer keeps more than
    /// one of the database's cores busy even when a batch holds one partition. Each customer's messages are stored
    /// in the order consumed (a lane's next write waits for its last), and a batch's offsets are done once all its
    /// writes have stored it. With `OFFSET_STORE=postgres` the split is by whole partitions, as each write stores
    /// its partitions' offsets.
    #[arg(long, env = "WRITE_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub write_concurrency: u32,

    /// Simulated work per order, in milliseconds (0 = none), to show scaling when the database is not the limit.
    #[arg(long = "processing-delay-ms", env = "PROCESSING_DELAY_MS", default_value = "0", value_parser = millis)]
    pub processing_delay: Duration,

    /// Largest message accepted, in bytes; larger ones go to the dead-letter topic.
    #[arg(long, env = "MAX_MESSAGE_BYTES", default_value_t = 65_536)]
    pub max_message_bytes: usize,

    /// Group session timeout in ms: how long the group waits for a member that stopped heartbeating (classic protocol).
    #[arg(long = "session-timeout-ms", env = "SESSION_TIMEOUT_MS", default_value = "10000",
          value_parser = positive_millis)]
    pub session_timeout: Duration,

    /// Heartbeat interval in ms (classic protocol). Members learn of a rebalance from a heartbeat's answer, so each
    /// of a cooperative rebalance's two rounds waits up to this long; keep it well below the session timeout.
    #[arg(long = "heartbeat-interval-ms", env = "HEARTBEAT_INTERVAL_MS", default_value = "1000",
          value_parser = positive_millis)]
    pub heartbeat_interval: Duration,

    /// Group protocol: `classic` (client-side assignment) or `consumer` (KIP-848, broker-side assignment).
    #[arg(long, env = "GROUP_PROTOCOL", value_enum, default_value_t = GroupProtocol::Classic)]
    pub group_protocol: GroupProtocol,

    /// Assignment strategy for the classic protocol: cooperative-sticky, range or roundrobin.
    #[arg(long, env = "ASSIGNMENT_STRATEGY", value_enum, default_value_t = AssignmentStrategy::CooperativeSticky)]
    pub assignment_strategy: AssignmentStrategy,

    /// Static membership id (`group.instance.id`); a restart within the session timeout keeps the partitions.
    /// Each member needs its own.
    #[arg(long, env = "GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,

    /// Static membership with the id derived from the host: `{CLIENT_ID_BASE}-{hostname}` (one consumer per host or
    /// container; give several processes on one host each a GROUP_INSTANCE_ID instead).
    #[arg(long, env = "STATIC_MEMBERSHIP", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub static_membership: bool,

    /// Where a partition's next owner starts: `kafka` (the group's committed offsets) or `postgres` (the
    /// `consumer_offsets` table, written in the batch's own transaction, so a crash re-delivers nothing that was
    /// stored). Offsets are committed to Kafka either way, for lag tooling. See docs/reliability.md.
    #[arg(long, env = "OFFSET_STORE", value_enum, default_value_t = OffsetStore::Kafka)]
    pub offset_store: OffsetStore,

    /// Apply the database migrations (as MIGRATION_DATABASE_URL's role when set), check DATABASE_URL's privileges,
    /// and exit without joining the group: a Kubernetes Job, or any step that must migrate before consumers start.
    #[arg(long, env = "MIGRATE_ONLY", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub migrate_only: bool,

    /// Do not migrate at start-up: a migration job (`--migrate-only`) has run them, so the consumer needs no
    /// owner's credentials at all. DATABASE_URL's privileges are still checked.
    #[arg(long, env = "SKIP_MIGRATIONS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", conflicts_with = "migrate_only")]
    pub skip_migrations: bool,

    /// How long start-up waits for Kafka and Postgres before giving up, e.g. `10s`.
    #[arg(long, env = "CONNECT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
}

impl ConsumerSettings {
    /// The static membership id, if any: GROUP_INSTANCE_ID, else `{base}-{hostname}` with STATIC_MEMBERSHIP.
    pub fn group_instance_id(&self) -> Option<String> {
        match (&self.group_instance_id, self.static_membership) {
            (Some(id), _) => Some(id.clone()),
            (None, true) => Some(format!("{}-{}", self.client_id_base, shared::client_id::host())),
            (None, false) => None,
        }
    }

    /// The consumer's librdkafka configuration. Offsets are never committed by librdkafka on its own: the pipeline
    /// commits them explicitly, after the rows are in Postgres (see [`crate::offsets`]).
    ///
    /// # Errors
    /// When a pass-through property tries to override a protected one.
    pub fn consumer_config(&self, client_id: &str) -> Result<ClientConfig, ProtectedProperty> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.kafka.bootstrap_servers)
            .set("client.id", client_id)
            .set("group.id", &self.group_id)
            .set("group.protocol", self.group_protocol.as_str())
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // The group sees a partition increase within ~10 s and rebalances onto the new partitions.
            .set("topic.metadata.refresh.interval.ms", "10000")
            // Memory: prefetch at most 1 MiB in all (2,000 messages per partition) and fetch at most 1 MiB at a
            // time (librdkafka's defaults, 64 MiB and 50 MiB, cost ~100 MB of RSS for no throughput here; 4 MiB
            // cost about 3 MiB more than 1 MiB for none either, docs/results/batch-prefetch-20261202/), and fetch again
            // 5 ms after the queue drains rather than librdkafka's default 1 s, which throttles a capped queue.
            .set("queued.max.messages.kbytes", "1024")
            .set("queued.min.messages", "2000")
            .set("fetch.max.bytes", "1048576")
            .set("max.partition.fetch.bytes", "262144")
            .set("fetch.queue.backoff.ms", "5")
            // Statistics every 5 s: the lag of each owned partition, served as `kafka_consumergroup_lag`.
            .set("statistics.interval.ms", "5000");
        if self.group_protocol == GroupProtocol::Classic {
            config
                .set("partition.assignment.strategy", self.assignment_strategy.as_str())
                .set("session.timeout.ms", self.session_timeout.as_millis().to_string())
                .set("heartbeat.interval.ms", self.heartbeat_interval.as_millis().to_string());
        }
        if let Some(id) = self.group_instance_id() {
            config.set("group.instance.id", id);
        }
        self.kafka.apply_properties(&mut config)?;
        Ok(config)
    }

    /// The dead-letter producer's configuration: idempotent, acknowledged by all in-sync replicas
    /// ([`shared::kafka::IDEMPOTENT_PRODUCER`]), its client id the consumer's with `-dlq`.
    ///
    /// # Errors
    /// When a pass-through property tries to override a protected one.
    pub fn dead_letter_config(&self, client_id: &str) -> Result<ClientConfig, ProtectedProperty> {
        self.kafka.producer_config(&format!("{client_id}-dlq"), |config| {
            config.set("linger.ms", "5").set("message.timeout.ms", "30000");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_join_order_processors_with_manual_commits() {
        let s = ConsumerSettings::try_parse_from(["order-consumer"]).unwrap();
        let c = s.consumer_config("order-consumer-h-12345678").unwrap();
        assert_eq!(c.get("group.id"), Some("order-processors"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("partition.assignment.strategy"), Some("cooperative-sticky"));
        assert_eq!(s.batch_size, 1000);
        assert_eq!(s.topic, "food-orders");
        assert_eq!(s.dlq_topic, "food-orders.dlq");
        assert_eq!(s.offset_store, OffsetStore::Kafka);
    }

    #[test]
    fn the_dead_letter_producer_is_idempotent_and_named_after_the_consumer() {
        let s = ConsumerSettings::try_parse_from(["order-consumer"]).unwrap();
        let c = s.dead_letter_config("order-consumer-h-12345678").unwrap();
        assert_eq!(c.get("client.id"), Some("order-consumer-h-12345678-dlq"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("message.timeout.ms"), Some("30000"));
    }

    #[test]
    fn the_offset_store_is_kafka_or_postgres() {
        let s = ConsumerSettings::try_parse_from(["order-consumer", "--offset-store", "postgres"]).unwrap();
        assert_eq!(s.offset_store, OffsetStore::Postgres);
        assert!(ConsumerSettings::try_parse_from(["order-consumer", "--offset-store", "redis"]).is_err());
    }

    #[test]
    fn the_consumer_protocol_leaves_assignment_and_timeouts_to_the_broker() {
        let s = ConsumerSettings::try_parse_from(["order-consumer", "--group-protocol", "consumer"]).unwrap();
        let c = s.consumer_config("c").unwrap();
        assert_eq!(c.get("group.protocol"), Some("consumer"));
        assert_eq!(c.get("partition.assignment.strategy"), None);
        assert_eq!(c.get("session.timeout.ms"), None);
    }

    #[test]
    fn static_membership_derives_the_instance_id_from_the_host_unless_one_is_given() {
        let c = ConsumerSettings::try_parse_from(["order-consumer"]).unwrap().consumer_config("c").unwrap();
        assert_eq!(c.get("group.instance.id"), None);
        let s = ConsumerSettings::try_parse_from(["order-consumer", "--static-membership", "--client-id-base", "w"])
            .unwrap();
        let expected = format!("w-{}", shared::client_id::host());
        assert_eq!(s.consumer_config("c").unwrap().get("group.instance.id"), Some(expected.as_str()));
        let s = ConsumerSettings::try_parse_from(["order-consumer", "--static-membership", "--group-instance-id", "x"])
            .unwrap();
        assert_eq!(s.consumer_config("c").unwrap().get("group.instance.id"), Some("x"));
    }

    #[test]
    fn zero_batch_size_and_zero_timeout_are_refused() {
        let err = ConsumerSettings::try_parse_from(["order-consumer", "--batch-size", "0"]).unwrap_err();
        assert!(err.to_string().contains("batch-size"), "{err}");
        assert!(ConsumerSettings::try_parse_from(["order-consumer", "--batch-timeout-ms", "0"]).is_err());
    }

    #[test]
    fn the_database_password_never_reaches_debug_output() {
        let s =
            ConsumerSettings::try_parse_from(["order-consumer", "--database-url", "postgres://u:s3cret@h/db"]).unwrap();
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(s.database.url.expose(), "postgres://u:s3cret@h/db");
    }
}
