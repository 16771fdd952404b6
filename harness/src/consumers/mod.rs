//! Every `order-consumer` process the harness starts, and the one place that starts them: a consumer is
//! [`ConsumerEnv`] (what it is told, by the names of its settings) turned into a command, started by
//! [`crate::process::Process`] and stopped the same way everywhere: SIGTERM (it writes, commits and leaves the
//! group), SIGKILL after [`STOP_TIMEOUT`].
//!
//! - [`members`]: the consumers of one measuring run, children of the program that measures (slots,
//!   incarnations, CPU time and peak memory): the benchmark, the soak, the rebalance benchmark.
//! - [`fleet`]: the stack's consumers, the ones a person scales (`scripts/scale.sh`, `lab scale`), the experiment
//!   and the autoscaler demo scale and kill: on the local stack processes that outlive the command that started
//!   them, tracked in `.local/consumers/`; on the compose stack the `order-consumer` service's containers.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub mod fleet;
pub mod members;

/// How long a SIGTERMed consumer may take to write, commit and leave before it is SIGKILLed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a consumer is told, by its settings' environment variables (consumer/src/config.rs and
/// docs/configuration.md name them all). A field left `None` is not set, so the consumer takes it from the
/// environment it inherits, or its default.
#[derive(Debug, Clone, Default)]
pub struct ConsumerEnv {
    /// `KAFKA_BOOTSTRAP_SERVERS`.
    pub bootstrap_servers: Option<String>,
    /// `KAFKA_TOPIC`.
    pub topic: Option<String>,
    /// `DLQ_TOPIC`.
    pub dlq_topic: Option<String>,
    /// `CONSUMER_GROUP`.
    pub group: Option<String>,
    /// `DATABASE_URL` (it may carry a password: never printed whole).
    pub database_url: Option<String>,
    /// `CLIENT_ID_BASE`: the `{base}` of the client id `{base}-{hostname}-{uuid8}`.
    pub client_id_base: Option<String>,
    /// `GROUP_INSTANCE_ID`: static membership.
    pub group_instance_id: Option<String>,
    /// `BATCH_SIZE`.
    pub batch_size: Option<usize>,
    /// `PROCESSING_DELAY_MS`: simulated work per order.
    pub processing_delay: Option<Duration>,
    /// `SESSION_TIMEOUT_MS`.
    pub session_timeout: Option<Duration>,
    /// `RUST_LOG`.
    pub log: Option<String>,
    /// Any other setting, by its variable (`GROUP_PROTOCOL`, `ASSIGNMENT_STRATEGY`, `OFFSET_STORE`, ...), applied
    /// last.
    pub other: Vec<(String, String)>,
}

impl ConsumerEnv {
    /// The consumer of `topic` in `group`, storing into `database_url`, dead letters to `{topic}-dlq`, logging
    /// at `info`.
    pub fn new(bootstrap_servers: &str, topic: &str, group: &str, database_url: &str) -> Self {
        Self {
            bootstrap_servers: Some(bootstrap_servers.to_owned()),
            topic: Some(topic.to_owned()),
            dlq_topic: Some(format!("{topic}-dlq")),
            group: Some(group.to_owned()),
            database_url: Some(database_url.to_owned()),
            log: Some("info".to_owned()),
            ..Self::default()
        }
    }

    /// The same with one more setting by its variable (`GROUP_PROTOCOL=consumer`).
    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.other.push((key.to_owned(), value.to_string()));
        self
    }

    /// This, with every setting `over` sets replacing this one's (a run's consumers with a batch size of their own).
    pub fn overridden_by(&self, over: &ConsumerEnv) -> ConsumerEnv {
        fn pick<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
            over.clone().or_else(|| base.clone())
        }
        ConsumerEnv {
            bootstrap_servers: pick(&over.bootstrap_servers, &self.bootstrap_servers),
            topic: pick(&over.topic, &self.topic),
            dlq_topic: pick(&over.dlq_topic, &self.dlq_topic),
            group: pick(&over.group, &self.group),
            database_url: pick(&over.database_url, &self.database_url),
            client_id_base: pick(&over.client_id_base, &self.client_id_base),
            group_instance_id: pick(&over.group_instance_id, &self.group_instance_id),
            batch_size: pick(&over.batch_size, &self.batch_size),
            processing_delay: pick(&over.processing_delay, &self.processing_delay),
            session_timeout: pick(&over.session_timeout, &self.session_timeout),
            log: pick(&over.log, &self.log),
            other: self.other.iter().chain(&over.other).cloned().collect(),
        }
    }

    /// The variables this sets, in the order they are applied.
    pub fn vars(&self) -> Vec<(String, String)> {
        let millis = |d: &Duration| d.as_millis().to_string();
        let typed = [
            ("KAFKA_BOOTSTRAP_SERVERS", self.bootstrap_servers.clone()),
            ("KAFKA_TOPIC", self.topic.clone()),
            ("DLQ_TOPIC", self.dlq_topic.clone()),
            ("CONSUMER_GROUP", self.group.clone()),
            ("DATABASE_URL", self.database_url.clone()),
            ("CLIENT_ID_BASE", self.client_id_base.clone()),
            ("GROUP_INSTANCE_ID", self.group_instance_id.clone()),
            ("BATCH_SIZE", self.batch_size.map(|n| n.to_string())),
            ("PROCESSING_DELAY_MS", self.processing_delay.as_ref().map(millis)),
            ("SESSION_TIMEOUT_MS", self.session_timeout.as_ref().map(millis)),
            ("RUST_LOG", self.log.clone()),
        ];
        typed.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).chain(self.other.iter().cloned()).collect()
    }

    /// `binary` (an `order-consumer` build) with these variables added to the environment it inherits.
    pub fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command.envs(self.vars());
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_is_set_reaches_the_consumer_and_the_rest_comes_last() {
        let mut env =
            ConsumerEnv::new("127.0.0.1:9092", "t", "g", "postgres://u:p@h/d").with("OFFSET_STORE", "postgres");
        env.batch_size = Some(20);
        env.processing_delay = Some(Duration::from_millis(5));
        let vars = env.vars();
        let keys: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "KAFKA_BOOTSTRAP_SERVERS",
                "KAFKA_TOPIC",
                "DLQ_TOPIC",
                "CONSUMER_GROUP",
                "DATABASE_URL",
                "BATCH_SIZE",
                "PROCESSING_DELAY_MS",
                "RUST_LOG",
                "OFFSET_STORE"
            ]
        );
        assert!(vars.contains(&("DLQ_TOPIC".to_owned(), "t-dlq".to_owned())));
        assert!(vars.contains(&("PROCESSING_DELAY_MS".to_owned(), "5".to_owned())));
        assert!(ConsumerEnv::default().vars().is_empty());
        let over = ConsumerEnv { batch_size: Some(500), ..ConsumerEnv::default() }.with("GROUP_PROTOCOL", "consumer");
        let both = env.overridden_by(&over).vars();
        assert!(both.contains(&("BATCH_SIZE".to_owned(), "500".to_owned())), "{both:?}");
        assert!(both.contains(&("KAFKA_TOPIC".to_owned(), "t".to_owned())), "{both:?}");
        assert_eq!(both.last(), Some(&("GROUP_PROTOCOL".to_owned(), "consumer".to_owned())));
    }
}
