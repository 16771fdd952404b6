//! The benchmark's report (written at the end of `lab bench`; `lab report bench` writes it again): the
//! `key=value` lines the benchmark records (`results.txt`, `group.name=value`) turned into `bench.json` and, for a
//! full run, `docs/benchmarks.md` with the same JSON beside it (`docs/benchmarks.json`).
//!
//! Every figure the report prints is in the JSON: the measured ones as recorded, and the ones the report derives
//! from them (ratios, orders per wall second, bytes per order, the targets) under `"figures"`, so that the docs
//! check (doc-checks/tests/docs_figures.rs) finds each one. Given a `bench.json` instead of `results.txt`, it
//! writes a kept run's report again with this code.
//!
//! It replaced a Python report writer (scripts/lib/bench_report.py, until 2026-12-02) and writes what it wrote: the
//! same Markdown byte for byte, numbers printed the way Python's `f"{v:,.2f}"` and `str()` print them, and the same
//! JSON with the groups in the order recorded (only floats below 1e-4 or from 1e16 up are written the Rust way:
//! `1e-5` where Python wrote `1e-05`), so the kept runs' reports can be written again by this code.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::Context;
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::recorded::{self, num, python_repr};

/// The results by group (`machine`, `group1`, `latency3` …), each a group of named values; the figures derived
/// from them have the same shape.
/// Both keep their keys in the order first written, a later value replacing an earlier one in place, as Python's
/// dicts do: the report lists the compression runs in the order they ran, and `bench.json` keeps the order recorded.
pub type Results = IndexMap<String, Group>;

/// One group's named values.
pub type Group = IndexMap<String, Value>;

/// The empty group, for Python's `r.get(group, {})`.
static EMPTY: LazyLock<Group> = LazyLock::new(Group::new);

/// Reading the results as the report does.
trait Groups {
    fn run<'a>(&'a self, group: &'a str) -> anyhow::Result<Run<'a>>;
    fn group<'a>(&'a self, group: &'a str) -> Option<Run<'a>>;
    fn or_empty<'a>(&'a self, group: &'a str) -> Run<'a>;
    fn has(&self, group: &str) -> bool;
}

impl Groups for Results {
    /// `r[group]`.
    fn run<'a>(&'a self, group: &'a str) -> anyhow::Result<Run<'a>> {
        self.group(group).with_context(|| format!("the results have no group {group}"))
    }

    /// `r.get(group)`.
    fn group<'a>(&'a self, group: &'a str) -> Option<Run<'a>> {
        self.get(group).map(|fields| Run { group, fields })
    }

    /// `r.get(group, {})`.
    fn or_empty<'a>(&'a self, group: &'a str) -> Run<'a> {
        self.group(group).unwrap_or(Run { group, fields: &EMPTY })
    }

    fn has(&self, group: &str) -> bool {
        self.get(group).is_some()
    }
}

/// One group of the results or figures, its name kept for errors.
#[derive(Clone, Copy)]
struct Run<'a> {
    group: &'a str,
    fields: &'a Group,
}

impl<'a> Run<'a> {
    fn get(self, name: &str) -> Option<&'a Value> {
        self.fields.get(name)
    }

    fn value(self, name: &str) -> anyhow::Result<&'a Value> {
        self.get(name).with_context(|| format!("the results have no {}.{name}", self.group))
    }

    /// The value of `name` as a number, when it is one (a value that is not prints as "–").
    fn number(self, name: &str) -> anyhow::Result<Option<f64>> {
        self.value(name).map(number)
    }

    /// The value of `name`, which must be a number (where Python computes with it: `/ 1024`, `max`, `sorted`).
    fn float(self, name: &str) -> anyhow::Result<f64> {
        let value = self.value(name)?;
        number(value).with_context(|| format!("{}.{name} is {value}, not a number", self.group))
    }

    /// `int(run[name])`.
    fn int(self, name: &str) -> anyhow::Result<i64> {
        int(self.float(name)?).with_context(|| format!("{}.{name} is not an integer", self.group))
    }

    /// `int(run.get(name, default))`.
    fn int_or(self, name: &str, default: i64) -> anyhow::Result<i64> {
        if self.get(name).is_some() { self.int(name) } else { Ok(default) }
    }

    /// `num(run[name], digits)`.
    fn num(self, name: &str, digits: usize) -> anyhow::Result<String> {
        Ok(num(self.number(name)?, digits))
    }

    /// `num(run.get(name), digits)`: "–" when the run lacks it.
    fn get_num(self, name: &str, digits: usize) -> String {
        num(self.get(name).and_then(number), digits)
    }

    /// `num(run[name] / 1024, 1)`: KiB as MiB.
    fn mib(self, name: &str) -> anyhow::Result<String> {
        Ok(num(Some(self.float(name)? / 1024.0), 1))
    }
}

/// Python's `isinstance(v, (int, float))`: the value as a number, when it is one (a bool is one in Python).
fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Python's `int()` of a number: towards zero.
fn int(value: f64) -> Option<i64> {
    value.is_finite().then_some(value.trunc() as i64)
}

/// Reads `results.txt` (`group.name=value` lines, later lines winning) or a `bench.json` (its "figures" dropped:
/// they are derived again).
///
/// # Errors
/// A file that cannot be read, or a JSON file that is not an object of objects.
pub fn load(path: &Path) -> anyhow::Result<Results> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !path.to_string_lossy().ends_with(".json") {
        return Ok(parse(&text));
    }
    let mut nested: Results = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON object of groups of values", path.display()))?;
    nested.shift_remove("figures");
    Ok(nested)
}

/// `results.txt`, read as every report reads it ([`recorded::Results`]), each value typed by [`typed`].
pub fn parse(text: &str) -> Results {
    let flat = recorded::Results::parse(text);
    let typed_group = |names: &[(String, String)]| names.iter().map(|(n, v)| (n.clone(), typed(v))).collect();
    flat.groups().iter().map(|(group, names)| (group.clone(), typed_group(names))).collect()
}

/// A recorded value typed as the Python report typed it: a float when it holds a '.' or is digits after any
/// leading '-', and Python's `float()` reads it; otherwise the text ("4.1.1", "Intel(R) Xeon(R) Processor", "1e5").
fn typed(text: &str) -> Value {
    let digits = text.trim_start_matches('-');
    let numeric = text.contains('.') || (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    match python_float(text).filter(|_| numeric) {
        Some(value) => json!(value),
        None => json!(text),
    }
}

/// Python's `float(text)`: Rust's parse, with the surrounding whitespace and the single underscores between digits
/// ("1_000.5") that Python also accepts.
fn python_float(text: &str) -> Option<f64> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let digit = |i: Option<usize>| i.and_then(|i| bytes.get(i)).is_some_and(u8::is_ascii_digit);
    let underscores_between_digits =
        bytes.iter().enumerate().all(|(i, &b)| b != b'_' || (digit(i.checked_sub(1)) && digit(Some(i + 1))));
    if !underscores_between_digits {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// Python's `str()` of a recorded value, as the report prints the machine's and the targets' values.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(n) if n.is_f64() => n.as_f64().map_or_else(|| n.to_string(), python_repr),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => (if *b { "True" } else { "False" }).to_owned(),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

/// `round(value, digits)`: the exact binary value rounded half to even, as Python rounds it.
fn round(value: f64, digits: usize) -> f64 {
    format!("{value:.digits$}").parse().unwrap_or(value)
}

/// `a / b` when both are numbers and `b` is not zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

/// A derived figure as the JSON holds it: rounded to 6 decimals, `null` when there is none.
fn exact(value: Option<f64>) -> Value {
    value.map_or(Value::Null, |v| json!(round(v, 6)))
}

/// A recorded figure (`to_ceiling`, `median_to_ceiling`) when there is one, a float rounded to 6 decimals and
/// anything else as recorded; otherwise the `derived` one.
fn exact_or(recorded: Option<&Value>, derived: Option<f64>) -> Value {
    match recorded {
        Some(Value::Number(n)) if n.is_f64() => exact(n.as_f64()),
        Some(other) => other.clone(),
        None => exact(derived),
    }
}

/// Whether `value` met `target`: at least it when `higher` is better, at most it otherwise; "–" without a value.
fn verdict(value: Option<f64>, target: Option<f64>, higher: bool) -> &'static str {
    match (value, target) {
        (None, _) => "–",
        (Some(v), Some(t)) if (higher && v >= t) || (!higher && v <= t) => "met",
        (Some(_), _) => "**missed**",
    }
}

/// `statistics.median`: the middle value of the sorted values, the mean of the middle two for an even count.
fn median(mut values: Vec<f64>) -> anyhow::Result<f64> {
    anyhow::ensure!(!values.is_empty(), "no value to take the median of");
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Ok(if values.len() % 2 == 1 { values[middle] } else { (values[middle - 1] + values[middle]) / 2.0 })
}

/// An object of figures, in the order given.
fn object<const N: usize>(entries: [(&str, Value); N]) -> Group {
    entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// What the benchmark is held against.
fn targets() -> Group {
    object([
        ("one_over_ceiling", json!(0.6)),
        ("group_over_ceiling", json!(0.6)),
        ("producer_over_perftest", json!(0.8)),
        ("efficiency", json!(0.9)),
        ("p50_ms", json!(10)),
        ("p99_ms", json!(25)),
        ("p99_every_run_ms", json!(100)),
        ("rss_mb", json!(30)),
        ("rss_mib", json!(round(30e6 / f64::from(1 << 20), 1))),
    ])
}

/// The groups PREFIX<number> of the results (batch100, linger5 …) with their number, by their number. A group
/// such as `batchlat100` is not one of them: what follows the prefix must be digits.
fn keyed<'a>(r: &'a Results, prefix: &str) -> Vec<(&'a str, i64)> {
    let mut keys: Vec<(&str, i64)> = r
        .keys()
        .filter_map(|k| {
            let rest = k.strip_prefix(prefix)?;
            let digits = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| (k.as_str(), rest.parse().unwrap_or(i64::MAX)))
        })
        .collect();
    keys.sort_by_key(|(_, n)| *n);
    keys
}

/// The repeated latency runs at the steady rate: latency, latency2, latency3 …
fn latency_runs(r: &Results) -> Vec<&str> {
    let numbered = keyed(r, "latency").into_iter().map(|(k, _)| k);
    std::iter::once("latency").chain(numbered).filter(|k| r.has(k)).collect()
}

/// The sets of efficiency runs, each [1, 2, 3 consumers]: eff1..3, then eff1run2..eff3run2 … (older runs: one).
fn efficiency_sets(r: &Results) -> anyhow::Result<Vec<[String; 3]>> {
    let runs = r.or_empty("eff").int_or("runs", 1)?;
    let first = ["eff1", "eff2", "eff3"].map(String::from);
    let more = (2..=runs).map(|i| [1, 2, 3].map(|c| format!("eff{c}run{i}")));
    Ok(std::iter::once(first).chain(more).collect())
}

/// A run timed the three ways: its ratios to the ceiling, orders per wall second, and when its first row was
/// stored.
fn timed(run: Run, orders: i64, ceiling: Option<f64>) -> anyhow::Result<Group> {
    let rows = run.number("rows_per_s")?;
    let stretch = ratio(Some(orders as f64), rows);
    let wall = run.number("wall_s")?;
    Ok(object([
        // A run paired with a ceiling run right before it holds its ratio to that one (runs kept before pairing
        // have none, and the runs that were not paired hold theirs to the median ceiling).
        ("over_ceiling", exact_or(run.get("to_ceiling"), ratio(rows, ceiling))),
        ("busy_over_ceiling", exact(ratio(run.number("busy_rows_per_s")?, ceiling))),
        ("orders_per_wall_s", exact(ratio(Some(orders as f64), wall))),
        // Wall time minus the first-to-last stretch: about when the first row was stored (the wall clock stops at
        // the first half-second check that finds every row stored).
        ("first_row_after_s", exact(wall.zip(stretch).map(|(w, s)| w - s))),
    ]))
}

/// The figures the report computes from the measured ones, as it prints them (before rounding).
///
/// # Errors
/// A group or value the report needs that the results do not have (named in the error).
pub fn derive(r: &Results) -> anyhow::Result<Results> {
    let orders = r.run("producer")?.int("producer_acked")?;
    let ceiling = r.run("ceiling")?.number("rows_per_s")?;
    let mut f = Results::default();
    f.insert("targets".into(), targets());
    f.insert("ceiling".into(), object([("over_ceiling", json!(1.0))]));
    for c in 1..=3 {
        let group = format!("group{c}");
        let figures = timed(r.run(&group)?, orders, ceiling)?;
        f.insert(group, figures);
    }
    let sets = efficiency_sets(r)?;
    for keys in &sets {
        let first = r.run(&keys[0])?;
        for (c, k) in (1..=3).zip(keys) {
            // Against c times the rate of 1 consumer in the same set.
            let (e, c) = (r.run(k)?, f64::from(c));
            let scaled = |field: &str| -> anyhow::Result<Option<f64>> { Ok(first.number(field)?.map(|one| c * one)) };
            let while_all_work = ratio(e.number("busy_rows_per_s")?, scaled("busy_rows_per_s")?);
            let first_to_last = ratio(e.number("rows_per_s")?, scaled("rows_per_s")?);
            let efficiency = object([
                ("efficiency_while_all_work", exact(while_all_work)),
                ("efficiency_first_to_last", exact(first_to_last)),
            ]);
            f.insert(k.into(), efficiency);
        }
    }
    if r.has("wide3") {
        f.insert("wide3".into(), timed(r.run("wide3")?, r.run("wide")?.int("producer_acked")?, ceiling)?);
    }
    let measured = targets_measured(r, &f, &sets, ceiling)?;
    f.insert("targets_measured".into(), measured);
    if let Some(latency) = latency_figures(r)? {
        f.insert("latency_runs".into(), latency);
    }
    // 1 consumer with OFFSET_STORE=postgres, beside group1 (runs kept before it was measured have no such group).
    if let Some(pg) = r.group("pgoffsets1") {
        let mut figures = timed(pg, orders, ceiling)?;
        let over_group1 = ratio(pg.number("rows_per_s")?, r.run("group1")?.number("rows_per_s")?);
        figures.insert("over_group1".into(), exact(over_group1));
        f.insert("pgoffsets1".into(), figures);
    }
    f.insert("producer".into(), producer_figures(r)?);
    for (k, n) in keyed(r, "grow") {
        f.insert(k.into(), timed(r.run(k)?, n, ceiling)?);
    }
    for k in r.keys().filter(|k| k.starts_with("comp")) {
        let c = r.run(k)?;
        let bytes_per_order = ratio(c.number("log_bytes")?, c.number("producer_acked")?);
        f.insert(k.into(), object([("bytes_per_order", exact(bytes_per_order))]));
    }
    // Kafka Connect's JDBC sink (runs kept before it was measured have no such group).
    if let Some(peer) = peer_figures(r)? {
        f.insert("peer".into(), peer);
    }
    // The write paths (the same).
    f.extend(paths_figures(r)?);
    let numbers = |prefix| keyed(r, prefix).into_iter().map(|(_, n)| n).collect::<Vec<_>>();
    f.insert(
        "settings".into(),
        object([("batch_sizes", json!(numbers("batch"))), ("linger_ms", json!(numbers("linger")))]),
    );
    Ok(f)
}

/// The write paths' figures (section 10), when the results have them: `paths` (the orders, batch and rounds of each
/// run, the `jsonb` parse's cost a row) and a group `paths_<path>` a path with the medians of its rounds, under the
/// names of its rounds' figures.
fn paths_figures(r: &Results) -> anyhow::Result<Vec<(String, Group)>> {
    let Some(paths) = r.group("paths") else { return Ok(Vec::new()) };
    let jsonb = paths.get("jsonb_parse_us_per_row").cloned().unwrap_or(Value::Null);
    let mut groups = vec![(
        "paths".to_owned(),
        object([
            ("orders", paths.value("orders")?.clone()),
            ("batch", paths.value("batch")?.clone()),
            ("rounds", paths.value("rounds")?.clone()),
            ("jsonb_parse_us_per_row", jsonb),
        ]),
    )];
    for path in super::write_paths::PATHS {
        let mut medians = Group::new();
        for figure in super::write_paths::FIGURES {
            medians.insert(figure.to_owned(), paths.value(&format!("{path}.median_{figure}"))?.clone());
        }
        groups.push((format!("paths_{path}"), medians));
    }
    Ok(groups)
}

/// The figures derived for the peer (section 9), when the results have them.
/// Our producer's median rate over `kafka-producer-perf-test`'s, both on the same records in the same run.
fn producer_figures(r: &Results) -> anyhow::Result<Group> {
    let producer = ratio(r.run("producer")?.number("producer_rate")?, r.run("perftest")?.number("rate")?);
    Ok(object([("over_perftest", exact(producer))]))
}

fn peer_figures(r: &Results) -> anyhow::Result<Option<Group>> {
    let Some(peer) = r.group("peer") else { return Ok(None) };
    let bytes = ratio(peer.number("record_bytes")?, r.run("producer")?.number("record_bytes")?);
    Ok(Some(object([("record_bytes_over_ours", exact(bytes)), ("target_over_tuned", json!(5.0))])))
}

/// The figures held against the targets: medians of repeated runs where the run has them (older runs: one each).
fn targets_measured(r: &Results, f: &Results, sets: &[[String; 3]], ceiling: Option<f64>) -> anyhow::Result<Group> {
    let one_group = r.or_empty("one");
    let group1_rows = r.run("group1")?.value("rows_per_s")?;
    let one = one_group.get("median_rows_per_s").unwrap_or(group1_rows);
    let mut measured = object([
        ("one_rows_per_s", one.clone()),
        // Paired runs: the median of each run's ratio to the ceiling run right before it; older runs: the ratio
        // of the two medians.
        ("one_over_ceiling", exact_or(one_group.get("median_to_ceiling"), ratio(number(one), ceiling))),
        ("paired", json!(one_group.get("median_to_ceiling").is_some())),
        ("eff_runs", json!(sets.len())),
        ("eff2", exact(median_efficiency(f, sets, 2)?)),
        ("eff3", exact(median_efficiency(f, sets, 3)?)),
        ("one_runs", json!(one_group.int_or("runs", 1)?)),
        ("ceiling_runs", json!(r.run("ceiling")?.int_or("runs", 1)?)),
    ]);
    if let Some(wide3) = r.group("wide3") {
        let wide = wide3.get("median_rows_per_s").unwrap_or(wide3.value("rows_per_s")?);
        measured.insert("wide_rows_per_s".into(), wide.clone());
        measured
            .insert("wide_over_ceiling".into(), exact_or(wide3.get("median_to_ceiling"), ratio(number(wide), ceiling)));
        measured.insert("wide_runs".into(), json!(wide3.int_or("runs", 1)?));
    }
    Ok(measured)
}

/// The median over the sets of the efficiency (while all work) with `consumers` consumers. One set's is its own,
/// even when there is none (Python's median of one value); with more, every set must have one.
fn median_efficiency(f: &Results, sets: &[[String; 3]], consumers: usize) -> anyhow::Result<Option<f64>> {
    let each = sets
        .iter()
        .map(|keys| f.run(&keys[consumers - 1])?.number("efficiency_while_all_work"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match each[..] {
        [one] => Ok(one),
        _ => {
            let all = each.into_iter().collect::<Option<Vec<f64>>>();
            let all = all.with_context(|| format!("a set of efficiency runs has no efficiency with {consumers}"))?;
            median(all).map(Some)
        }
    }
}

/// The latency runs at the steady rate, summed up: medians, the worst p99 and the runs over 100 ms.
fn latency_figures(r: &Results) -> anyhow::Result<Option<Group>> {
    let runs = latency_runs(r);
    if runs.is_empty() {
        return Ok(None);
    }
    let sorted = |field: &str| -> anyhow::Result<Vec<f64>> {
        let mut values = runs.iter().map(|k| r.run(k)?.float(field)).collect::<anyhow::Result<Vec<f64>>>()?;
        values.sort_by(f64::total_cmp);
        Ok(values)
    };
    let (p50s, p99s) = (sorted("p50_ms")?, sorted("p99_ms")?);
    Ok(Some(object([
        ("runs", json!(runs.len())),
        ("median_p50_ms", exact(Some(median(p50s)?))),
        ("median_p99_ms", exact(Some(median(p99s.clone())?))),
        ("worst_p99_ms", json!(p99s.last())),
        ("runs_over_100_ms", json!(p99s.iter().filter(|&&v| v > 100.0).count())),
    ])))
}

/// The Markdown report, its figures scopes naming `figures_file` (the JSON written beside it).
///
/// # Errors
/// A group or value the report needs that the results do not have (named in the error).
pub fn markdown<'a>(r: &'a Results, figures_file: &'a str) -> anyhow::Result<String> {
    let f = derive(r)?;
    let settings = r.or_empty("settings");
    let mut report = Report {
        r,
        f: &f,
        figures_file,
        orders: r.run("producer")?.int("producer_acked")?,
        rate: settings.get("latency_rate").map_or(Some(1000.0), number),
        wide_customers: settings.int_or("wide_customers", 1000)?,
        lines: Vec::new(),
    };
    report.header()?;
    report.targets()?;
    report.group()?;
    report.repeated_runs()?;
    report.offset_store()?;
    report.scaling()?;
    report.producer()?;
    report.latency()?;
    report.growth()?;
    report.knobs()?;
    report.peer()?;
    report.write_paths()?;
    report.closing();
    Ok(report.lines.join("\n") + "\n")
}

/// The report of a `--peer-only` run: the machine and section 9 alone, its figures scopes naming `figures_file`.
///
/// # Errors
/// A group or value the section needs that the results do not have (named in the error).
pub fn peer_markdown<'a>(r: &'a Results, figures_file: &'a str) -> anyhow::Result<String> {
    let mut f = Results::default();
    f.insert("peer".into(), peer_figures(r)?.context("the results have no peer figures")?);
    let mut report = Report {
        r,
        f: &f,
        figures_file,
        orders: r.run("producer")?.int("producer_acked")?,
        rate: None,
        wide_customers: 0,
        lines: Vec::new(),
    };
    let (m, time) = (r.run("machine")?, python_str(r.run("run")?.value("time")?));
    report.heading("# The pipeline against Kafka Connect's JDBC sink", &["memory_kib"]);
    report.w(format!(
        "One run of `scripts/lab.sh bench --peer-only` (written by it, {time}) on the local stack: {} cores ({}), {} \
         KiB of memory, Kafka {}, PostgreSQL {}; the broker, the database, the consumers and the Connect worker \
         shared the cores. It is section 9 of the benchmark alone, after the producer's runs that filled the topic{}.",
        m.int("cores")?,
        python_str(m.value("cpu")?),
        m.int("memory_kib")?,
        python_str(m.value("kafka")?),
        python_str(m.value("postgres")?),
        if r.group("ceiling").is_some() { " and the staging of the ceiling's rows (section 1)" } else { "" },
    ));
    report.peer()?;
    Ok(report.lines.join("\n") + "\n")
}

/// Writes a `--peer-only` run's JSON (the results and the peer's derived figures) to `json` and its report to
/// `doc`.
///
/// # Errors
/// As [`peer_markdown`], or a file that cannot be written.
pub fn write_peer(r: &Results, json: &Path, doc: &Path) -> anyhow::Result<()> {
    let name = json.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let markdown = peer_markdown(r, &name)?;
    let mut figures = Results::default();
    figures.insert("peer".into(), peer_figures(r)?.context("the results have no peer figures")?);
    // The producer's runs filled the peer's topic, alternating with kafka-producer-perf-test's.
    figures.insert("producer".into(), producer_figures(r)?);
    // As `bench.json`: the results' groups, and the derived figures under `figures`.
    let mut value = serde_json::to_value(r)?;
    if let Some(groups) = value.as_object_mut() {
        groups.insert("figures".into(), serde_json::to_value(figures)?);
    }
    let text = serde_json::to_string_pretty(&value)?;
    for (path, text) in [(doc, markdown), (json, text)] {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The report being written: the results, the figures derived from them, and the lines so far (each a paragraph,
/// a table or a row; joined by newlines).
struct Report<'a> {
    r: &'a Results,
    f: &'a Results,
    /// The JSON every section's figures scope names (`<!-- figures: benchmarks.json fields: … -->`).
    figures_file: &'a str,
    orders: i64,
    /// The steady rate of the latency runs (orders/s).
    rate: Option<f64>,
    /// The customers of the even topic.
    wide_customers: i64,
    lines: Vec<String>,
}

impl<'a> Report<'a> {
    fn w(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    /// A heading and, on a line of its own under it, the figures scope of its section: the JSON and the fields of
    /// it the section prints (`doc-checks/tests/docs_figures.rs` checks each figure against them).
    fn heading(&mut self, heading: &str, fields: &[&str]) {
        self.w(heading);
        self.w(format!("\n<!-- figures: {} fields: {} -->\n", self.figures_file, fields.join(" ")));
    }

    /// `num(f[group][name], digits)`.
    fn figure(&self, group: &str, name: &str, digits: usize) -> anyhow::Result<String> {
        self.f.run(group)?.num(name, digits)
    }

    /// The figures held against the targets.
    fn measured(&self) -> anyhow::Result<Run<'a>> {
        self.f.run("targets_measured")
    }

    /// `num` of `field` in each of the groups `keys` the results have, joined by ", ".
    fn each(&self, keys: &[String], field: &str, digits: usize) -> anyhow::Result<String> {
        let present = keys.iter().filter_map(|k| self.r.group(k));
        Ok(present.map(|run| run.num(field, digits)).collect::<anyhow::Result<Vec<_>>>()?.join(", "))
    }

    fn header(&mut self) -> anyhow::Result<()> {
        let (m, time) = (self.r.run("machine")?, python_str(self.r.run("run")?.value("time")?));
        let memory = int((m.float("memory_kib")? / 1024.0).round_ties_even()).context("machine.memory_kib")?;
        let librdkafka = python_str(m.value("librdkafka")?);
        self.heading("# Benchmarks", &["memory_kib"]);
        self.w(format!(
            "One run of `scripts/lab.sh bench` (the whole file below was written by it, {time}) on the local stack: {} \
             cores ({}), {memory} MiB, Kafka {}, PostgreSQL {}, librdkafka {}. Every process ran on this one \
             machine, so the broker, the database and the clients shared its cores. Absolute numbers vary between \
             machines, and so do the ratios ([performance.md](performance.md) shows the same code's ratio to the \
             ceiling move between two hosts of the same kind): compare a ratio only with one of the same run. Every figure is also in \
             `docs/benchmarks.json`, written by the same run: the measured ones as recorded, the ones this report \
             derives from them (ratios, orders per wall second, bytes per order, the targets) under `figures`.\n",
            m.int("cores")?,
            python_str(m.value("cpu")?),
            python_str(m.value("kafka")?),
            python_str(m.value("postgres")?),
            librdkafka.rsplit('+').next().unwrap_or(&librdkafka),
        ));
        Ok(())
    }

    /// A row of the targets' table: the value, the target (at least or at most) and whether it was met.
    fn target(
        &mut self,
        measure: &str,
        value: Option<f64>,
        digits: usize,
        unit: &str,
        key: &str,
        higher: bool,
    ) -> anyhow::Result<()> {
        let target = self.f.run("targets")?.value(key)?;
        let verdict = verdict(value, number(target), higher);
        let (value, bound, target) = (num(value, digits), if higher { "≥" } else { "≤" }, python_str(target));
        self.w(format!("| {measure} | {value}{unit} | {bound} {target}{unit} | {verdict} |"));
        Ok(())
    }

    fn targets(&mut self) -> anyhow::Result<()> {
        let (r, tm) = (self.r, self.measured()?);
        let (one_runs, wide_runs, ceiling_runs) =
            (tm.int("one_runs")?, tm.int_or("wide_runs", 1)?, tm.int("ceiling_runs")?);
        let (one_of, wide_of) = if paired(tm) {
            let pairs = |n| if n > 1 { format!("median of {n} pairs") } else { "1 pair".to_owned() };
            let right_before = "each run / the ceiling run right before it";
            (format!("{right_before}, {}", pairs(one_runs)), format!("{right_before}, {}", pairs(wide_runs)))
        } else {
            let ceilings = format!("median of {ceiling_runs} ceiling runs");
            (format!("median of {one_runs} runs / {ceilings}"), format!("median of {wide_runs} runs / {ceilings}"))
        };
        let eff_runs = tm.int("eff_runs")?;
        let eff_of = if eff_runs > 1 { format!(", median of {eff_runs} sets") } else { String::new() };
        let customers = thousands(self.wide_customers);
        self.heading(
            "## Against the targets",
            &[
                "busy_over_ceiling",
                "batch_sizes",
                "max_ms",
                "p99_ms",
                "cpu_on_to_off",
                "consumer_cpu_s",
                "consumer_rss_kib",
                "median_p50_ms",
                "over_perftest",
                "producer_rss_kib",
                "rss_mib",
            ],
        );
        self.w("| measure | value | target | |\n|---|---|---|---|");
        let one = format!("1 consumer (first to last row) / Postgres ceiling ({one_of})");
        self.target(&one, tm.number("one_over_ceiling")?, 2, "", "one_over_ceiling", true)?;
        let wide = format!("3 consumers, {customers} customers (first to last row) / Postgres ceiling ({wide_of})");
        self.target(&wide, tm.get("wide_over_ceiling").and_then(number), 2, "", "group_over_ceiling", true)?;
        let producer = self.f.run("producer")?.number("over_perftest")?;
        self.target("our producer / kafka-producer-perf-test", producer, 2, "", "producer_over_perftest", true)?;
        for c in [2, 3] {
            let measure = format!("scaling efficiency with {c} consumers (while all work{eff_of})");
            self.target(&measure, tm.number(&format!("eff{c}"))?, 2, "", "efficiency", true)?;
        }
        if let Some(lr) = self.f.group("latency_runs") {
            let (rate, runs) = (num(self.rate, 0), lr.int("runs")?);
            let at = format!("latency at {rate} orders/s");
            self.target(
                &format!("p50 {at} (median of {runs} runs)"),
                lr.number("median_p50_ms")?,
                1,
                " ms",
                "p50_ms",
                false,
            )?;
            self.target(
                &format!("p99 {at} (median of {runs} runs)"),
                lr.number("median_p99_ms")?,
                1,
                " ms",
                "p99_ms",
                false,
            )?;
            let worst = format!("p99 {at}, worst of {runs} runs in a row");
            self.target(&worst, lr.number("worst_p99_ms")?, 1, " ms", "p99_every_run_ms", false)?;
        }
        // The memory target is about the runs (2) and (5), as the issue defines measure 6: default settings. The
        // knob runs (a 5,000-order batch holds more) report their own peaks in section 8.
        let consumers = ["group1", "group2", "group3", "latency"].map(|k| r.run(k)?.float("consumer_rss_kib"));
        let rss = consumers.into_iter().try_fold(f64::NEG_INFINITY, |max, v| v.map(|v| max.max(v)))?;
        let prss = r.run("producer")?.float("producer_rss_kib")?.max(r.run("latency")?.float("producer_rss_kib")?);
        let t = self.f.run("targets")?;
        let (rss_mb, rss_mib) = (python_str(t.value("rss_mb")?), python_str(t.value("rss_mib")?));
        for (which, runs, kib) in [("consumer", "2 and 5", rss), ("producer", "4 and 5", prss)] {
            let mib = Some(kib / 1024.0);
            let verdict = verdict(mib, t.number("rss_mib")?, false);
            let largest = format!("peak RSS, {which} (largest in runs {runs})");
            self.w(format!("| {largest} | {} MiB | ≤ {rss_mb} MB | {verdict} |", num(mib, 1)));
        }
        self.w(format!("\n({rss_mb} MB = {rss_mib} MiB.)\n"));
        Ok(())
    }

    /// Sections 1 and 2: the ceiling and the consumer group, timed three ways, in one table.
    fn group(&mut self) -> anyhow::Result<()> {
        let (r, tm) = (self.r, self.measured()?);
        let customers = thousands(self.wide_customers);
        let staged = if paired(tm) {
            "stored once by 1 consumer at the start and copied to a staging table, "
        } else {
            "already in a staging table, "
        };
        self.heading(
            "## 1, 2. Postgres ceiling and the consumer group",
            &[
                "rows_per_s",
                "over_ceiling",
                "ceiling_rows_per_s",
                "consumer_rss_kib",
                "largest_partition_share",
                "orders_per_wall_s",
                "wall_s",
                "batch_sizes",
                "busy_rows_per_s",
                "to_ceiling",
                "ceiling_runs",
                "efficiency_first_to_last",
                "producer_acked",
            ],
        );
        self.w(format!(
            "{} orders. The ceiling: the same rows, {staged}upserted by the server itself with the consumer's \
             `INSERT … ON CONFLICT … WHERE` into the emptied table. The group: a topic of 3 partitions pre-filled \
             with the orders by the producer's first run (section 4), read by 1, then 2, then 3 consumers, each time \
             as a new consumer group storing into an empty database of its own, until every row was stored.\n",
            thousands(self.orders)
        ));
        self.w("The group's speed, three ways, from the same rows:\n");
        self.w(
            "- **first to last row**: rows ÷ (the last row's `processed_at` − the first row's). It leaves out what \
             comes before the first row is stored (start-up, migrations, joining the group) and keeps whatever pauses \
             come after it, such as a rebalance while later consumers join. The targets use this one.",
        );
        self.w(
            "- **sum of own rates**: for each consumer, its rows ÷ its own first-to-last stretch, summed: the group's \
             speed while all its members store.",
        );
        self.w(
            "- **orders / wall time**: the wall time runs from starting the consumers to the check, made every half \
             second, that found the group's offsets committed to the end of every partition and every row stored, so \
             it includes start-up and the join.\n",
        );
        self.w(format!(
            "Orders are keyed by customer: with the producer's default pool of 100 customers the three partitions are \
             uneven, and a group is done only when the owner of the largest partition is. The last row repeats the 3 \
             consumers on a topic of the same number of orders from {customers} customers, whose partitions are even; \
             the largest partition's share of the rows is in its own column.\n"
        ));
        self.w("| | orders/s, first to last row | / ceiling | orders/s, sum of own rates | wall time from start | \
             orders / wall time | peak RSS per consumer | largest partition's share \
             |\n|---|---|---|---|---|---|---|---|");
        let (ceiling, over) = (r.run("ceiling")?.num("rows_per_s", 0)?, self.figure("ceiling", "over_ceiling", 2)?);
        let ceiling_runs = tm.int("ceiling_runs")?;
        self.w(format!("| Postgres ceiling (median of {ceiling_runs}) | {ceiling} | {over} | | | | | |"));
        let mut rows = vec![("1 consumer".to_owned(), "group1")];
        if r.has("pgoffsets1") {
            rows.push(("1 consumer, `OFFSET_STORE=postgres`".to_owned(), "pgoffsets1"));
        }
        rows.extend([("2 consumers".to_owned(), "group2"), ("3 consumers".to_owned(), "group3")]);
        if r.has("wide3") {
            rows.push((format!("3 consumers, {customers} customers"), "wide3"));
        }
        for (name, k) in rows {
            let run = r.run(k)?;
            self.w(format!(
                "| {name} | {} | {} | {} | {} s | {} | {} MiB | {} |",
                run.num("rows_per_s", 0)?,
                self.figure(k, "over_ceiling", 2)?,
                run.num("busy_rows_per_s", 0)?,
                run.num("wall_s", 2)?,
                self.figure(k, "orders_per_wall_s", 0)?,
                run.mib("consumer_rss_kib")?,
                run.get_num("largest_partition_share", 3),
            ));
        }
        Ok(())
    }

    /// Under section 2's table: every run held against a target, paired with a ceiling run of its own or as
    /// medians of repeated runs (a run that repeated none says nothing).
    fn repeated_runs(&mut self) -> anyhow::Result<()> {
        let (r, tm) = (self.r, self.measured()?);
        let (one_runs, wide_runs, ceiling_runs) =
            (tm.int("one_runs")?, tm.int_or("wide_runs", 1)?, tm.int("ceiling_runs")?);
        let customers = thousands(self.wide_customers);
        let ones: Vec<String> =
            std::iter::once("group1".to_owned()).chain((1..one_runs).map(|i| format!("metricson{i}"))).collect();
        let wides: Vec<String> =
            std::iter::once("wide3".to_owned()).chain((2..=wide_runs).map(|i| format!("widerun{i}"))).collect();
        if paired(tm) {
            self.w(format!(
                "\nOne run of this machine's Postgres or of the group differs from the next by a quarter or more, and \
                 the machine's speed drifts within minutes, so every run held against a target follows a ceiling run \
                 of its own (a `CHECKPOINT` before each of the two), and the figure is the median of those ratios; \
                 every run is kept in `benchmarks.json`. 1 consumer, its {one_runs} runs with default settings on the \
                 same topic (the one in the table and the runs with metrics on of the metrics' cost measurement): {} \
                 orders/s against ceilings of {}, ratios {}. 3 consumers on the topic of {customers} customers, \
                 {wide_runs} run{}: {} against {}, ratios {}. The ceiling's row is the median of all {ceiling_runs} \
                 ceiling runs (the metrics-off runs had theirs too); the table shows each group's first run, and 2 and \
                 3 consumers on the default topic, which were not paired, against that median.",
                self.each(&ones, "rows_per_s", 0)?,
                self.each(&ones, "ceiling_rows_per_s", 0)?,
                self.each(&ones, "to_ceiling", 2)?,
                plural(wide_runs),
                self.each(&wides, "rows_per_s", 0)?,
                self.each(&wides, "ceiling_rows_per_s", 0)?,
                self.each(&wides, "to_ceiling", 2)?,
            ));
        } else if ceiling_runs > 1 {
            let ceilings: Vec<String> = keyed(r, "ceiling").into_iter().map(|(k, _)| k.to_owned()).collect();
            self.w(format!(
                "\nOne run of this machine's Postgres or of the group differs from the next by a quarter or more, so \
                 the figures held against the targets are medians of repeated runs, every one kept in \
                 `benchmarks.json`: the ceiling {ceiling_runs} times on the same staged rows ({} orders/s), 1 \
                 consumer's {one_runs} runs with default settings on the same topic, the one in the table and the runs \
                 with metrics on of the metrics' cost measurement ({}; median {}), 3 consumers on the topic of \
                 {customers} customers {wide_runs} times ({}; median {}). The table shows the ceiling's median and \
                 each group's first run.",
                self.each(&ceilings, "rows_per_s", 0)?,
                self.each(&ones, "rows_per_s", 0)?,
                tm.num("one_rows_per_s", 0)?,
                self.each(&wides, "rows_per_s", 0)?,
                tm.get_num("wide_rows_per_s", 0),
            ));
        }
        Ok(())
    }

    /// Under section 2's table: what storing offsets in Postgres cost, when the run measured it.
    fn offset_store(&mut self) -> anyhow::Result<()> {
        if !self.r.has("pgoffsets1") {
            return Ok(());
        }
        self.w(format!(
            "\nWith `OFFSET_STORE=postgres` (run right after the default run of 1 consumer, in a group and database of \
             its own) each batch's transaction also stores its partitions' next offsets, a second statement: first to \
             last row it stored {} times the orders per second of the default (`OFFSET_STORE=kafka`) run of 1 \
             consumer. One run of each; what each store guarantees: \
             [reliability.md](reliability.md#where-offsets-are-kept-offset_storekafka-or-postgres).",
            self.figure("pgoffsets1", "over_group1", 2)?
        ));
        Ok(())
    }

    /// Section 3: scaling efficiency with simulated work per order.
    fn scaling(&mut self) -> anyhow::Result<()> {
        let (r, tm) = (self.r, self.measured()?);
        let delay = num(r.or_empty("settings").get("eff_delay_ms").map_or(Some(5.0), number), 0);
        self.heading(
            &format!("\n## 3. Scaling with {delay} ms of simulated work per order"),
            &["efficiency_while_all_work", "busy_rows_per_s", "efficiency_first_to_last", "rows_per_s", "batch_sizes"],
        );
        self.w(format!(
            "`PROCESSING_DELAY_MS={delay}`, `BATCH_SIZE=20`, a pre-filled topic of 3 partitions with orders of {} \
             customers (so the partitions are even and the figure is about consumers, not key skew). \"While all \
             work\" sums each consumer's own rate; \"first to last row\" is bounded by the consumer with the most \
             orders.\n",
            thousands(self.wide_customers)
        ));
        let sets = efficiency_sets(r)?;
        if sets.len() > 1 {
            let efficiency = |k: &String| self.figure(k, "efficiency_while_all_work", 2);
            let each = sets
                .iter()
                .map(|keys| Ok(format!("{} and {}", efficiency(&keys[1])?, efficiency(&keys[2])?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            self.w(format!(
                "The three runs were made {} times in a row; the first set is in the table, each set's efficiency \
                 with 2 and 3 consumers is its own runs' (while all work: {}), and the targets hold the medians, {} \
                 and {}.\n",
                sets.len(),
                each.join("; "),
                tm.num("eff2", 2)?,
                tm.num("eff3", 2)?,
            ));
        }
        self.w("| consumers | orders/s while all work | efficiency | orders/s first to last row | efficiency \
             |\n|---|---|---|---|---|");
        for c in 1..=3 {
            let k = format!("eff{c}");
            let e = r.run(&k)?;
            self.w(format!(
                "| {c} | {} | {} | {} | {} |",
                e.num("busy_rows_per_s", 0)?,
                self.figure(&k, "efficiency_while_all_work", 2)?,
                e.num("rows_per_s", 0)?,
                self.figure(&k, "efficiency_first_to_last", 2)?,
            ));
        }
        Ok(())
    }

    /// Section 4: our producer against kafka-producer-perf-test.
    fn producer(&mut self) -> anyhow::Result<()> {
        let (r, producer) = (self.r, self.r.run("producer")?);
        self.heading(
            "\n## 4. Producer",
            &["producer_rate", "rate", "producer_acked", "producer_rss_kib", "record_bytes"],
        );
        self.w(format!(
            "{} records of {} bytes on average (our orders; kafka-producer-perf-test sent the same JSON, read back \
             from the topic, as its payload file), `acks=all`, idempotence on, `compression.type=lz4`, `linger.ms=5`, \
             `batch.size=1000000`, as fast as possible. Our producer sends keyed records (murmur2); the perf test \
             sends unkeyed ones.\n",
            thousands(self.orders),
            producer.int("record_bytes")?
        ));
        let runs = producer.int_or("runs", 1)?;
        let numbered = |name: &str| (1..=runs).map(|i| format!("{name}{i}")).collect::<Vec<_>>();
        let ours = self.each(&numbered("producer"), "producer_rate", 0)?;
        let theirs = self.each(&numbered("perftest"), "rate", 0)?;
        self.w(format!("Each ran {runs} time{}, alternating; the median counts.\n", plural(runs)));
        self.w("| producer | records/s (median) | every run | peak RSS |\n|---|---|---|---|");
        let (rate, rss) = (producer.num("producer_rate", 0)?, producer.mib("producer_rss_kib")?);
        self.w(format!("| order-producer | {rate} | {ours} | {rss} MiB |"));
        self.w(format!("| kafka-producer-perf-test | {} | {theirs} | (JVM) |", r.run("perftest")?.num("rate", 0)?));
        Ok(())
    }

    /// Sections 5 and 6: latency and memory at the steady rate, each run, and once at a high rate.
    fn latency(&mut self) -> anyhow::Result<()> {
        let (r, rate) = (self.r, num(self.rate, 0));
        self.heading(
            "\n## 5, 6. Latency and memory at a steady rate",
            &[
                "p99_ms",
                "consumer_rss_kib",
                "max_ms",
                "p50_ms",
                "p95_ms",
                "producer_rss_kib",
                "producer_acked",
                "batch_sizes",
                "high_rate",
            ],
        );
        self.w(format!(
            "{} orders at {rate}/s, 3 consumers on 3 partitions, default settings, after a `CHECKPOINT` (so the writes \
             of the runs before do not land in this one). Latency = the row's `processed_at` (the database clock \
             during the insert) minus the record's timestamp set by the producer.\n",
            thousands(r.run("latency")?.int("producer_acked")?)
        ));
        let runs = latency_runs(r);
        self.w(format!("The run was made {} times in a row, each on a topic and a database of its own.\n", runs.len()));
        self.w("| run | p50 | p95 | p99 | max | peak RSS producer | peak RSS consumer (largest) \
             |\n|---|---|---|---|---|---|---|");
        for (i, k) in runs.into_iter().enumerate() {
            let x = r.run(k)?;
            let (producer, consumer) = (x.mib("producer_rss_kib")?, x.mib("consumer_rss_kib")?);
            self.w(format!("| {} | {} | {producer} MiB | {consumer} MiB |", i + 1, latencies(x)?));
        }
        if let Some(high) = r.group("highrate").filter(|high| !high.fields.is_empty()) {
            let high_rate = num(r.or_empty("settings").get("high_rate").map_or(Some(10000.0), number), 0);
            let orders = thousands(high.int("producer_acked")?);
            self.w(format!("\nAt {high_rate} orders/s, {orders} orders, the same way, once:\n"));
            self.w("| p50 | p95 | p99 | max | peak RSS consumer (largest) |\n|---|---|---|---|---|");
            self.w(format!("| {} | {} MiB |", latencies(high)?, high.mib("consumer_rss_kib")?));
        }
        Ok(())
    }

    /// Section 7: the group on topics of growing size.
    fn growth(&mut self) -> anyhow::Result<()> {
        let r = self.r;
        self.heading(
            "\n## 7. Growth",
            &["busy_rows_per_s", "orders_per_wall_s", "rows_per_s", "producer_acked", "wall_s", "consumer_cpu_s"],
        );
        self.w("3 consumers; each N on a topic of its own, filled by the producer just before, stored into an empty \
             database of its own; timed the three ways of section 2.\n");
        self.w(
            "| orders | wall time from start | orders / wall time | orders/s, first to last row | orders/s, sum of \
             own rates |\n|---|---|---|---|---|",
        );
        for (k, n) in keyed(r, "grow") {
            let run = r.run(k)?;
            self.w(format!(
                "| {} | {} s | {} | {} | {} |",
                thousands(n),
                run.num("wall_s", 2)?,
                self.figure(k, "orders_per_wall_s", 0)?,
                run.num("rows_per_s", 0)?,
                run.num("busy_rows_per_s", 0)?,
            ));
        }
        let same = format!("grow{}", self.orders);
        if let Some(b) = r.group(&same) {
            let a = r.run("group3")?;
            self.w(format!(
                "\nThe {} row repeats section 2's run of 3 consumers at another moment of the bench, on its own topic \
                 and database. Side by side, section 2 first: first to last row {} and {} orders/s, sum of own rates \
                 {} and {}, orders / wall time {} and {}. First to last row starts at the first row any consumer \
                 stores, so it moves with how much of the group's forming comes after that row: wall time minus the \
                 first-to-last stretch, about when the first row was stored (to within the half-second check), was {} \
                 s in section 2 and {} s here. When the three ways disagree, the sum of own rates is the group's speed \
                 while all its members store, and the other two say how much of the join and of rebalances each window \
                 holds; each consumer's log (`results/bench-<time>/work/`) shows when it joined and what it was \
                 assigned.",
                thousands(self.orders),
                a.num("rows_per_s", 0)?,
                b.num("rows_per_s", 0)?,
                a.num("busy_rows_per_s", 0)?,
                b.num("busy_rows_per_s", 0)?,
                self.figure("group3", "orders_per_wall_s", 0)?,
                self.figure(&same, "orders_per_wall_s", 0)?,
                self.figure("group3", "first_row_after_s", 1)?,
                self.figure(&same, "first_row_after_s", 1)?,
            ));
        }
        Ok(())
    }

    /// Section 8: consumer batch size, producer compression and linger.
    fn knobs(&mut self) -> anyhow::Result<()> {
        let (r, rate) = (self.r, num(self.rate, 0));
        let knob = thousands(match r.group("knob") {
            Some(knob) => knob.int("producer_acked")?,
            None => self.orders,
        });
        let first_latency = keyed(r, "batchlat").into_iter().chain(keyed(r, "lingerlat")).next();
        let latency_orders = thousands(match first_latency {
            Some((k, _)) => r.run(k)?.int("producer_acked")?,
            None => 0,
        });
        self.heading(
            "\n## 8. Knobs",
            &[
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "batch_sizes",
                "producer_rate",
                "producer_acked",
                "busy_rows_per_s",
                "consumer_rss_kib",
                "bytes_per_order",
                "log_bytes",
                "linger_ms",
            ],
        );
        self.w(format!(
            "Consumer batch size: throughput of 1 consumer on a pre-filled topic of {knob} orders (first to last row); \
             latency with 3 consumers, {latency_orders} orders at {rate}/s; one run of each per size.\n"
        ));
        self.w("| BATCH_SIZE | orders/s (1 consumer) | peak RSS (1 consumer) | p50 | p95 | p99 \
             |\n|---|---|---|---|---|---|");
        for (k, _) in keyed(r, "batch") {
            let (run, size) = (r.run(k)?, &k["batch".len()..]);
            let latency = format!("batchlat{size}");
            let (rows, rss) = (run.num("rows_per_s", 0)?, run.mib("consumer_rss_kib")?);
            self.w(format!("| {size} | {rows} | {rss} MiB | {} |", percentiles(r.or_empty(&latency))));
        }
        self.w(format!(
            "\nProducer compression: rate ({knob} orders, as fast as possible) and the bytes the topic's log segments \
             hold.\n"
        ));
        self.w("| compression | records/s | bytes on disk | bytes per order |\n|---|---|---|---|");
        for k in r.keys().filter(|k| k.starts_with("comp")) {
            let c = r.run(k)?;
            let (rate, bytes, per_order) =
                (c.num("producer_rate", 0)?, c.num("log_bytes", 0)?, self.figure(k, "bytes_per_order", 1)?);
            self.w(format!("| {} | {rate} | {bytes} | {per_order} |", &k["comp".len()..]));
        }
        self.w(format!(
            "\nProducer linger (`linger.ms`): the producer's rate, {knob} orders as fast as possible, and latency \
             with 3 consumers, {latency_orders} orders at {rate}/s; one run of each per value.\n"
        ));
        self.w("| linger.ms | records/s | p50 | p95 | p99 |\n|---|---|---|---|---|");
        for (k, _) in keyed(r, "linger") {
            let (run, linger) = (r.run(k)?, &k["linger".len()..]);
            let latency = format!("lingerlat{linger}");
            let rate = run.num("producer_rate", 0)?;
            self.w(format!("| {linger} | {rate} | {} |", percentiles(r.or_empty(&latency))));
        }
        self.w(
            "\nWhat the linger figures can and cannot say. `linger.ms` is how long the producer holds a record for its \
             batch to fill; at this rate a partition gets a record every few milliseconds, so a linger adds up to its \
             own length to a record's latency: the p50 column measures that cost. The records/s column is one run per \
             value, and single producer runs on this machine differ by up to a third from one to the next \
             ([performance.md](performance.md#producer-against-kafka-producer-perf-test)), so it does not rank the \
             lingers. The default stays at `linger.ms=5`, librdkafka's own default (and the Java client's since Kafka \
             4.0): at a low rate it costs a few milliseconds of p50; what it buys is batching under load, which one \
             as-fast-as-possible run per value cannot measure.",
        );
        Ok(())
    }

    /// Section 9: the peer a user would pick instead, Kafka Connect's JDBC sink, against 1 and 3 consumers.
    fn peer(&mut self) -> anyhow::Result<()> {
        let (r, machine) = (self.r, self.r.run("machine")?);
        let Some(peer) = r.group("peer") else { return Ok(()) };
        let figures = self.f.run("peer")?;
        // Runs before the peer's runs of ours were paired with the ceiling have no ratio to it.
        let paired = peer.get("one_ours_to_ceiling").is_some();
        let ceiling_fields: &[&str] =
            if paired { &["one_ours_to_ceiling", "three_ours_to_ceiling", "one_ceiling_rows_per_s"] } else { &[] };
        self.heading(
            "\n## 9. Against Kafka Connect's JDBC sink",
            &[
                "record_bytes",
                "record_bytes_over_ours",
                "copy_rows_per_s",
                "tuned_batch",
                "one_ours_rows_per_s",
                "one_default_rows_per_s",
                "one_tuned_rows_per_s",
                "one_over_default",
                "one_over_tuned",
                "three_ours_rows_per_s",
                "three_default_rows_per_s",
                "three_tuned_rows_per_s",
                "three_over_default",
                "three_over_tuned",
                "target_over_tuned",
                "worker_rss_kib",
                "rows_per_s",
                "ours_over",
            ]
            .into_iter()
            .chain(ceiling_fields.iter().copied())
            .collect::<Vec<_>>(),
        );
        let (runs, tuned) = (peer.int("runs")?, peer.int("tuned_batch")?);
        let connector = python_str(peer.value("connector")?);
        let version = connector.split(':').nth(2).unwrap_or(&connector).to_owned();
        self.w(format!(
            "The tool a user would pick instead for this job: Kafka Connect {} (standalone, one worker) with \
             Debezium's JDBC sink connector {version} (`{connector}` from Maven Central) in upsert mode \
             (`insert.mode=upsert`, the primary key `order_id` from the value), into the same `orders` table, a fresh \
             database per run. The connector needs records that carry their schema, so the {} orders were first \
             copied, same key and partition, as Kafka Connect's JSON with the schema inline \
             (`value.converter.schemas.enable=true`): {} bytes a record against our {} ({}×), copied at {} records/s, \
             which the peer's time does not include. Both sides are timed alike, rows ÷ (last − first \
             `processed_at`), on a topic filled before they start. The defaults are the connector's (`batch.size` \
             500) and the worker's (`max.poll.records` 500) with `tasks.max` 1 or 3; tuned raises `batch.size` and \
             the task's `max.poll.records` to {} and sets the PostgreSQL driver's `reWriteBatchedInserts=true`, as \
             the connector's and the driver's docs advise. Each set ran ours, the defaults and \
             tuned one after the other (the order reversed every other set); a ratio is ours over the peer in the same \
             set, and the median of {runs} set{} counts.\n",
            python_str(machine.value("kafka")?),
            thousands(self.orders),
            peer.int("record_bytes")?,
            r.run("producer")?.int("record_bytes")?,
            figures.num("record_bytes_over_ours", 1)?,
            peer.num("copy_rows_per_s", 0)?,
            thousands(tuned),
            plural(runs),
        ));
        let target = figures.number("target_over_tuned")?;
        self.w(
            "| | order-consumer | peer, defaults | peer, tuned | ours ÷ defaults | ours ÷ tuned | target: ours ÷ tuned |\n\
             |---|---|---|---|---|---|---|",
        );
        for (name, what) in [("one", "1 consumer / 1 task"), ("three", "3 consumers / 3 tasks")] {
            let rate = |kind: &str| peer.num(&format!("{name}_{kind}_rows_per_s"), 0);
            let over_tuned = peer.number(&format!("{name}_over_tuned"))?;
            self.w(format!(
                "| {what} | {} | {} | {} | {} | {} | ≥ {}: {} |",
                rate("ours")?,
                rate("default")?,
                rate("tuned")?,
                peer.num(&format!("{name}_over_default"), 2)?,
                num(over_tuned, 2),
                num(target, 0),
                verdict(over_tuned, target, true),
            ));
        }
        self.w(format!(
            "\nOrders/s, medians of the sets. Every run's figures (`peer<consumers><kind><set>`: `rows_per_s`, \
             `ours_over`) are in the JSON. The Connect worker's peak RSS: {} MiB (a JVM started as \
             `connect-standalone.sh` starts it, `-Xmx2G`).",
            peer.mib("worker_rss_kib")?
        ));
        if paired {
            self.w(format!(
                "\nEach run of ours came right after a run of the ceiling, section 1's (the same orders' rows \
                 upserted by the server alone; a median of {} orders/s in the runs before 1 consumer). Ours ÷ the \
                 ceiling right before, the median of the sets, was {} with 1 consumer and {} with 3: this sitting's \
                 measure of how close the pipeline came to Postgres' own limit (`peer<consumers>ours<set>`: \
                 `ceiling_rows_per_s`, `to_ceiling`).",
                peer.num("one_ceiling_rows_per_s", 0)?,
                peer.num("one_ours_to_ceiling", 2)?,
                peer.num("three_ours_to_ceiling", 2)?,
            ));
        }
        Ok(())
    }

    /// Section 10: the consumer's write path against the others Postgres offers, the database alone.
    fn write_paths(&mut self) -> anyhow::Result<()> {
        let Some(paths) = self.f.group("paths") else { return Ok(()) };
        let mut fields = vec!["orders", "batch", "rounds", "jsonb_parse_us_per_row"];
        fields.extend(super::write_paths::FIGURES);
        self.heading("\n## 10. The write path alone, against the ceiling", &fields);
        let rounds = paths.int("rounds")?;
        self.w(format!(
            "No broker and no decoding: one connection writes {} of the producer's orders in batches of {} by the \
             consumer's statement (`unnest`), by binary `COPY` through a temporary table (`copy`) and by the \
             consumer's statement five batches to a commit (`unnest_5_per_commit`), each run right after a ceiling \
             run of its own, the paths' order rotating over {rounds} round{}; every run is checked to have stored \
             every order as staged. Besides orders/s: the connection's backend CPU (`/proc/<pid>/stat`) and the \
             bench's own, a row. Medians of the rounds:\n",
            thousands(paths.int("orders")?),
            thousands(paths.int("batch")?),
            plural(rounds),
        ));
        self.w(
            "| path | ÷ the ceiling right before | orders/s | wall µs a row | Postgres CPU µs a row | the bench's CPU µs \
             a row | the ceiling's Postgres CPU µs a row |\n|---|---|---|---|---|---|---|",
        );
        for path in super::write_paths::PATHS {
            let group = format!("paths_{path}");
            let p = self.f.run(&group)?;
            let row = [("to_ceiling", 4), ("rows_per_s", 0)]
                .into_iter()
                .chain(
                    ["wall_us_per_row", "postgres_us_per_row", "client_us_per_row", "ceiling_postgres_us_per_row"]
                        .map(|f| (f, 2)),
                )
                .map(|(field, digits)| p.num(field, digits))
                .collect::<anyhow::Result<Vec<_>>>()?;
            self.w(format!("| `{path}` | {} |", row.join(" | ")));
        }
        self.w(format!(
            "\nParsing the items' JSON into `jsonb`, which every path pays and the ceiling does not, cost the server {} \
             µs a row (the staged items read as text and parsed, less the same read alone). Every round's figures \
             (`paths.<path>.round<r>`) are in the JSON; what they say: \
             [performance.md](performance.md#run-k-the-write-path-alone-against-the-ceiling).",
            paths.get_num("jsonb_parse_us_per_row", 2),
        ));
        Ok(())
    }

    fn closing(&mut self) {
        self.w("\nWhere the time goes, profiled, and why a target is missed where one is: \
             [performance.md](performance.md).");
        self.w(
            "\nReproduce: `scripts/stack.sh up && scripts/lab.sh bench` (nothing else should load the machine while it \
             runs). It writes `results/bench-<UTC time>/` (`bench.json`, `bench.md`) and leaves this page alone; \
             `--doc docs/benchmarks.md` rewrites it. `scripts/lab.sh bench --small` checks that the script works (CI \
             runs it); its figures mean nothing.",
        );
    }
}

/// Whether the runs held against the ceiling were each paired with a ceiling run of their own.
fn paired(measured: Run) -> bool {
    measured.get("paired") == Some(&json!(true))
}

fn plural(n: i64) -> &'static str {
    if n > 1 { "s" } else { "" }
}

/// `f"{n:,}"`.
fn thousands(n: i64) -> String {
    num(Some(n as f64), 0)
}

/// "p50 ms | p95 ms | p99 ms | max ms" of a latency run.
fn latencies(run: Run) -> anyhow::Result<String> {
    let each = ["p50_ms", "p95_ms", "p99_ms", "max_ms"].map(|field| run.num(field, 1).map(|v| format!("{v} ms")));
    Ok(each.into_iter().collect::<anyhow::Result<Vec<_>>>()?.join(" | "))
}

/// "p50 ms | p95 ms | p99 ms" of a knob's latency run, "–" for each when there was none.
fn percentiles(run: Run) -> String {
    ["p50_ms", "p95_ms", "p99_ms"].map(|field| format!("{} ms", run.get_num(field, 1))).join(" | ")
}

/// Writes `bench.json`: the results as recorded, in their order, then the figures derived from them.
///
/// # Errors
/// A group or value the figures need that the results do not have, or a file that cannot be written.
pub fn write_json(r: &Results, path: &Path) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct BenchJson<'a> {
        #[serde(flatten)]
        results: &'a Results,
        figures: Results,
    }
    let json = serde_json::to_string_pretty(&BenchJson { results: r, figures: derive(r)? })?;
    std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the Markdown report to `doc` and the JSON beside it (BENCHMARKS.md → BENCHMARKS.json), the one its
/// figures scopes name; returns the JSON's path.
///
/// # Errors
/// A group or value the report needs that the results do not have, or a file that cannot be written.
pub fn write_report(r: &Results, doc: &Path) -> anyhow::Result<PathBuf> {
    let beside = doc.with_extension("json");
    let name = beside.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let report = markdown(r, &name)?;
    std::fs::write(doc, report).with_context(|| format!("cannot write {}", doc.display()))?;
    write_json(r, &beside)?;
    Ok(beside)
}

/// `bench.json` from `results` (the benchmark's `results.txt`, or a kept `bench.json`) and, with `doc`, the
/// Markdown report with the JSON beside it; says what it wrote.
///
/// # Errors
/// As [`load`], [`write_json`] and [`write_report`].
pub fn write(results: &Path, json: &Path, doc: Option<&Path>) -> anyhow::Result<()> {
    let r = load(results)?;
    if r.group("group1").is_none() && r.group("peer").is_some() {
        // A `--peer-only` run (the peer, and the ceiling's runs paired with ours, without the group's runs): its
        // report is section 9 alone.
        let doc = doc.map_or_else(|| json.with_extension("md"), Path::to_owned);
        write_peer(&r, json, &doc)?;
        println!("wrote {} and {}", json.display(), doc.display());
        return Ok(());
    }
    write_json(&r, json)?;
    println!("wrote {}", json.display());
    match doc {
        Some(doc) => {
            let beside = write_report(&r, doc)?;
            println!("wrote {} and {}", doc.display(), beside.display());
        }
        // A run that writes no doc (`--small`) still exercises the report code.
        None => {
            markdown(&r, "benchmarks.json")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_is_python_round() {
        assert_eq!(round(30e6 / f64::from(1 << 20), 1), 28.6);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]).ok(), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]).ok(), Some(2.5));
        assert_eq!(median(vec![9.65]).ok(), Some(9.65));
        assert!(median(Vec::new()).is_err());
    }

    #[test]
    fn a_recorded_value_is_a_float_when_it_has_a_point_or_is_digits() {
        let floats = [("2", 2.0), ("-5", -5.0), ("0123", 123.0), ("15.18", 15.18), (".5", 0.5), ("5.", 5.0)];
        for (text, value) in floats.into_iter().chain([("1.5e3", 1500.0), (" 1.5", 1.5), ("1_000.5", 1000.5)]) {
            assert_eq!(typed(text), json!(value), "{text:?}");
        }
        let texts = ["4.1.1", "1e5", "--5", "-", "", "nan", "inf.0", "1__0.5", "_1.5", "20261202T112919Z", " 5"];
        for text in texts {
            assert_eq!(typed(text), json!(text), "{text:?}");
        }
    }

    #[test]
    fn results_keep_the_order_first_recorded_and_the_last_value() {
        let r =
            parse("machine.cpu=Intel(R) Xeon(R)\ncompzstd.log_bytes=7\ncomplz4.log_bytes=9\ncompzstd.log_bytes=8\n");
        assert_eq!(r.keys().collect::<Vec<_>>(), ["machine", "compzstd", "complz4"]);
        assert_eq!(r.get("compzstd").and_then(|g| g.get("log_bytes")), Some(&json!(8.0)));
        assert_eq!(r.get("machine").and_then(|g| g.get("cpu")), Some(&json!("Intel(R) Xeon(R)")));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"machine":{"cpu":"Intel(R) Xeon(R)"},"compzstd":{"log_bytes":8.0},"complz4":{"log_bytes":9.0}}"#
        );
        assert_eq!(serde_json::from_str::<Results>(&json).unwrap(), r);
    }

    #[test]
    fn a_missing_value_is_named() {
        let r = parse("producer.producer_acked=10\nceiling.rows_per_s=5\ngroup1.rows_per_s=4\n");
        let error = format!("{:#}", derive(&r).unwrap_err());
        assert!(error.contains("group1.wall_s"), "{error}");
        let error = format!("{:#}", derive(&parse("ceiling.rows_per_s=5\n")).unwrap_err());
        assert!(error.contains("group producer"), "{error}");
    }

    /// The report and JSON of the kept `--peer-only` run `folder` (of docs/results/), written again from its
    /// results; the report must be the kept one, byte for byte.
    fn kept_peer_run(folder: &str) -> (std::path::PathBuf, String, Value) {
        let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results").join(folder);
        let dir = std::env::temp_dir().join(format!("{folder}-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (json, doc) = (dir.join("peer.json"), dir.join("peer.md"));
        write(&kept.join("results.txt"), &json, Some(&doc)).unwrap();
        let report = std::fs::read_to_string(&doc).unwrap();
        assert_eq!(report, std::fs::read_to_string(kept.join("peer.md")).unwrap(), "the kept report is today's");
        let figures: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        (kept, report, figures)
    }

    #[test]
    fn a_peer_only_run_is_reported_by_its_section_alone_as_kept() {
        let (kept, report, figures) = kept_peer_run("peer-20261207T135924Z");
        assert!(report.contains("| 1 consumer / 1 task | 88,015 | 14,394 | 21,187 | 6.07 | 4.12 | ≥ 5: **missed** |"));
        assert!(
            report.contains("| 3 consumers / 3 tasks | 87,000 | 23,148 | 32,993 | 3.63 | 2.66 | ≥ 5: **missed** |")
        );
        assert!(!report.contains("ceiling right before"), "run J had no ceiling runs");
        assert_eq!(figures["figures"]["peer"]["target_over_tuned"], 5.0);
        assert_eq!(figures["peer"]["one_over_tuned"], 4.12);
        // A full report of the same results cannot be written: they have no ceiling.
        assert!(
            format!("{:#}", markdown(&load(&kept.join("results.txt")).unwrap(), "x.json").unwrap_err())
                .contains("ceiling")
        );
    }

    #[test]
    fn a_peer_only_run_with_its_ceiling_reports_ours_against_the_ceiling_of_the_same_sets_as_kept() {
        let (_, report, figures) = kept_peer_run("peer-20261207T190132Z");
        assert!(report.contains("| 1 consumer / 1 task | 90,795 | 15,737 | 22,532 | 5.77 | 4.10 | ≥ 5: **missed** |"));
        assert!(report.contains("a median of 159,061 orders/s in the runs before 1 consumer"), "{report}");
        assert!(report.contains("was 0.57 with 1 consumer and 0.55 with 3"), "{report}");
        assert!(report.contains("fields: record_bytes") && report.contains("one_ours_to_ceiling"), "{report}");
        assert_eq!(figures["peer"]["one_ours_to_ceiling"], 0.5654);
        assert_eq!(figures["ceiling"]["runs"], 6.0);
    }

    #[test]
    fn a_whole_run_with_the_write_paths_reports_their_medians_in_section_10() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        let mut r = load(&docs.join("benchmarks.json")).unwrap();
        assert!(!markdown(&r, "x.json").unwrap().contains("## 10."), "run I measured no write paths");
        let run_k = load(&docs.join("results/write-paths-20261207T171721Z/results.txt")).unwrap();
        r.insert("paths".into(), run_k["paths"].clone());
        let report = markdown(&r, "x.json").unwrap();
        assert!(report.contains("## 10. The write path alone, against the ceiling"), "{report}");
        assert!(report.contains("writes 500,000 of the producer's orders in batches of 1,000"), "{report}");
        assert!(report.contains("| `unnest` | 0.5864 | 70,205 | 14.24 | 12.68 | 1.14 | 8.00 |"), "{report}");
        assert!(
            report.contains("| `unnest_5_per_commit` | 0.6058 | 73,039 | 13.69 | 12.18 | 1.14 | 7.88 |"),
            "{report}"
        );
        assert!(report.contains("cost the server 0.87"), "{report}");
        let f = derive(&r).unwrap();
        assert_eq!(f["paths_copy"]["to_ceiling"], 0.5912);
        assert_eq!(f["paths"]["rounds"], 5.0);
    }

    #[test]
    fn groups_keyed_by_a_number_sort_by_it_and_leave_out_other_suffixes() {
        let r = parse("batch500.x=1\nbatchlat500.x=1\nbatch100.x=1\nbatch.x=1\nbatch1000.x=1\n");
        assert_eq!(keyed(&r, "batch"), [("batch100", 100), ("batch500", 500), ("batch1000", 1000)]);
    }
}
