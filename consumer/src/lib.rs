//! `order-consumer`: a member of consumer group `order-processors` that upserts food orders into Postgres.
//!
//! # Layout
//! The modules follow the data: Kafka → decode → batch → Postgres → commit.
//! - [`config`]: every option, as a flag and an environment variable, and the librdkafka properties they become.
//! - [`source`]: the Kafka consumer, and the rebalance callbacks that log assignments and revocations and run the
//!   hook the pipeline gives them; new partitions start at the offsets the hook names.
//! - [`decode`]: a Kafka message becomes an order or a poison message with a classified reason.
//! - [`batch`]: messages collected up to `BATCH_SIZE` or `BATCH_TIMEOUT_MS`, deduplicated by `order_id`.
//! - [`store`]: one multi-row upsert per batch (with `OFFSET_STORE=postgres`, and the batch's next offsets, in one
//!   transaction); database errors sorted into transient and rejected.
//! - [`pool`]: the database connection set up (as the working role, migrated as the owner, privileges checked) and
//!   closed; apart from the hot path.
//! - [`writer`]: one batch written: dead letters, then rows, then offsets done.
//! - [`roles`]: the Postgres roles the consumer works and migrates as, passwords from URLs or files.
//! - [`dead_letter`]: poison messages go to `food-orders.dlq` with headers saying where they came from and why.
//! - [`offsets`]: **the commit rule**: which offsets may be committed, and when; every commit is made here. With
//!   `OFFSET_STORE=postgres`, also where newly assigned partitions start.
//! - [`rebalance`]: the hook the source runs before a revocation completes: the held batch written, then the leaving
//!   partitions committed; with `OFFSET_STORE=postgres`, the stored offsets read before an assignment; and the
//!   runtime check that makes those database calls possible.
//! - [`pipeline`]: the loop that ties them together, with retry, pause and shutdown.
//! - [`events`]: every observable event as a type that logs it and updates the metrics `/metrics` serves.
//! - [`health`]: what `/readyz` answers: the database reachable and this process a group member.

// Every [dependencies] entry is used by the library (cargo-machete cannot see one used only by tests), except the
// allocator, which only the binary installs (src/main.rs).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
use tikv_jemallocator as _;

pub mod batch;
pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod events;
pub mod health;
pub mod offsets;
pub mod pipeline;
pub mod pool;
pub mod rebalance;
pub mod roles;
pub mod source;
pub mod store;
pub mod writer;

pub use config::ConsumerSettings;
pub use pipeline::{ConsumerError, run};
