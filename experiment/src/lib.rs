//! The scaling experiment: a producer runs at a set rate throughout while the group goes through six phases
//! (1 partition and 3 consumers; partitions raised to 3; scale to 5; an owner SIGKILLed; scale to 1; drain and
//! reconcile), then, optionally, a scaling-efficiency run with simulated per-order work. Every expectation is
//! checked, every figure lands in `report.json`, `report.md` and a timeline chart.
//!
//! # Layout
//! - [`settings`]: every option of the experiment.
//! - [`control`]: what the experiment does to the system, through the project's scripts (so the same commands a
//!   person would type run here, and work on the local and the compose stack).
//! - [`world`]: what it observes, straight from the broker (group view, offsets) and Postgres (rows).
//! - [`measure`]: the one definition of a stall (gap) and of per-customer order, shared by every tool.
//! - [`phases`]: the experiment itself.
//! - [`report`]: Markdown and JSON output; [`chart`]: the timeline chart (plotters).
//! - [`compose`]: the seed's scenario through `docker-compose.yml` (`compose-scenario`, scripts/compose-test.sh).
//! - [`rebalance`]: the rebalance benchmark (`rebalance-bench`), which reuses [`control`] and [`world`].
//! - [`replication`]: what three replicas cost the producer on the cluster (`replication-cost`).
//! - [`autoscale`]: `order-autoscaler` shown working (`autoscale-demo`): a burst, up to the partition count, back.
//! - [`soak`]: the soak's report (`measure soak-report`, scripts/soak.sh): summary and memory chart.
//! - [`recorded`]: the scripts' `results.txt`, read in order, and numbers printed as the reports print them.
//! - [`bench`]: the benchmark's report (`measure bench-report`, scripts/bench.sh): `bench.json` and
//!   `docs/benchmarks.md`.

// Every [dependencies] entry is used by the library (cargo-machete cannot see one used only by tests).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod autoscale;
pub mod bench;
pub mod chart;
pub mod compose;
pub mod control;
pub mod measure;
pub mod members;
pub mod phases;
pub mod process;
pub mod rebalance;
pub mod recorded;
pub mod replication;
pub mod report;
pub mod settings;
pub mod soak;
pub mod stack;
pub mod world;

pub use phases::run;
pub use settings::Settings;
