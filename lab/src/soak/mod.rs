//! The soak (`lab soak`, scripts/lab.sh soak): [`run`] pushes orders through the pipeline while the group is
//! disrupted, samples memory and reconciles; [`report`] turns what it recorded into its summary and memory chart.

pub mod report;
pub mod run;

pub use report::*;
