//! Producer configuration: defaults → environment → flags (clap), and its mapping onto librdkafka.

use std::path::PathBuf;
use std::time::Duration;

use rdkafka::ClientConfig;
use shared::kafka::{KafkaArgs, ProtectedProperty};
use shared::metrics::MetricsArgs;

/// Every option of `order-producer`. Defaults work against the local stack.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "order-producer", version, about = "Sends mock food orders to Kafka, keyed by customer_id.")]
pub struct ProducerSettings {
    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// Topic the orders go to.
    #[arg(long, env = "KAFKA_TOPIC", default_value = shared::ORDERS_TOPIC)]
    pub topic: String,

    /// Orders per second; 0 sends as fast as the broker takes them.
    #[arg(long, env = "PRODUCER_RATE", default_value_t = 10.0, value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: f64,

    /// Stop after this many orders (default: run until SIGINT/SIGTERM or --duration).
    #[arg(long, env = "PRODUCER_COUNT")]
    pub count: Option<u64>,

    /// Stop after this long, e.g. `30s`, `5m`.
    #[arg(long, env = "PRODUCER_DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Size of the customer pool: customers CUST-00001 up to this number.
    #[arg(long, env = "PRODUCER_CUSTOMERS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=99_999))]
    pub customers: u32,

    /// Seed for the generator: the same seed gives the same customers, items and amounts.
    #[arg(long, env = "PRODUCER_SEED")]
    pub seed: Option<u64>,

    /// Also send status updates (placed → confirmed → delivered) for orders already sent.
    #[arg(long, env = "PRODUCER_STATUS_UPDATES", default_value_t = false)]
    pub status_updates: bool,

    /// Compression codec: none, gzip, snappy, lz4 or zstd.
    #[arg(long, env = "PRODUCER_COMPRESSION", default_value = "lz4",
          value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,

    /// How long librdkafka waits to fill a batch before sending it, in milliseconds (or a duration: `5ms`).
    #[arg(long = "linger-ms", env = "PRODUCER_LINGER_MS", default_value = "5", value_parser = shared::duration::millis)]
    pub linger: Duration,

    /// How often a progress line is logged, e.g. `5s`.
    #[arg(long, env = "PRODUCER_PROGRESS_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub progress_interval: Duration,

    /// How long start-up waits for the broker to answer before giving up.
    #[arg(long, env = "PRODUCER_CONNECT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,

    /// Base of the client id; the full id is `{base}-{hostname}-{uuid8}`.
    #[arg(long, env = "PRODUCER_CLIENT_ID_BASE", default_value = "order-producer")]
    pub client_id_base: String,

    /// Where to write the final summary as JSON when the producer finishes (also on SIGINT/SIGTERM), so scripts
    /// read the figures instead of parsing the `producer_summary` log line. Written whole or not at all.
    #[arg(long, env = "PRODUCER_SUMMARY_FILE")]
    pub summary_file: Option<PathBuf>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        Ok(rate) => Err(format!("rate must be 0 (as fast as possible) or a positive number of orders/s, got {rate}")),
        Err(_) => Err(format!("rate must be a number of orders per second, got '{s}'")),
    }
}

impl ProducerSettings {
    /// Settings with every default and the given bootstrap servers (tests, benchmarks).
    pub fn for_servers(bootstrap_servers: &str, topic: &str) -> Self {
        use clap::Parser;
        let mut settings = Self::parse_from(["order-producer"]);
        settings.kafka = KafkaArgs::new(bootstrap_servers);
        settings.topic = topic.to_owned();
        settings
    }

    /// The librdkafka configuration: idempotent, acks from all in-sync replicas
    /// ([`shared::kafka::IDEMPOTENT_PRODUCER`]), compressed, Java-compatible key partitioning, and metadata refreshed
    /// often enough that new partitions are used without a restart.
    ///
    /// # Errors
    /// When a pass-through property tries to override a protected one.
    pub fn client_config(&self, client_id: &str) -> Result<ClientConfig, ProtectedProperty> {
        self.kafka.producer_config(client_id, |config| {
            config
                .set("compression.type", &self.compression)
                .set("linger.ms", self.linger.as_millis().to_string())
                // Same partition for a key as Kafka's Java client and CLI (murmur2); random only for empty keys.
                .set("partitioner", "murmur2_random")
                // A partition increase is seen within ~10 s without a restart.
                .set("topic.metadata.refresh.interval.ms", "10000")
                // At most 8 MiB of records waiting for the broker; librdkafka's default (1 GiB, 100,000 records) only
                // costs memory here (docs/benchmarks.md).
                .set("queue.buffering.max.kbytes", "8192");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_work_on_the_local_stack() {
        let s = ProducerSettings::try_parse_from(["order-producer"]).unwrap();
        assert_eq!(s.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(s.topic, "food-orders");
        assert_eq!(s.customers, 100);
        assert_eq!(s.compression, "lz4");
        let c = s.client_config("p").unwrap();
        assert_eq!(c.get("partitioner"), Some("murmur2_random"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
    }

    #[test]
    fn a_negative_rate_is_refused_with_the_reason() {
        let err = ProducerSettings::try_parse_from(["order-producer", "--rate", "-5"]).unwrap_err();
        assert!(err.to_string().contains("rate must be 0"), "{err}");
        let err = ProducerSettings::try_parse_from(["order-producer", "--rate", "fast"]).unwrap_err();
        assert!(err.to_string().contains("orders per second"), "{err}");
    }

    #[test]
    fn flags_set_count_duration_and_pool() {
        let s = ProducerSettings::try_parse_from([
            "order-producer",
            "--count",
            "500",
            "--duration",
            "1m",
            "--customers",
            "7",
            "--rate",
            "0",
            "--seed",
            "42",
        ])
        .unwrap();
        assert_eq!(s.count, Some(500));
        assert_eq!(s.duration, Some(Duration::from_secs(60)));
        assert_eq!(s.customers, 7);
        assert_eq!(s.rate, 0.0);
        assert_eq!(s.seed, Some(42));
        assert_eq!(s.summary_file, None);
        let s = ProducerSettings::try_parse_from(["order-producer", "--summary-file", "/tmp/s.json"]).unwrap();
        assert_eq!(s.summary_file, Some(PathBuf::from("/tmp/s.json")));
        assert!(ProducerSettings::try_parse_from(["order-producer", "--customers", "0"]).is_err());
        assert!(ProducerSettings::try_parse_from(["order-producer", "--compression", "brotli"]).is_err());
    }
}
