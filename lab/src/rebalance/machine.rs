//! Where the figures were measured: the machine, the versions, and the broker's group settings as the running
//! broker reports them (KIP-848 groups take their session timeout and assignor from there, not from the client).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use serde::Serialize;
use sqlx::PgPool;

/// Broker settings that decide how KIP-848 (and classic) groups rebalance.
const BROKER_KEYS: &[&str] = &[
    "group.consumer.session.timeout.ms",
    "group.consumer.min.session.timeout.ms",
    "group.consumer.heartbeat.interval.ms",
    "group.consumer.assignors",
    "group.initial.rebalance.delay.ms",
    "group.coordinator.rebalance.protocols",
];

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_mib: u64,
    /// The Kafka version the local stack pins (stack/kafka/pom.xml).
    pub kafka: String,
    pub librdkafka: String,
    pub postgres: String,
    /// 1-minute load average when the run started (other work on the machine shows here).
    pub load_at_start: String,
    /// The broker's group settings, as it reports them.
    pub broker: BTreeMap<String, String>,
}

/// Reads the machine, the versions and the broker's group settings.
///
/// # Errors
/// When Postgres or the broker cannot be asked.
pub async fn describe(bootstrap: &str, admin_pool: &PgPool) -> anyhow::Result<Machine> {
    let host = harness::stack::Host::read();
    let load_at_start = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let postgres: String = sqlx::query_scalar("SHOW server_version").fetch_one(admin_pool).await?;
    Ok(Machine {
        cores: host.cores,
        cpu: host.cpu,
        memory_mib: host.memory_kib / 1024,
        kafka: std::env::var("KAFKA_VERSION_PIN").unwrap_or_else(|_| "unknown".to_owned()),
        librdkafka: rdkafka::util::get_rdkafka_version().1,
        postgres,
        load_at_start,
        broker: broker_settings(bootstrap).await?,
    })
}

async fn broker_settings(bootstrap: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().context("Kafka admin client")?;
    let timeout = Duration::from_secs(10);
    let metadata = admin.inner().fetch_metadata(None, timeout).context("broker metadata")?;
    let broker = metadata.brokers().first().context("no broker in the metadata")?.id();
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let described = admin.describe_configs(&[ResourceSpecifier::Broker(broker)], &options).await?;
    let resource = described.into_iter().next().context("no broker configuration")?.context("broker configuration")?;
    Ok(BROKER_KEYS
        .iter()
        .map(|key| {
            let value = resource.get(key).and_then(|e| e.value.clone()).unwrap_or_else(|| "(not reported)".to_owned());
            ((*key).to_owned(), value)
        })
        .collect())
}
