//! What a run's timeline is made of besides its samples ([`harness::sampler::Sample`]): the phases it went
//! through and the events that moved partitions, each with the stalls it caused ([`crate::measure`]). The
//! experiment and the autoscaler demo fill them; [`crate::chart`] draws them.

use std::collections::BTreeMap;

use harness::group::GroupView;
use serde::Serialize;

use crate::measure::Stall;

/// One phase of a run: its time span, the rows stored in it and the assignment it ended with.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub number: u32,
    pub name: String,
    pub from_s: f64,
    pub to_s: f64,
    /// Wall time of the whole phase, waits included.
    pub wall_s: f64,
    pub rows: i64,
    pub rows_per_s: f64,
    pub per_consumer: BTreeMap<String, i64>,
    pub assignment: GroupView,
}

/// Something done to the group (a scale, a kill, more partitions) and what it moved.
#[derive(Debug, Serialize)]
pub struct Event {
    pub name: String,
    pub at_s: f64,
    pub partitions_moved: Vec<i32>,
    /// Per partition, its longest stall ([`crate::measure`]) that ended after this event and before the next.
    pub stalls: BTreeMap<i32, Stall>,
    /// The longest of those on the partitions that moved, and on the others.
    pub longest_stall_moved_s: Option<f64>,
    pub longest_stall_others_s: Option<f64>,
    pub takeover_s: Option<f64>,
}
