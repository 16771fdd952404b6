//! The experiment's output: `report.json` (every figure), `report.md` (for people) and `timeline.svg`
//! ([`crate::chart`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use harness::sampler::Sample;

use super::settings::Settings;
use crate::checks::Check;
use crate::measure::CustomerOrder;
use crate::timeline::{Event, Phase};

#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(skip)]
    pub dir: PathBuf,
    pub command: String,
    pub stack: String,
    pub started_at: String,
    pub machine: Machine,
    pub topic: String,
    pub group: String,
    pub rate: f64,
    pub phase_seconds: f64,
    pub session_timeout_ms: u64,
    pub phases: Vec<Phase>,
    pub events: Vec<Event>,
    pub new_partitions_seen_s: Option<f64>,
    pub rebalance_after_increase_s: Option<f64>,
    pub reconciliation: Option<Reconciliation>,
    pub customer_order: Option<CustomerOrder>,
    pub efficiency: Option<Efficiency>,
    pub checks: Vec<Check>,
    pub timeline: Vec<Sample>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_kib: u64,
    pub kafka_version: String,
}

#[derive(Debug, Serialize)]
pub struct Reconciliation {
    pub acked_new_orders: u64,
    pub failed: u64,
    pub rows: i64,
    pub distinct_orders: i64,
    pub dead_letters: i64,
    pub log_end: Vec<i64>,
    pub committed: Vec<i64>,
    /// Which broker led each partition at the end, with its replicas.
    pub leaders: Vec<harness::world::PartitionLeader>,
}

#[derive(Debug, Serialize)]
pub struct Efficiency {
    pub delay_ms: u64,
    pub orders: u64,
    pub batch_size: u32,
    pub runs: Vec<EfficiencyRun>,
}

#[derive(Debug, Serialize)]
pub struct EfficiencyRun {
    pub consumers: usize,
    /// Sum of each consumer's own rate while it had work.
    pub rows_per_s: f64,
    /// All orders divided by the time from the first row to the last (bounded by the busiest consumer).
    pub completion_rows_per_s: f64,
    pub per_partition: BTreeMap<i32, i64>,
    pub efficiency: f64,
    pub completion_efficiency: f64,
}

impl Report {
    pub fn new(dir: PathBuf, settings: &Settings, topic: &str, group: &str) -> Self {
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        let mut command = format!(
            "scripts/lab.sh experiment --stack {} --rate {} --phase {}s",
            settings.stack,
            settings.rate,
            settings.phase.as_secs()
        );
        if settings.short {
            command = format!("scripts/lab.sh experiment --stack {} --short", settings.stack);
        }
        Self {
            dir,
            command,
            stack: settings.stack.clone(),
            started_at: chrono::Utc::now().to_rfc3339(),
            machine: Machine {
                cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
                memory_kib,
                kafka_version: std::env::var("KAFKA_VERSION_PIN").unwrap_or_default(),
            },
            topic: topic.into(),
            group: group.into(),
            rate: settings.rate,
            phase_seconds: settings.phase.as_secs_f64(),
            session_timeout_ms: settings.session_timeout.as_millis() as u64,
            phases: Vec::new(),
            events: Vec::new(),
            new_partitions_seen_s: None,
            rebalance_after_increase_s: None,
            reconciliation: None,
            customer_order: None,
            efficiency: None,
            checks: Vec::new(),
            timeline: Vec::new(),
        }
    }

    pub fn failures(&self) -> usize {
        crate::checks::failures(&self.checks)
    }

    pub fn passed(&self) -> bool {
        self.failures() == 0 && self.reconciliation.is_some()
    }

    /// Writes report.json, report.md and timeline.svg into the report's folder.
    ///
    /// # Errors
    /// When a file cannot be written.
    pub fn write(&self) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(self.dir.join("report.json"), json).context("report.json")?;
        let chart = crate::chart::render(&self.timeline, &self.phases, &self.events)?;
        std::fs::write(self.dir.join("timeline.svg"), chart).context("timeline.svg")?;
        std::fs::write(self.dir.join("report.md"), self.markdown()).context("report.md")?;
        eprintln!("\n==> report: {}/report.md (figures: report.json, chart: timeline.svg)", self.dir.display());
        Ok(())
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let verdict = if self.passed() { "every expectation held" } else { "SOME EXPECTATIONS FAILED" };
        let _ = writeln!(md, "# Scaling experiment: {verdict}\n");
        let _ = writeln!(
            md,
            "Command: `{}` · stack: {} · started {} · machine: {} cores, {} MiB, Kafka {}\n",
            self.command,
            self.stack,
            self.started_at,
            self.machine.cores,
            self.machine.memory_kib / 1024,
            self.machine.kafka_version
        );
        let _ = writeln!(
            md,
            "Topic `{}`, group `{}`, producer at {} orders/s throughout, session timeout {} ms.\n",
            self.topic, self.group, self.rate, self.session_timeout_ms
        );

        let _ = writeln!(md, "## Phases\n\n| # | phase | rows/s | rows | per consumer |\n|---|---|---|---|---|");
        for p in &self.phases {
            let per: Vec<String> = p.per_consumer.iter().map(|(c, n)| format!("`{c}`: {n}")).collect();
            let _ =
                writeln!(md, "| {} | {} | {:.0} | {} | {} |", p.number, p.name, p.rows_per_s, p.rows, per.join(", "));
        }
        let _ = writeln!(
            md,
            "\n## Assignment at the end of each phase\n\nAs `kafka-consumer-groups --describe --members --verbose` shows it (the group coordinator's view).\n"
        );
        for p in &self.phases {
            let _ = writeln!(md, "Phase {} ({}):\n\n```\nGROUP  CLIENT-ID  #PARTITIONS  ASSIGNMENT", p.number, p.name);
            for m in &p.assignment.members {
                let parts: Vec<String> = m.partitions.iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    md,
                    "{}  {}  {}  {}",
                    self.group,
                    m.client_id,
                    m.partitions.len(),
                    if parts.is_empty() { "-".to_owned() } else { format!("{}:{}", self.topic, parts.join(",")) }
                );
            }
            let _ = writeln!(md, "```\n");
        }
        let _ = writeln!(
            md,
            "## Rebalances\n\nA *stall* is the longest stretch in which a partition had an order waiting and stored nothing, \
             ending after the event and before the next one (`lab/src/measure.rs`).\n\n\
             | event | partitions moved | longest stall, moved | longest stall, others | takeover |\n|---|---|---|---|---|"
        );
        let secs = |s: Option<f64>| s.map_or("–".into(), |s| format!("{s:.2} s"));
        for e in &self.events {
            let takeover = e.takeover_s.map_or("–".into(), |t| format!("{t:.1} s"));
            let _ = writeln!(
                md,
                "| {} | {:?} | {} | {} | {takeover} |",
                e.name,
                e.partitions_moved,
                secs(e.longest_stall_moved_s),
                secs(e.longest_stall_others_s)
            );
        }
        if let (Some(seen), Some(rebalanced)) = (self.new_partitions_seen_s, self.rebalance_after_increase_s) {
            let _ = writeln!(
                md,
                "\nAfter `scripts/partitions.sh set 3` returned, the producer had written to both new partitions within {seen:.1} s, without a restart, and the group had rebalanced onto them (3 members, one partition each) within {rebalanced:.1} s."
            );
        }
        if let Some(r) = &self.reconciliation {
            let _ = writeln!(md, "\n## Reconciliation after draining\n\n| figure | value |\n|---|---|");
            let _ = writeln!(
                md,
                "| orders acknowledged by Kafka | {} ({} failed) |\n| rows | {} |\n| distinct order ids | {} |\n| dead letters | {} |\n| log-end offsets | {:?} |\n| committed offsets | {:?} |",
                r.acked_new_orders, r.failed, r.rows, r.distinct_orders, r.dead_letters, r.log_end, r.committed
            );
            for p in &r.leaders {
                let _ = writeln!(
                    md,
                    "| partition {}: leader, replicas, in sync | broker {}, {:?}, {:?} |",
                    p.partition, p.leader, p.replicas, p.in_sync
                );
            }
        }
        if let Some(o) = &self.customer_order {
            let _ = writeln!(
                md,
                "\n## Per-customer order, as stored\n\nIn the order rows were stored, {} rows came after a row of the same customer and partition with a higher `customer_seq` (Kafka keeps order within a partition, so this must be 0). Raising the partition count changes `murmur2(key) % partitions` for most keys: {} customers have rows on more than one partition ({} rows), and {} rows were stored after a later-numbered row of the same customer on another partition. Per-customer order holds within a partition, not across a partition-count change.",
                o.inversions_within_partitions,
                o.customers_on_several_partitions,
                o.rows_of_those_customers,
                o.inversions_across_partitions
            );
        }
        if let Some(e) = &self.efficiency {
            let _ = writeln!(
                md,
                "\n## Scaling efficiency\n\n{} orders on 3 partitions, produced once the group was stable, `PROCESSING_DELAY_MS={}` (one consumer cannot keep up), `BATCH_SIZE={}`. Efficiency = throughput(N) / (N × throughput(1)).\n\n| consumers | orders/s while all work | efficiency | orders/s first to last row | efficiency | orders per partition |\n|---|---|---|---|---|---|",
                e.orders, e.delay_ms, e.batch_size
            );
            for r in &e.runs {
                let _ = writeln!(
                    md,
                    "| {} | {:.0} | {:.2} | {:.0} | {:.2} | {:?} |",
                    r.consumers,
                    r.rows_per_s,
                    r.efficiency,
                    r.completion_rows_per_s,
                    r.completion_efficiency,
                    r.per_partition
                );
            }
            let _ = writeln!(
                md,
                "\n\"While all work\" sums each consumer's own rate: it shows that adding a consumer adds its full capacity. \"First to last row\" is bounded by the consumer with the most orders: with 2 consumers on 3 partitions one owns two partitions (with equal partitions that alone caps the efficiency at 0.75), and keys do not spread evenly over partitions (see orders per partition)."
            );
        }
        let _ = writeln!(md, "\n## Checks\n\n| phase | expectation | result | observed |\n|---|---|---|---|");
        for c in &self.checks {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                c.phase,
                c.expectation,
                if c.passed { "pass" } else { "**FAIL**" },
                c.observed.replace('|', "/")
            );
        }
        let _ = writeln!(md, "\n![rows/s per consumer, lag per partition, members over time](timeline.svg)");
        md
    }
}
