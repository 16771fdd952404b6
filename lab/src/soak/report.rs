//! The soak's report (written at the end of `lab soak`; `lab report soak` writes it again): what the soak
//! recorded, `results.txt` (`key=value` lines, `group.name=value`) and `memory.csv` (RSS sampled once a second),
//! turned into `summary.json`, `summary.md` and `memory.svg`, the RSS of every process over the soak's time with its
//! steps marked.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::prelude::*;
use serde_json::{Map, Value, json};

use crate::chart::{Line, Marks, WIDTH, panel, plot_error};
use crate::recorded::{Results, num};

/// The soak's own reading of its results.
impl Results {
    /// The steps (`step0.…`, `step1.…`, …), in order, up to the first one missing.
    fn steps(&self) -> Vec<(usize, &[(String, String)])> {
        (0..100).map(|i| (i, self.group(&format!("step{i}")))).take_while(|(_, names)| !names.is_empty()).collect()
    }
}

/// One process's RSS, as sampled.
#[derive(Debug, Clone, PartialEq)]
pub struct Memory {
    pub label: String,
    pub pid: u32,
    /// (seconds since the soak began, RSS in KiB), in time order.
    pub samples: Vec<(f64, u64)>,
    /// The kernel's high-water mark (VmHWM), the largest sampled.
    pub peak_kib: u64,
}

impl Memory {
    fn rss_middle_kib(&self) -> u64 {
        let (first, last) = (self.samples[0].0, self.samples[self.samples.len() - 1].0);
        let middle = (first + last) / 2.0;
        let nearest = self.samples.iter().min_by(|a, b| (a.0 - middle).abs().total_cmp(&(b.0 - middle).abs()));
        nearest.map_or(0, |s| s.1)
    }

    fn order(&self) -> (bool, u32) {
        let (name, n) = self.label.split_once('-').unwrap_or((&self.label, ""));
        (name != "producer", n.parse().unwrap_or(0))
    }
}

/// `memory.csv`: `time_utc,elapsed_s,label,pid,rss_kib,peak_kib`, one process per label, producer first, then the
/// consumers by number.
///
/// # Errors
/// A line that does not have those columns.
pub fn parse_memory(csv: &str) -> anyhow::Result<Vec<Memory>> {
    let mut by_label: BTreeMap<String, Memory> = BTreeMap::new();
    for (n, line) in csv.lines().enumerate().skip(1).filter(|(_, l)| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        let [_, elapsed, label, pid, rss, peak] = fields[..] else {
            anyhow::bail!("memory.csv line {}: expected 6 columns, found {}", n + 1, fields.len());
        };
        let context = || format!("memory.csv line {}: {line}", n + 1);
        let elapsed: f64 = elapsed.parse().with_context(context)?;
        let rss: u64 = rss.parse().with_context(context)?;
        let peak: u64 = if peak.is_empty() { 0 } else { peak.parse().with_context(context)? };
        let pid: u32 = pid.parse().with_context(context)?;
        let memory = by_label.entry(label.to_owned()).or_insert_with(|| Memory {
            label: label.to_owned(),
            pid,
            samples: Vec::new(),
            peak_kib: 0,
        });
        memory.pid = pid;
        memory.samples.push((elapsed, rss));
        memory.peak_kib = memory.peak_kib.max(peak);
    }
    let mut all: Vec<Memory> = by_label.into_values().collect();
    for memory in &mut all {
        memory.samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    all.sort_by_key(Memory::order);
    Ok(all)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn step_value<'a>(step: &'a [(String, String)], name: &str) -> &'a str {
    step.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v)
}

fn step_number(step: &[(String, String)], name: &str) -> Option<f64> {
    step_value(step, name).parse().ok()
}

/// The step's longest stall (`lab/src/measure.rs`) and its partition.
fn stall(step: &[(String, String)]) -> String {
    match step_number(step, "longest_stall_s") {
        Some(seconds) => format!("{} s (partition {})", num(Some(seconds), 2), step_value(step, "stall_partition")),
        None => "–".to_owned(),
    }
}

/// `summary.md`.
pub fn markdown(r: &Results, memory: &[Memory]) -> String {
    let n = |group: &str, name: &str, digits: usize| num(r.number(group, name), digits);
    let librdkafka = r.get("machine", "librdkafka");
    let librdkafka = librdkafka.rsplit('+').next().unwrap_or(librdkafka);
    let mut md = String::new();
    let _ = writeln!(md, "# Soak {}\n", r.get("run", "time"));
    let _ = writeln!(
        md,
        "`scripts/lab.sh soak --orders {} --rate {}`: topic `{}`, group `{}`, database `{}`. Machine: {} cores ({}), {} \
         MiB; Kafka {}, PostgreSQL {}, librdkafka {}. Everything ran on this one machine.\n",
        r.get("run", "orders"),
        r.get("run", "rate"),
        r.get("run", "topic"),
        r.get("run", "group"),
        r.get("run", "database"),
        r.get("machine", "cores"),
        r.get("machine", "cpu"),
        num(r.number("machine", "memory_kib").map(|k| k / 1024.0), 0),
        r.get("machine", "kafka"),
        r.get("machine", "postgres"),
        librdkafka,
    );
    md.push_str("## Checks\n\n| check | result | detail |\n|---|---|---|\n");
    for (name, result) in r.group("check") {
        let verdict = if result == "pass" { "pass" } else { "**FAIL**" };
        let _ = writeln!(md, "| {} | {verdict} | {} |", name.replace('_', " "), r.get("detail", name));
    }
    let empty = match r.get("result", "empty_partitions") {
        "" => "none",
        partitions => partitions,
    };
    let figures = [
        (
            "orders requested",
            format!("{} at {}/s (0 = as fast as possible)", n("run", "orders", 0), n("run", "rate", 0)),
        ),
        (
            "orders acknowledged by Kafka",
            format!("{} ({} failed)", n("result", "acked", 0), n("producer", "failed", 0)),
        ),
        (
            "producer rate (acked / its run time)",
            format!("{}/s over {} s", n("producer", "rate", 0), n("producer", "elapsed_s", 1)),
        ),
        ("rows", n("result", "rows", 0)),
        ("distinct order ids", n("result", "distinct", 0)),
        ("duplicate rows", n("result", "duplicates", 0)),
        ("dead letters", n("result", "dead_letters", 0)),
        ("partitions at the end", n("result", "partitions", 0)),
        ("partitions that received no orders", empty.to_owned()),
        ("log-end offsets", r.get("result", "log_end").to_owned()),
        ("committed offsets", r.get("result", "committed").to_owned()),
        ("drain after the producer ended", format!("{} s", n("run", "drain_s", 0))),
        ("wall time (topic created to consumers stopped)", format!("{} s", n("run", "wall_s", 1))),
    ];
    md.push_str("\n## Figures\n\n| figure | value |\n|---|---|\n");
    for (figure, value) in figures {
        let _ = writeln!(md, "| {figure} | {value} |");
    }
    md.push_str(
        "\n## Schedule\n\nEach step starts when the table holds its share of the orders, then waits for the group to \
         settle: the expected members, every partition owned by exactly one. The longest stall is the longest \
         stretch, after the step and before the next, in which a partition had an order waiting and stored nothing \
         (`lab/src/measure.rs`, as in the experiment and the rebalance benchmark).\n\n\
         | step | action | at (s) | rows then | members after | settled in (s) | longest stall (partition) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (i, step) in r.steps() {
        let _ = writeln!(
            md,
            "| {i} | {} | {} | {} | {} | {} | {} |",
            step_value(step, "action"),
            num(step_number(step, "at_s"), 1),
            num(step_number(step, "rows"), 0),
            num(step_number(step, "members"), 0),
            num(step_number(step, "settle_s"), 0),
            stall(step),
        );
    }
    md.push_str(
        "\n## Memory\n\nRSS sampled once a second from `/proc/PID/status` (`memory.csv`, drawn in `memory.svg`); \
         start, middle and end are the first sample, the one nearest the middle of the process's life and its last \
         one; peak is the kernel's high-water mark (VmHWM). A consumer that was killed or scaled down ends early.\n\n\
         | process | pid | sampled from–to (s) | samples | RSS start | RSS middle | RSS end | peak |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for m in memory {
        let (first, last) = (m.samples[0], m.samples[m.samples.len() - 1]);
        let _ = writeln!(
            md,
            "| {} | {} | {:.0}–{:.0} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            m.label,
            m.pid,
            first.0,
            last.0,
            m.samples.len(),
            mib(first.1),
            mib(m.rss_middle_kib()),
            mib(last.1),
            mib(m.peak_kib),
        );
    }
    let failures = r.number("run", "failures").unwrap_or(0.0) as u64;
    let verdict = if failures == 0 { "PASSED".to_owned() } else { format!("FAILED: {failures} check(s)") };
    let _ = write!(md, "\n**{verdict}**\n");
    md
}

/// A recorded value as JSON: a number when it reads as one.
fn value(text: &str) -> Value {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => json!(n),
        _ => json!(text),
    }
}

/// `summary.json`: every recorded value by group (numbers as numbers), the steps, each process's memory, and
/// whether every check passed.
pub fn summary(r: &Results, memory: &[Memory]) -> Value {
    let mut out = Map::new();
    for (group, names) in r.groups() {
        let fields: Map<String, Value> = names.iter().map(|(n, v)| (n.clone(), value(v))).collect();
        out.insert(group.clone(), Value::Object(fields));
    }
    let steps: Vec<Value> = r
        .steps()
        .into_iter()
        .map(|(i, step)| {
            let mut fields: Map<String, Value> = step.iter().map(|(n, v)| (n.clone(), value(v))).collect();
            fields.insert("step".into(), json!(i));
            Value::Object(fields)
        })
        .collect();
    out.insert("steps".into(), Value::Array(steps));
    let processes: Map<String, Value> = memory
        .iter()
        .map(|m| {
            let (first, last) = (m.samples[0], m.samples[m.samples.len() - 1]);
            let sampled_max = m.samples.iter().map(|s| s.1).max().unwrap_or(0);
            let fields = json!({
                "pid": m.pid, "from_s": first.0, "to_s": last.0, "samples": m.samples.len(),
                "rss_start_kib": first.1, "rss_middle_kib": m.rss_middle_kib(), "rss_end_kib": last.1,
                "rss_max_sampled_kib": sampled_max, "peak_kib": m.peak_kib,
            });
            (m.label.clone(), fields)
        })
        .collect();
    out.insert("memory".into(), Value::Object(processes));
    out.insert("passed".into(), json!(r.number("run", "failures").unwrap_or(0.0) == 0.0));
    Value::Object(out)
}

/// `memory.svg`: each process's RSS (MiB) over the soak's time (s), each step a dashed line with its action.
///
/// # Errors
/// When plotters cannot lay the chart out (it reports why).
pub fn memory_chart(r: &Results, memory: &[Memory]) -> anyhow::Result<String> {
    let end = memory.iter().filter_map(|m| m.samples.last()).map(|s| s.0).fold(1.0, f64::max);
    let lines: Vec<Line> = memory
        .iter()
        .map(|m| Line { label: m.label.clone(), points: m.samples.iter().map(|s| (s.0, mib(s.1))).collect() })
        .collect();
    let steps = r.steps().into_iter().filter_map(|(i, step)| {
        step_number(step, "at_s").map(|at| (at, Some(format!("{i}: {}", step_value(step, "action")))))
    });
    let marks = Marks { windows: Vec::new(), lines: steps.collect(), t: 0.0..end };
    let title = format!("Soak {}: RSS per process", r.get("run", "time"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        panel(&root, &title, "RSS (MiB)", &lines, &marks, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Reads `results` and `memory_csv`, writes `summary.json`, `summary.md` and `memory.svg` into `out`; returns
/// whether every check passed.
///
/// # Errors
/// A file that cannot be read or written, or a `memory.csv` line that is not as written.
pub fn report(results: &Path, memory_csv: &Path, out: &Path) -> anyhow::Result<bool> {
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()));
    let r = Results::parse(&read(results)?);
    let memory = parse_memory(&read(memory_csv)?)?;
    anyhow::ensure!(!memory.is_empty(), "{} holds no sample", memory_csv.display());
    let summary = summary(&r, &memory);
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write("summary.json", serde_json::to_string_pretty(&summary)? + "\n")?;
    write("summary.md", markdown(&r, &memory))?;
    write("memory.svg", memory_chart(&r, &memory)?)?;
    Ok(summary["passed"] == json!(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_separators_and_the_decimals_asked_for() {
        assert_eq!(num(Some(1_000_000.0), 0), "1,000,000");
        assert_eq!(num(Some(200.101), 1), "200.1");
        assert_eq!(num(Some(24_151.5), 0), "24,152");
        assert_eq!(num(Some(999.0), 0), "999");
        assert_eq!(num(Some(-1234.5), 1), "-1,234.5");
        assert_eq!(num(None, 0), "–");
    }

    #[test]
    fn results_keep_the_order_written_and_the_last_value() {
        let r = Results::parse("check.b=pass\ncheck.a=fail\nrun.x=1\ncheck.b=fail\nstep0.at_s=1.5\nstep2.at_s=3\n");
        let names: Vec<&str> = r.group("check").iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(r.get("check", "b"), "fail");
        assert_eq!(r.number("run", "x"), Some(1.0));
        assert_eq!(r.steps().len(), 1, "steps stop at the first one missing");
    }
}
