//! `order-producer`: generates mock food orders and sends them to Kafka, keyed by `customer_id`.
//!
//! # Layout
//! - [`config`]: every option, as a flag and an environment variable, mapped onto librdkafka properties.
//! - [`delivery`]: what librdkafka reports back: every delivery report counted, the brokers it cannot reach noted.
//! - [`events`]: every observable event as a type that logs it and updates the metrics `/metrics` serves.
//! - [`generator`]: reproducible mock orders (and optional status updates) from the `fake` crate.
//! - [`send`]: the send loop: paced, pipelined, every delivery report counted; progress lines.
//! - [`stall`]: noticing that acknowledgements stopped (brokers down, NotEnoughReplicas), and saying why.
//! - [`summary`]: what a run did: the final `producer_summary` log line and the `--summary-file` JSON.

// Every [dependencies] entry is used by the library (cargo-machete cannot see one used only by tests).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod config;
pub mod delivery;
pub mod events;
pub mod generator;
pub mod send;
pub mod stall;
pub mod summary;

pub use config::ProducerSettings;
pub use send::{ProducerError, run};
pub use summary::Summary;
