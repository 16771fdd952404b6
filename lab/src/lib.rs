//! The lab: every tool around the pipeline, behind one binary (`lab`, [`cli`]). A tool is a folder of its own and
//! never imports another tool's; what two tools share is either here, in a module of its own, or in the
//! `harness` crate (processes, waiting, the sampler, topics and databases, the group view, the stack).
//!
//! # Layout
//! The tools, one folder each:
//! - [`experiment`]: the scaling experiment (`lab experiment`): a producer at a set rate while the group goes
//!   through six phases (1 partition and 3 consumers; partitions raised to 3; scale to 5; an owner SIGKILLed;
//!   scale to 1; drain and reconcile), then a scaling-efficiency run; every expectation checked.
//! - [`bench`]: the benchmark (`lab bench`) and its report (`bench.json`, `docs/benchmarks.md`).
//! - [`soak`]: the soak (`lab soak`): its run, its checks, its summary and memory chart.
//! - [`rebalance`]: the rebalance benchmark (`lab rebalance`).
//! - [`compose_scenario`]: the seed's scenario through `docker-compose.yml` (`lab compose-scenario`).
//! - [`compose_test`]: the compose test (`lab compose-test`): an engine, the scenario with both Compose CLIs, the
//!   experiment on the compose stack, each part a `lab` process of its own.
//! - [`autoscale_demo`]: `order-autoscaler` shown working (`lab autoscale-demo`).
//! - [`replication`]: what three replicas cost the producer on the cluster (`lab replication`).
//! - [`serve`]: the scaling lab, a live page that watches and drives the group (`lab serve`).
//!
//! What the tools share:
//! - [`checks`]: an expectation and whether it held.
//! - [`timeline`]: a run's phases and events; [`chart`]: the timeline drawn (plotters).
//! - [`measure`]: the one definition of a stall (gap) and of per-customer order.
//! - [`recorded`]: `results.txt`, written as figures are measured and read back in order, and numbers printed
//!   as the reports print them.

// Every [dependencies] entry is used by the library (cargo-machete cannot see one used only by tests).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod autoscale_demo;
pub mod bench;
pub mod chart;
pub mod checks;
pub mod cli;
pub mod compose_scenario;
pub mod compose_test;
pub mod experiment;
pub mod measure;
pub mod rebalance;
pub mod recorded;
pub mod replication;
pub mod serve;
pub mod soak;
pub mod timeline;

/// Options as `lab` would parse them, for the subcommands' tests: `Ok` with the options, or clap's message.
#[cfg(test)]
pub(crate) fn parse_options<A: clap::Args>(args: &[&str]) -> Result<A, String> {
    #[derive(clap::Parser)]
    struct Cli<A: clap::Args> {
        #[command(flatten)]
        options: A,
    }
    use clap::Parser;
    Cli::<A>::try_parse_from(std::iter::once("lab").chain(args.iter().copied()))
        .map(|c| c.options)
        .map_err(|e| e.to_string())
}
