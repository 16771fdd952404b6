//! `order-producer`: generates mock food orders and sends them to Kafka, keyed by `customer_id`.
//!
//! # Layout
//! - [`config`]: every option, as a flag and an environment variable, mapped onto librdkafka properties.
//! - [`generator`]: reproducible mock orders (and optional status updates) from the `fake` crate.
//! - [`send`]: the send loop: paced, pipelined, every delivery report counted; progress lines and a final summary.

pub mod config;
pub mod generator;
pub mod send;

pub use config::ProducerSettings;
pub use send::{ProducerError, Summary, run};
