//! The rebalance benchmark: for each group configuration (eager `range`, `cooperative-sticky`, the KIP-848
//! `consumer` protocol; each with and without static membership) it measures, from the stored rows, the
//! stall ([`crate::measure`], called the gap in its tables) on the partitions a rebalance affects and how many
//! partitions move, when a consumer joins, leaves cleanly, restarts, and is killed.
//!
//! # Layout
//! - [`settings`]: every option.
//! - [`configs`]: the six configurations and the consumer environment of each.
//! - [`rows`]: the queries that turn rows into owners and handovers (stalls: [`crate::measure`]).
//! - [`scenario`]: one configuration, start to finish.
//! - [`machine`]: machine, versions and the broker's group settings.
//! - [`report`]: JSON and Markdown, and the docs.

pub mod configs;
pub mod machine;
pub mod report;
pub mod rows;
pub mod scenario;
pub mod settings;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use harness::repo::Repo;
use harness::scripts::Scripts;
use harness::stack::Stack;

pub use report::BenchReport;
pub use settings::BenchSettings;

/// Runs every selected configuration in turn, writes the results (and, in a full run, the docs).
///
/// # Errors
/// When the stack is not reachable or the results cannot be written. A configuration that fails midway is
/// recorded in the report, not returned as an error.
pub async fn run(settings: BenchSettings, repo: &Repo) -> anyhow::Result<BenchReport> {
    let selected = settings.selected()?;
    let root = repo.root.clone();
    let started_at = Utc::now();
    let stamp = started_at.format("%Y%m%dT%H%M%SZ").to_string();
    let dir = settings.results.clone().unwrap_or_else(|| root.join("results").join(format!("rebalance-{stamp}")));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stack = Stack::connect(&root, &settings.bootstrap_servers, settings.database.clone()).await?;
    let machine = machine::describe(&settings.bootstrap_servers, &stack.pool).await?;
    let command = std::iter::once("scripts/lab.sh rebalance".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let run_id = format!("rb{}", started_at.timestamp());
    eprintln!("==> rebalance benchmark {run_id}: {} configuration(s), results in {}", selected.len(), dir.display());

    let ctx = scenario::Context { settings: settings.clone(), root: root.clone(), run_id: run_id.clone(), dir, stack };
    let clock = Instant::now();
    let mut configs = Vec::new();
    for (i, config) in selected.iter().enumerate() {
        eprintln!(
            "\n==> [{}/{}] {} ({:.1} min so far)",
            i + 1,
            selected.len(),
            config.label(),
            clock.elapsed().as_secs_f64() / 60.0
        );
        let mut earlier = Vec::new();
        let mut attempt = 1;
        let result = loop {
            let mut result = scenario::run(&ctx, *config, attempt).await;
            match result.disturbance() {
                Some(why) if attempt <= settings.retries => {
                    eprintln!("==> attempt {attempt} of {} set aside ({why}); running it again", config.name);
                    earlier.push(format!("attempt {attempt}: {why}"));
                    attempt += 1;
                }
                _ => {
                    result.earlier_attempts = earlier;
                    break result;
                }
            }
        };
        configs.push(result);
    }
    if !settings.keep {
        cleanup_kafka(&ctx, &configs).await;
    }

    let report = BenchReport {
        command,
        quick: settings.quick,
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        wall_s: clock.elapsed().as_secs_f64(),
        machine,
        rate: settings.rate,
        partitions: scenario::PARTITIONS,
        consumers: scenario::CONSUMERS,
        steady_s: settings.steady_window().as_secs_f64(),
        after_s: settings.after.as_secs_f64(),
        session_timeout_ms: settings.session_timeout.as_millis() as u64,
        consumer_env: consumer_overrides(),
        configs,
    };
    report.write_results(&ctx.dir)?;
    eprintln!(
        "\n==> results: {}/results.md (every figure: results.json, logs: one folder per configuration)",
        ctx.dir.display()
    );
    if settings.writes_docs(&selected) {
        report.write_docs(&root.join("docs"))?;
        eprintln!("==> docs/rebalancing.md and docs/rebalancing.json rewritten");
    }
    Ok(report)
}

/// Consumer settings this shell's environment passes to every consumer (they inherit it); the report shows them
/// so a run with, say, `KAFKA_PROPERTIES=heartbeat.interval.ms=1000` is never mistaken for one with defaults.
fn consumer_overrides() -> BTreeMap<String, String> {
    const INHERITED: &[&str] = &[
        "BATCH_SIZE",
        "BATCH_TIMEOUT_MS",
        "KAFKA_PROPERTIES",
        "PROCESSING_DELAY_MS",
        "MAX_MESSAGE_BYTES",
        "CONNECT_TIMEOUT",
    ];
    INHERITED
        .iter()
        .filter_map(|key| std::env::var(key).ok().map(|value| ((*key).to_owned(), redact_properties(&value))))
        .collect()
}

/// `k=v,k=v` with the value of every key that names a password or secret replaced by `***`.
fn redact_properties(value: &str) -> String {
    value
        .split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.contains("password") || k.contains("secret") => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Deletes the run's topics (one regular expression) and groups.
async fn cleanup_kafka(ctx: &scenario::Context, configs: &[scenario::ConfigResult]) {
    let scripts = Scripts { root: ctx.root.clone(), env: Vec::new() };
    let bootstrap = ctx.settings.bootstrap_servers.as_str();
    let pattern = format!("{}-.*", ctx.run_id);
    let topics = ["kafka-topics", "--bootstrap-server", bootstrap, "--delete", "--topic", &pattern];
    if let Err(error) = scenario::kafka(&scripts, &topics).await {
        eprintln!("warning: {error:#}");
    }
    // A stopped static KIP-848 member stays in its group until the broker's session timeout (45 s by default),
    // and the tool refuses to delete a non-empty group (it says so on stdout, and may still exit 0): retry those.
    let mut pending: Vec<String> = configs.iter().map(|c| c.group.clone()).collect();
    for attempt in 1..=GROUP_DELETE_ATTEMPTS {
        let mut args = vec!["kafka-consumer-groups", "--bootstrap-server", bootstrap, "--delete"];
        for group in &pending {
            args.extend(["--group", group.as_str()]);
        }
        match scenario::kafka(&scripts, &args).await {
            Ok(output) => {
                pending = undeleted(&output, &pending);
                if pending.is_empty() {
                    return;
                }
            }
            Err(error) => eprintln!("warning: {error:#}"),
        }
        if attempt < GROUP_DELETE_ATTEMPTS {
            eprintln!("    not empty yet (static members wait for the session timeout): {}", pending.join(", "));
            tokio::time::sleep(GROUP_DELETE_PAUSE).await;
        }
    }
    eprintln!(
        "warning: groups left behind (delete them later with kafka-consumer-groups --delete): {}",
        pending.join(", ")
    );
}

/// The groups of `groups` that `kafka-consumer-groups --delete` says it could not delete. A failure names the group on
/// a line of its own ("* Group 'c' could not be deleted due to: …GroupNotEmptyException…"), next to the successes
/// ("These consumer groups were deleted successfully: 'a', 'b'", or "Deletion of requested consumer groups ('a', 'b')
/// was successful." when all went); a group that no longer exists is gone, whatever the tool calls it.
fn undeleted(output: &str, groups: &[String]) -> Vec<String> {
    let failed = |g: &String| {
        output.lines().any(|l| {
            l.contains(&format!("'{g}'")) && l.contains("could not be deleted") && !l.contains("GroupIdNotFound")
        })
    };
    groups.iter().filter(|g| failed(g)).cloned().collect()
}

/// Tries to delete the run's groups, spaced so the last try comes after the broker's default 45 s session timeout.
const GROUP_DELETE_ATTEMPTS: u32 = 4;
const GROUP_DELETE_PAUSE: std::time::Duration = std::time::Duration::from_secs(20);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_groups_the_tool_could_not_delete_stay_pending() {
        let groups: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let mixed = "Error: Deletion of some consumer groups failed:\n\
            * Group 'a' could not be deleted due to: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.\n\
            * Group 'd' could not be deleted due to: org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist.\n\
            These consumer groups were deleted successfully: 'b', 'c'";
        assert_eq!(undeleted(mixed, &groups), ["a"]);
        let all = "Deletion of requested consumer groups ('a', 'b', 'c', 'd') was successful.";
        assert!(undeleted(all, &groups).is_empty());
    }

    #[test]
    fn passwords_in_pass_through_properties_are_not_reported() {
        assert_eq!(
            redact_properties("heartbeat.interval.ms=1000,sasl.password=hunter2"),
            "heartbeat.interval.ms=1000,sasl.password=***"
        );
    }
}
