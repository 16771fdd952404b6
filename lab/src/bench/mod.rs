//! The benchmark (`lab bench`, scripts/lab.sh bench): [`run`] measures, in one run on one machine, the pipeline
//! against its ceilings and its peer ([`peer`]: Kafka Connect's JDBC sink) and writes every figure to `results.txt`
//! as it goes; [`report`] turns that into `bench.json` and `docs/benchmarks.md`. [`write_paths`] holds the consumer's
//! write path against the others Postgres offers, the database alone (`--write-paths`).

pub mod peer;
pub mod report;
pub mod run;
pub mod write_paths;

pub use report::*;
