//! Pieces the producer and the consumer share, so both sides agree on them by construction.
//!
//! # Layout
//! - [`order`]: the order event, its JSON wire format (with a schema version) and its validation.
//! - [`client_id`]: the `{base}-{hostname}-{uuid8}` client id every Kafka client of this project uses.
//! - [`database`]: `DATABASE_URL` as one settings type, its default written once.
//! - [`duration`]: the parsers of durations on the command line (the `…_MS` options).
//! - [`kafka`]: bootstrap servers and librdkafka pass-through properties, shared command-line arguments.
//! - [`metrics`]: the `/metrics`, `/healthz` and `/readyz` server both binaries run on `METRICS_ADDR`.
//! - [`secret`]: a wrapper that keeps passwords out of `Debug` output and logs.
//! - [`shutdown`]: the SIGINT/SIGTERM future the binaries pass to their `run`.
//! - [`telemetry`]: tracing set-up for the binaries.

// Every [dependencies] entry is used by the library (cargo-machete cannot see one used only by tests).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod client_id;
pub mod database;
pub mod duration;
pub mod kafka;
pub mod metrics;
pub mod order;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

/// Topic the producer writes orders to and the consumer group reads from.
pub const ORDERS_TOPIC: &str = "food-orders";
/// Topic that receives every message the consumer can never store.
pub const DLQ_TOPIC: &str = "food-orders.dlq";
/// Consumer group of every `order-consumer`.
pub const CONSUMER_GROUP: &str = "order-processors";
/// Default Kafka bootstrap servers: the local stack (and the compose stack's host listener).
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";
/// Default database URL: the local stack's (and the compose stack's, from the host), owned by `kafka_user`.
pub const DEFAULT_DATABASE_URL: &str = "postgres://kafka_user:kafka_pass@127.0.0.1:5432/food_orders";
