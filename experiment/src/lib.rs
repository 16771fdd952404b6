//! The scaling experiment: a producer runs at a set rate throughout while the group goes through six phases
//! (1 partition and 3 consumers; partitions raised to 3; scale to 5; an owner SIGKILLed; scale to 1; drain and
//! reconcile), then, optionally, a scaling-efficiency run with simulated per-order work. Every expectation is
//! checked, every figure lands in `report.json`, `report.md` and a timeline chart.
//!
//! # Layout
//! - [`settings`]: every option of the experiment.
//! - the `harness` crate: what it observes (the group, offsets, rows), the processes it starts, the project's scripts
//!   it runs (so the same commands a person would type run here, on the local and the compose stack) and the
//!   compose stack; shared with the consumer's tests.
//! - [`measure`]: the one definition of a stall (gap) and of per-customer order, shared by every tool.
//! - [`phases`]: the experiment itself.
//! - [`report`]: Markdown and JSON output; [`chart`]: the timeline chart (plotters).
//! - [`compose`]: the seed's scenario through `docker-compose.yml` (`compose-scenario`, scripts/compose-test.sh).
//! - [`rebalance`]: the rebalance benchmark (`rebalance-bench`), built on the harness.
//! - [`replication`]: what three replicas cost the producer on the cluster (`replication-cost`).
//! - [`autoscale`]: `order-autoscaler` shown working (`autoscale-demo`): a burst, up to the partition count, back.
//! - [`bench`]: the benchmark (`measure bench`, scripts/bench.sh): its runs and its report, `bench.json` and
//!   `docs/benchmarks.md`.
//! - [`soak`]: the soak (`measure soak`, scripts/soak.sh): its run, its checks, its summary and memory chart.
//! - [`recorded`]: `results.txt`, written as figures are measured and read in order, and numbers printed as the
//!   reports print them.

// Every [dependencies] entry is used by the library (cargo-machete cannot see one used only by tests).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod autoscale;
pub mod bench;
pub mod chart;
pub mod compose;
pub mod measure;
pub mod phases;
pub mod rebalance;
pub mod recorded;
pub mod replication;
pub mod report;
pub mod settings;
pub mod soak;

pub use phases::run;
pub use settings::Settings;

/// Options as `measure` would parse them, for the subcommands' tests: `Ok` with the options, or clap's message.
#[cfg(test)]
pub(crate) fn parse_options<A: clap::Args>(args: &[&str]) -> Result<A, String> {
    #[derive(clap::Parser)]
    struct Cli<A: clap::Args> {
        #[command(flatten)]
        options: A,
    }
    use clap::Parser;
    Cli::<A>::try_parse_from(std::iter::once("measure").chain(args.iter().copied()))
        .map(|c| c.options)
        .map_err(|e| e.to_string())
}
