//! The peer a user would pick instead of `order-consumer`: Kafka Connect (standalone, from the Kafka jars the stack
//! already fetched) with Debezium's JDBC sink connector in upsert mode, writing the same orders into the same
//! `orders` table of the same Postgres.
//!
//! The connector maps a record's fields to columns only when the record carries a schema, so the orders are first
//! copied to a topic of their own as Kafka Connect's JSON with an inline schema ([`envelope`]): same key, same
//! partition, same order, one field per column of `orders`. The copy is not timed against the peer; what it costs
//! (bytes per record, the copy's rate) is recorded beside the peer's figures.
//!
//! One Connect worker runs for all the peer's runs; each run is a connector of its own (its own consumer group,
//! `connect-<name>`) made through the worker's REST API into a fresh database, and deleted once every order is a
//! row. Its rate is measured as the consumer's is: rows ÷ (last − first `processed_at`), the column's default
//! `clock_timestamp()` stamping each row as it is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{Value, json};
use shared::order::OrderEvent;

use harness::process::{Exit, Process};
use harness::stack::Stack;

/// Debezium's JDBC sink connector, as Maven Central serves its Kafka Connect plugin archive (pinned).
pub const CONNECTOR_ARTIFACT: &str = "io.debezium:debezium-connector-jdbc:3.3.1.Final:tar.gz:plugin";
/// Its connector class.
const CONNECTOR_CLASS: &str = "io.debezium.connector.jdbc.JdbcSinkConnector";
/// The worker's REST API (loopback only).
const REST: &str = "127.0.0.1:18083";
/// How long the worker may take to answer and list the connector.
const WORKER_START: Duration = Duration::from_secs(120);

/// The settings of one peer run: the connector's defaults but for the tasks, or the tuned set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub tasks: usize,
    /// `batch.size` and the task's `max.poll.records` (Debezium's docs: a poll smaller than the batch caps it),
    /// with the PostgreSQL driver's `reWriteBatchedInserts=true` (its docs' advice for batches: one multi-row
    /// statement instead of one per row); `None`: the defaults (500 and 500, no rewrite).
    pub batch: Option<u32>,
}

/// The tuned set's batch: the size the connector's docs tell to raise, and the poll with it.
pub const TUNED_BATCH: u32 = 2_000;

impl Settings {
    /// The connector's configuration for `topic` into database `url` (a `postgres://` URL with user and password).
    ///
    /// # Errors
    /// When the URL is not one.
    pub fn connector_config(self, topic: &str, url: &str) -> anyhow::Result<Value> {
        let jdbc = Jdbc::from_url(url)?;
        let connection = match self.batch {
            Some(_) => format!("{}?reWriteBatchedInserts=true", jdbc.url),
            None => jdbc.url,
        };
        let mut config = json!({
            "connector.class": CONNECTOR_CLASS,
            "tasks.max": self.tasks.to_string(),
            "topics": topic,
            "connection.url": connection,
            "connection.username": jdbc.user,
            "connection.password": jdbc.password,
            "insert.mode": "upsert",
            "primary.key.mode": "record_value",
            "primary.key.fields": "order_id",
            "collection.name.format": "orders",
            "schema.evolution": "none",
        });
        if let (Some(batch), Some(map)) = (self.batch, config.as_object_mut()) {
            map.insert("batch.size".into(), json!(batch.to_string()));
            map.insert("consumer.override.max.poll.records".into(), json!(batch.to_string()));
        }
        Ok(config)
    }
}

/// A Postgres URL as JDBC takes it: the URL without credentials, and the credentials apart.
struct Jdbc {
    url: String,
    user: String,
    password: String,
}

impl Jdbc {
    fn from_url(url: &str) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url).context("the database URL is not a URL")?;
        let host = parsed.host_str().context("the database URL has no host")?;
        let port = parsed.port().unwrap_or(5432);
        let database = parsed.path().trim_start_matches('/');
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        Ok(Self {
            url: format!("jdbc:postgresql://{host}:{port}/{database}"),
            user: decode(parsed.username()),
            password: decode(parsed.password().unwrap_or_default()),
        })
    }
}

/// The inline schema of every converted record: one field per column of `orders` that a message fills (all but
/// `processed_at`, which the column's default stamps). Debezium's semantic types tell the connector to bind the
/// strings as `uuid`, `jsonb` and `timestamptz`.
fn schema() -> Value {
    let field = |name: &str, kind: &str| json!({"field": name, "type": kind, "optional": false});
    let named = |name: &str, semantic: &str| json!({"field": name, "type": "string", "optional": false, "name": semantic, "version": 1});
    json!({
        "type": "struct",
        "name": "food_orders.order",
        "optional": false,
        "fields": [
            named("order_id", "io.debezium.data.Uuid"),
            field("customer_id", "string"),
            field("customer_name", "string"),
            field("restaurant", "string"),
            named("items", "io.debezium.data.Json"),
            field("total_amount", "double"),
            field("status", "string"),
            named("created_at", "io.debezium.time.ZonedTimestamp"),
            field("customer_seq", "int64"),
            field("version", "int32"),
            field("kafka_partition", "int32"),
            field("kafka_offset", "int64"),
            named("produced_at", "io.debezium.time.ZonedTimestamp"),
            field("processed_by", "string"),
        ],
    })
}

/// Where a record was read: what `order-consumer` stores beside the order.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp (CreateTime, ms since the epoch).
    pub timestamp_ms: i64,
}

/// One order as Kafka Connect's JSON with its schema inline (`value.converter.schemas.enable=true`).
///
/// # Errors
/// When `order` is not an order, or the timestamp is out of range.
pub fn envelope(schema: &str, order: &[u8], source: Source) -> anyhow::Result<String> {
    let order: OrderEvent = serde_json::from_slice(order).context("not an order")?;
    let produced = chrono::DateTime::from_timestamp_millis(source.timestamp_ms).context("timestamp out of range")?;
    let amount: f64 = order.total_amount.try_into().context("total_amount")?;
    let payload = json!({
        "order_id": order.order_id.to_string(),
        "customer_id": order.customer_id,
        "customer_name": order.customer_name,
        "restaurant": order.restaurant,
        "items": serde_json::to_string(&order.items)?,
        "total_amount": amount,
        "status": order.status.as_str(),
        "created_at": order.created_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "customer_seq": order.customer_seq,
        "version": order.version,
        "kafka_partition": source.partition,
        "kafka_offset": source.offset,
        "produced_at": produced.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "processed_by": "kafka-connect",
    });
    Ok(format!("{{\"schema\":{schema},\"payload\":{payload}}}"))
}

/// What copying a topic as Kafka Connect's JSON cost.
#[derive(Debug, Clone, Copy)]
pub struct Copied {
    pub records: u64,
    /// Mean bytes of a copied record's value.
    pub record_bytes: u64,
    pub seconds: f64,
}

/// Copies every record of `source` (its `partitions` partitions, up to their end now) to `target`, partition for
/// partition, key for key, each value as [`envelope`]; waits until the broker acknowledged them all.
///
/// # Errors
/// When a client cannot be made, a record is not an order, or the copy does not end within 10 minutes.
pub fn copy_as_connect_json(bootstrap: &str, source: &str, target: &str, partitions: i32) -> anyhow::Result<Copied> {
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{target}-copier"))
        .set("enable.auto.commit", "false")
        .create()
        .context("Kafka consumer for the copy")?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("batch.size", "1000000")
        .create()
        .context("Kafka producer for the copy")?;
    let mut ends = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(source, partition, Duration::from_secs(10))?;
        if high > low {
            ends.insert(partition, high);
            assignment.add_partition_offset(source, partition, Offset::Beginning)?;
        }
    }
    consumer.assign(&assignment)?;
    let schema = schema().to_string();
    let deadline = started + Duration::from_secs(600);
    let (mut records, mut bytes) = (0_u64, 0_u64);
    while !ends.is_empty() {
        if Instant::now() > deadline {
            bail!("copying {source} to {target}: partitions {:?} not at their end within 10 minutes", ends.keys());
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = message?;
        let source_of = Source {
            partition: message.partition(),
            offset: message.offset(),
            timestamp_ms: message.timestamp().to_millis().unwrap_or_default(),
        };
        let value = envelope(&schema, message.payload().unwrap_or_default(), source_of)
            .with_context(|| format!("{source} partition {} offset {}", source_of.partition, source_of.offset))?;
        let mut record = BaseRecord::<[u8], str>::to(target).payload(&value).partition(source_of.partition);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        let mut pending = record;
        loop {
            match producer.send(pending) {
                Ok(()) => break,
                Err((error, back))
                    if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    pending = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => return Err(error).context("copying a record"),
            }
        }
        records += 1;
        bytes += value.len() as u64;
        if ends.get(&source_of.partition).is_some_and(|&end| source_of.offset + 1 >= end) {
            ends.remove(&source_of.partition);
        }
    }
    producer.flush(Duration::from_secs(60)).context("the copy's last records were not acknowledged")?;
    Ok(Copied {
        records,
        record_bytes: bytes.checked_div(records).unwrap_or(0),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The folder the connector's plugin is unpacked into (the worker's `plugin.path`).
pub fn plugin_path(local: &Path) -> PathBuf {
    local.join("connect/plugins")
}

/// Unpacks [`CONNECTOR_ARTIFACT`] from Maven Central into [`plugin_path`] unless it is there.
///
/// # Errors
/// When Maven is missing or fails.
pub async fn fetch_plugin(local: &Path) -> anyhow::Result<PathBuf> {
    let plugins = plugin_path(local);
    let unpacked = plugins.join("debezium-connector-jdbc");
    if unpacked.is_dir() {
        return Ok(plugins);
    }
    std::fs::create_dir_all(&plugins).with_context(|| format!("cannot create {}", plugins.display()))?;
    let args = [
        "-q".to_owned(),
        "-B".to_owned(),
        "dependency:unpack".to_owned(),
        format!("-Dartifact={CONNECTOR_ARTIFACT}"),
        format!("-DoutputDirectory={}", plugins.display()),
    ];
    eprintln!("$ mvn {}", args.join(" "));
    // Outside a project Maven writes its unpack markers under a literal `${project.basedir}/` of its working
    // folder: `.local/connect/`, beside the plugins rather than in the repository or among them.
    let status = tokio::process::Command::new("mvn")
        .args(&args)
        .current_dir(local.join("connect"))
        .stdin(Stdio::null())
        .status()
        .await
        .context("Maven (mvn) not found: it fetches the JDBC sink connector from Maven Central")?;
    if !status.success() || !unpacked.is_dir() {
        bail!("mvn dependency:unpack {CONNECTOR_ARTIFACT} failed ({status}); no {}", unpacked.display());
    }
    Ok(plugins)
}

/// A Kafka Connect worker, standalone, with its REST API on [`REST`].
pub struct Worker {
    process: Process,
    http: reqwest::Client,
}

impl Worker {
    /// Starts the worker from the stack's Kafka jars, as Kafka's `connect-standalone.sh` would (its heap settings
    /// too), with no connector; waits until its REST API lists the JDBC sink connector.
    ///
    /// # Errors
    /// When it cannot be started, exits, or does not list the connector within two minutes.
    pub async fn start(stack: &Stack, plugins: &Path, work: &Path) -> anyhow::Result<Self> {
        let properties = work.join("connect-worker.properties");
        let lines = [
            format!("bootstrap.servers={}", stack.bootstrap),
            "key.converter=org.apache.kafka.connect.storage.StringConverter".to_owned(),
            "value.converter=org.apache.kafka.connect.json.JsonConverter".to_owned(),
            "value.converter.schemas.enable=true".to_owned(),
            format!("offset.storage.file.filename={}", work.join("connect.offsets").display()),
            // Sink tasks commit their consumer offsets at this interval (default 60 s); the benchmark waits on the
            // committed offsets, as it does for order-consumer, so it would wait up to a minute for nothing.
            "offset.flush.interval.ms=1000".to_owned(),
            format!("plugin.path={}", plugins.display()),
            format!("listeners=http://{REST}"),
        ];
        std::fs::write(&properties, lines.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", properties.display()))?;
        let lib = stack.root.join("stack/kafka/lib");
        let mut command = tokio::process::Command::new("java");
        command
            .args(["-Xms256M", "-Xmx2G", "-XX:+UseG1GC"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                stack.root.join("stack/kafka/connect-log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg("org.apache.kafka.connect.cli.ConnectStandalone")
            .arg(&properties);
        let process = Process::start("the Kafka Connect worker", command.into_std(), &work.join("connect-worker.log"))?;
        let mut worker = Self { process, http: reqwest::Client::new() };
        let listed =
            harness::wait::wait_ok("the Kafka Connect worker listing the JDBC sink", WORKER_START, async || {
                if let Ok(Some(exit)) = worker.process.try_exit() {
                    return Ok(Err(format!("it exited: {}", exit.describe())));
                }
                let plugins: Vec<Value> = match worker.get("/connector-plugins").await {
                    Ok(v) => serde_json::from_value(v).map_err(|e| e.to_string())?,
                    Err(e) => return Err(format!("{e:#}")),
                };
                let has = plugins.iter().any(|p| p.get("class").and_then(Value::as_str) == Some(CONNECTOR_CLASS));
                if has { Ok(Ok(())) } else { Err(format!("its plugins: {plugins:?}")) }
            })
            .await;
        match listed {
            Ok((Ok(()), took)) => {
                eprintln!(
                    "==> Kafka Connect worker ready in {:.1} s (pid {})",
                    took.as_secs_f64(),
                    worker.process.pid()
                );
                Ok(worker)
            }
            Ok((Err(exited), _)) => {
                bail!("the Kafka Connect worker {exited}; see {}", work.join("connect-worker.log").display())
            }
            Err(error) => {
                worker.stop().await.ok();
                Err(error.context(format!("see {}", work.join("connect-worker.log").display())))
            }
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self.http.get(format!("http://{REST}{path}")).timeout(Duration::from_secs(10)).send().await?;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await?)?;
        if !status.is_success() {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    /// Creates connector `name` with `config`.
    ///
    /// # Errors
    /// When the worker refuses it.
    pub async fn create(&self, name: &str, config: Value) -> anyhow::Result<()> {
        let body = json!({"name": name, "config": config});
        let response = self
            .http
            .post(format!("http://{REST}/connectors"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("the worker refused connector {name}: {status} {text}");
        }
        Ok(())
    }

    /// `Err` with the worker's trace when the connector or one of its tasks has failed; `Ok` otherwise.
    ///
    /// # Errors
    /// A failed connector or task.
    pub async fn healthy(&self, name: &str) -> anyhow::Result<()> {
        let Ok(status) = self.get(&format!("/connectors/{name}/status")).await else { return Ok(()) };
        let failed = std::iter::once(&status["connector"])
            .chain(status["tasks"].as_array().into_iter().flatten())
            .find(|s| s["state"] == "FAILED");
        match failed {
            Some(state) => bail!("connector {name} failed: {}", state["trace"].as_str().unwrap_or("(no trace)")),
            None => Ok(()),
        }
    }

    /// Deletes connector `name` (its tasks stop; its consumer group stays).
    ///
    /// # Errors
    /// When the worker does not answer.
    pub async fn delete(&self, name: &str) -> anyhow::Result<()> {
        self.http
            .delete(format!("http://{REST}/connectors/{name}"))
            .timeout(Duration::from_secs(60))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// SIGTERM, SIGKILL after 30 s; its exit, with its peak RSS.
    ///
    /// # Errors
    /// When a signal cannot be sent.
    pub async fn stop(mut self) -> anyhow::Result<Exit> {
        self.process.stop(Duration::from_secs(30)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"{"schema_version":1,"order_id":"0b4f8a3e-5a1c-4d5e-9f00-1234567890ab","customer_id":"CUST-00042","customer_name":"Ada Lovelace","restaurant":"Noodle Bar","items":[{"name":"Ramen","quantity":2,"unit_price":12.5}],"total_amount":25.0,"status":"placed","created_at":"2026-12-07T12:00:00.123456Z","customer_seq":7,"version":1}"#;

    #[test]
    fn an_order_becomes_connect_json_with_one_field_per_column() {
        let schema = schema().to_string();
        let source = Source { partition: 2, offset: 41, timestamp_ms: 1_796_644_800_500 };
        let record: Value = serde_json::from_str(&envelope(&schema, ORDER.as_bytes(), source).unwrap()).unwrap();
        let payload = &record["payload"];
        assert_eq!(payload["order_id"], "0b4f8a3e-5a1c-4d5e-9f00-1234567890ab");
        assert_eq!(payload["items"], r#"[{"name":"Ramen","quantity":2,"unit_price":12.5}]"#);
        assert_eq!(payload["total_amount"], 25.0);
        assert_eq!(payload["created_at"], "2026-12-07T12:00:00.123456Z");
        assert_eq!((payload["kafka_partition"].as_i64(), payload["kafka_offset"].as_i64()), (Some(2), Some(41)));
        assert_eq!(payload["produced_at"], "2026-12-07T12:00:00.500Z");
        // Every field of the payload is in the schema, in the order of the table's columns.
        let fields: Vec<&str> =
            record["schema"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
        let keys: Vec<&str> = payload.as_object().unwrap().keys().map(String::as_str).collect();
        let (mut sorted_fields, mut sorted_keys) = (fields.clone(), keys);
        sorted_fields.sort_unstable();
        sorted_keys.sort_unstable();
        assert_eq!(sorted_fields, sorted_keys);
        assert_eq!(fields.first(), Some(&"order_id"));
    }

    #[test]
    fn a_message_that_is_not_an_order_is_refused() {
        let source = Source { partition: 0, offset: 0, timestamp_ms: 0 };
        let error = envelope("{}", b"not json", source).unwrap_err();
        assert!(format!("{error:#}").contains("not an order"), "{error:#}");
    }

    #[test]
    fn the_defaults_leave_batch_poll_and_driver_alone_and_the_tuned_set_changes_them() {
        let url = "postgres://kafka_user:p%40ss@127.0.0.1:5432/bench_1_peer";
        let defaults = Settings { tasks: 1, batch: None }.connector_config("t", url).unwrap();
        assert_eq!(defaults["connection.url"], "jdbc:postgresql://127.0.0.1:5432/bench_1_peer");
        assert_eq!(
            (defaults["connection.username"].as_str(), defaults["connection.password"].as_str()),
            (Some("kafka_user"), Some("p@ss"))
        );
        assert_eq!(defaults["tasks.max"], "1");
        assert!(defaults.get("batch.size").is_none() && defaults.get("consumer.override.max.poll.records").is_none());
        let tuned = Settings { tasks: 3, batch: Some(TUNED_BATCH) }.connector_config("t", url).unwrap();
        assert_eq!((tuned["tasks.max"].as_str(), tuned["batch.size"].as_str()), (Some("3"), Some("2000")));
        assert_eq!(tuned["consumer.override.max.poll.records"], "2000");
        assert_eq!(tuned["connection.url"], "jdbc:postgresql://127.0.0.1:5432/bench_1_peer?reWriteBatchedInserts=true");
    }
}
