//! Kafka connection settings shared by both binaries: bootstrap servers and librdkafka pass-through properties.
//!
//! Any librdkafka property can be passed with `--kafka-property KEY=VALUE` (or `KAFKA_PROPERTIES=k=v,k=v`), which
//! is how SASL and TLS are configured. Values of keys that look secret are never printed. The SASL password may
//! come from a file instead (`KAFKA_SASL_PASSWORD_FILE`), so it need not sit in the environment; see
//! docs/security.md.

use std::fmt;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::{Client, ClientContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::secret::Secret;

/// One `KEY=VALUE` librdkafka property given on the command line or in `KAFKA_PROPERTIES`.
#[derive(Clone, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
}

impl Property {
    /// Whether the value must stay out of logs (passwords, keys, tokens).
    pub fn is_secret(&self) -> bool {
        let key = self.key.to_ascii_lowercase();
        ["password", "secret", "token", "key.pem", "sasl.jaas"].iter().any(|s| key.contains(s))
    }
}

impl fmt::Debug for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_secret() { write!(f, "{}=***", self.key) } else { write!(f, "{}={}", self.key, self.value) }
    }
}

/// Parses `KEY=VALUE`; used by clap.
///
/// # Errors
/// When there is no `=` or the key is empty.
pub fn parse_property(s: &str) -> Result<Property, String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok(Property { key: key.trim().to_owned(), value: value.to_owned() })
        }
        _ => Err(format!("expected KEY=VALUE (a librdkafka property), got '{s}'")),
    }
}

/// Connection arguments every Kafka client of this project takes.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = crate::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,

    /// Extra librdkafka property KEY=VALUE (SASL, TLS, tuning); repeat the flag, or comma-separate in the variable.
    #[arg(long = "kafka-property", env = "KAFKA_PROPERTIES", value_delimiter = ',', value_parser = parse_property,
          hide_env_values = true)]
    pub properties: Vec<Property>,

    /// File holding the SASL password (`sasl.password`), e.g. a Docker secret; its trailing line break is dropped.
    /// Keeps the password out of the environment and the process list; it wins over a `sasl.password` property.
    #[arg(long = "kafka-sasl-password-file", env = "KAFKA_SASL_PASSWORD_FILE", value_name = "PATH",
          value_parser = crate::secret::read_secret_file)]
    pub sasl_password: Option<Secret>,
}

/// Properties the pipeline's guarantees rest on: a pass-through value for them is refused, not silently applied.
pub const PROTECTED: &[&str] = &["enable.auto.commit", "enable.auto.offset.store", "group.id", "enable.idempotence"];

/// What every producer of the pipeline sets (the order producer and the consumer's dead-letter producer): idempotent,
/// so librdkafka's retries can neither duplicate nor reorder a record, and acknowledged by all in-sync replicas, so an
/// acknowledged record survives the loss of its leader. `enable.idempotence` is also [`PROTECTED`].
pub const IDEMPOTENT_PRODUCER: &[(&str, &str)] = &[("enable.idempotence", "true"), ("acks", "all")];

/// A pass-through property that would break the pipeline's guarantees.
#[derive(Debug, thiserror::Error)]
#[error("librdkafka property '{0}' is set by the pipeline itself and cannot be overridden")]
pub struct ProtectedProperty(pub String);

impl KafkaArgs {
    /// Args for the given servers and no extra properties (tests, benchmarks).
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self { bootstrap_servers: bootstrap_servers.into(), properties: Vec::new(), sasl_password: None }
    }

    /// A librdkafka configuration with the bootstrap servers, `client.id`, then the pass-through properties.
    ///
    /// # Errors
    /// When a pass-through property is one of [`PROTECTED`].
    pub fn client_config(&self, client_id: &str) -> Result<ClientConfig, ProtectedProperty> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers).set("client.id", client_id);
        self.apply_properties(&mut config)?;
        Ok(config)
    }

    /// A producer's librdkafka configuration: the bootstrap servers, `client.id`, [`IDEMPOTENT_PRODUCER`], then the
    /// producer's `own` settings, then the pass-through properties (which may override its own settings, not the
    /// protected ones).
    ///
    /// # Errors
    /// When a pass-through property is one of [`PROTECTED`].
    pub fn producer_config(
        &self,
        client_id: &str,
        own: impl FnOnce(&mut ClientConfig),
    ) -> Result<ClientConfig, ProtectedProperty> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers).set("client.id", client_id);
        for (key, value) in IDEMPOTENT_PRODUCER {
            config.set(*key, *value);
        }
        own(&mut config);
        self.apply_properties(&mut config)?;
        Ok(config)
    }

    /// Applies the pass-through properties on top of `config`.
    ///
    /// # Errors
    /// When a pass-through property is one of [`PROTECTED`].
    pub fn apply_properties(&self, config: &mut ClientConfig) -> Result<(), ProtectedProperty> {
        for p in &self.properties {
            if PROTECTED.contains(&p.key.as_str()) {
                return Err(ProtectedProperty(p.key.clone()));
            }
            config.set(&p.key, &p.value);
        }
        if let Some(password) = &self.sasl_password {
            config.set("sasl.password", password.expose());
        }
        Ok(())
    }
}

/// Why a client cannot start on its topic.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// No broker answered within the connect timeout.
    #[error("cannot reach Kafka at {servers} within {timeout:?}: is the broker running? (scripts/stack.sh up)")]
    Unreachable { servers: String, timeout: Duration },
    /// The topic does not exist, and the broker does not create topics on demand.
    #[error("topic '{0}' does not exist: create it (scripts/stack.sh up, or scripts/kafka.sh kafka-topics --create)")]
    Missing(String),
}

/// Asks the broker for `topic`'s metadata, so a client fails at start with one clear line when the broker is
/// unreachable or the topic is missing. Blocking: call it from `spawn_blocking`.
///
/// # Errors
/// [`TopicError`].
pub fn check_topic<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    servers: &str,
    timeout: Duration,
) -> Result<(), TopicError> {
    let metadata = client.fetch_metadata(Some(topic), timeout).map_err(|error| match error {
        KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition) => TopicError::Missing(topic.to_owned()),
        _ => TopicError::Unreachable { servers: servers.to_owned(), timeout },
    })?;
    let found =
        metadata.topics().iter().any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
    if found { Ok(()) } else { Err(TopicError::Missing(topic.to_owned())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_parses_key_and_value_with_equals_in_value() {
        let p = parse_property("sasl.jaas.config=a=b").unwrap();
        assert_eq!((p.key.as_str(), p.value.as_str()), ("sasl.jaas.config", "a=b"));
        assert!(parse_property("no-equals").is_err());
        assert!(parse_property("=value").is_err());
    }

    #[test]
    fn secret_values_are_not_printed() {
        let p = parse_property("sasl.password=hunter2").unwrap();
        assert_eq!(format!("{p:?}"), "sasl.password=***");
        let q = parse_property("ssl.key.password=hunter2").unwrap();
        assert!(!format!("{q:?}").contains("hunter2"));
        let plain = parse_property("linger.ms=5").unwrap();
        assert_eq!(format!("{plain:?}"), "linger.ms=5");
    }

    #[test]
    fn protected_properties_are_refused() {
        let mut args = KafkaArgs::new("127.0.0.1:9092");
        args.properties.push(parse_property("enable.auto.commit=true").unwrap());
        let err = args.client_config("c").unwrap_err();
        assert!(err.to_string().contains("enable.auto.commit"));
    }

    #[test]
    fn a_producer_is_idempotent_whatever_the_pass_through_properties_say() {
        let mut args = KafkaArgs::new("127.0.0.1:9092");
        args.properties.push(parse_property("linger.ms=20").unwrap());
        let config = args
            .producer_config("p-1", |c| {
                c.set("linger.ms", "5").set("compression.type", "lz4");
            })
            .unwrap();
        assert_eq!(config.get("enable.idempotence"), Some("true"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("client.id"), Some("p-1"));
        assert_eq!(config.get("compression.type"), Some("lz4"));
        assert_eq!(config.get("linger.ms"), Some("20"), "a pass-through property overrides the producer's own");
        args.properties.push(parse_property("enable.idempotence=false").unwrap());
        let err = args.producer_config("p-1", |_| {}).unwrap_err();
        assert!(err.to_string().contains("enable.idempotence"), "{err}");
    }

    #[test]
    fn pass_through_properties_reach_the_client_config() {
        let mut args = KafkaArgs::new("127.0.0.1:9092");
        args.properties.push(parse_property("security.protocol=SASL_SSL").unwrap());
        let config = args.client_config("c-1").unwrap();
        assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(config.get("client.id"), Some("c-1"));
    }

    #[test]
    fn the_sasl_password_file_wins_over_a_property_and_stays_out_of_debug_output() {
        let mut args = KafkaArgs::new("127.0.0.1:9092");
        args.properties.push(parse_property("sasl.password=from-env").unwrap());
        args.sasl_password = Some(Secret::new("from-file"));
        let config = args.client_config("c").unwrap();
        assert_eq!(config.get("sasl.password"), Some("from-file"));
        assert!(!format!("{args:?} {config:?}").contains("from-"), "{args:?} {config:?}");
    }
}
