//! An expectation a tool checked, and whether it held: the unit of every tool's verdict (the experiment, the
//! compose scenario, the autoscaler demo).

use serde::Serialize;

/// One expectation, what was observed, and whether it held.
#[derive(Debug, Serialize)]
pub struct Check {
    /// The phase or step it belongs to (0 when the tool has none).
    pub phase: u32,
    pub expectation: String,
    pub passed: bool,
    pub observed: String,
}

/// How many of `checks` failed.
pub fn failures(checks: &[Check]) -> usize {
    checks.iter().filter(|c| !c.passed).count()
}
