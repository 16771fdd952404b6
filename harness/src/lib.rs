//! The harness: what every program that runs the pipeline to check or measure it shares, so that starting a
//! consumer, reading the group or counting rows is written once. The consumer's integration tests, the scaling
//! experiment, the rebalance benchmark, the benchmark and the soak all use it; the product's binaries do not.
//!
//! # Layout
//! - Controlling: [`process`] (a child process, stopped and reaped with its CPU time and peak memory),
//!   [`members`] (the consumers of one run: slots, incarnations, SIGTERM and SIGKILL), [`producer`] (the producer,
//!   local or compose, and the summary it writes), [`scripts`] (the project's scripts, commands printed) and
//!   [`compose`] (the compose stack through its CLI and the tools inside its containers).
//! - Observing: [`group`] (the group as its coordinator describes it: members, client ids, partitions) and
//!   [`world`] (one run's group, committed and log-end offsets, rows, dead letters).
//! - Setting up: [`stack`] (topics through Kafka's admin API, databases beside the stack's, the machine).
//! - Predicting: [`partitioner`] (Kafka's key partitioner, checked against Kafka's Java client).

// Every [dependencies] entry is used by the library (cargo-machete cannot see one used only by tests).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod compose;
pub mod consumers;
pub mod group;
pub mod partitioner;
pub mod process;
pub mod producer;
pub mod repo;
pub mod sampler;
pub mod scripts;
pub mod stack;
pub mod wait;
pub mod world;
