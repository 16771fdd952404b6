//! The group configurations under test: protocol × assignor × static membership, and the consumer environment
//! each one needs.

use std::time::Duration;

use harness::consumers::ConsumerEnv;
use serde::Serialize;

/// One way to run the consumer group.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GroupConfig {
    /// Short name, used in topic, group and database names and in `--configs`.
    pub name: &'static str,
    /// `GROUP_PROTOCOL`: `classic` or `consumer` (KIP-848).
    pub protocol: &'static str,
    /// `ASSIGNMENT_STRATEGY` (classic protocol only; KIP-848 assigns on the broker).
    pub assignor: Option<&'static str>,
    /// Each consumer gets a stable `GROUP_INSTANCE_ID`, reused when it restarts.
    pub static_membership: bool,
}

const fn config(
    name: &'static str,
    protocol: &'static str,
    assignor: Option<&'static str>,
    static_: bool,
) -> GroupConfig {
    GroupConfig { name, protocol, assignor, static_membership: static_ }
}

/// Every configuration, in the order a full run measures them.
pub const ALL: [GroupConfig; 6] = [
    config("range", "classic", Some("range"), false),
    config("range-static", "classic", Some("range"), true),
    config("coop", "classic", Some("cooperative-sticky"), false),
    config("coop-static", "classic", Some("cooperative-sticky"), true),
    config("kip848", "consumer", None, false),
    config("kip848-static", "consumer", None, true),
];

/// What `--quick` runs: the consumer's default configuration.
pub const QUICK: GroupConfig = ALL[2];

impl GroupConfig {
    /// How the report names it.
    pub fn label(&self) -> String {
        let base = match self.assignor {
            Some("range") => "classic, eager `range`".to_owned(),
            Some(other) => format!("classic, `{other}`"),
            None => "KIP-848 `consumer` protocol".to_owned(),
        };
        if self.static_membership { format!("{base}, static") } else { base }
    }

    /// `env` set up for this configuration (the member's own ids are added per process).
    pub fn env(&self, env: ConsumerEnv, session_timeout: Duration) -> ConsumerEnv {
        let mut env = env.with("GROUP_PROTOCOL", self.protocol);
        if let Some(assignor) = self.assignor {
            env = env.with("ASSIGNMENT_STRATEGY", assignor);
            env.session_timeout = Some(session_timeout);
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_safe_in_topic_and_database_names() {
        let mut names: Vec<&str> = ALL.iter().map(|c| c.name).collect();
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn kip848_sets_neither_assignor_nor_session_timeout() {
        let env = ALL[4].env(ConsumerEnv::default(), Duration::from_secs(10)).vars();
        assert_eq!(env, vec![("GROUP_PROTOCOL".to_owned(), "consumer".to_owned())]);
        let classic = ALL[0].env(ConsumerEnv::default(), Duration::from_secs(10)).vars();
        assert!(classic.contains(&("SESSION_TIMEOUT_MS".to_owned(), "10000".to_owned())));
    }
}
