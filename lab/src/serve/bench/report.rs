//! The measurement's `results.json` (what `results.txt` recorded, with every run and try) and its short
//! `report.md`, written from what was measured, also when a run failed half-way.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde_json::{Map, Value, json};

use super::cost::Pair;
use super::latency::Try;
use crate::recorded::{Recorder, num};

/// What a measurement measured: `results.txt` as recorded, the pairs and the tries.
pub struct Measured<'a> {
    pub rec: &'a Recorder,
    pub cost: &'a [Pair],
    pub tries: &'a [Try],
}

/// Writes `results.json` and `report.md` into `out`.
///
/// # Errors
/// When a file cannot be written.
pub fn write(bench: &Measured<'_>, out: &Path) -> anyhow::Result<()> {
    let json = to_json(bench);
    let text = serde_json::to_string_pretty(&json).context("the results as JSON")?;
    std::fs::write(out.join("results.json"), format!("{text}\n")).context("cannot write results.json")?;
    std::fs::write(out.join("report.md"), markdown(bench, &json)).context("cannot write report.md")?;
    eprintln!("==> wrote {}/results.json and report.md", out.display());
    Ok(())
}

/// The `results.txt` lines under `prefix.`, as an object of numbers, booleans and strings.
fn section(bench: &Measured<'_>, prefix: &str) -> Map<String, Value> {
    let dotted = format!("{prefix}.");
    bench
        .rec
        .lines_starting(&[&dotted])
        .iter()
        .filter_map(|line| line.strip_prefix(&dotted)?.split_once('='))
        .map(|(key, value)| {
            let value = match value {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => match value.parse::<i64>() {
                    Ok(n) => Some(Value::Number(n.into())),
                    Err(_) => {
                        value.parse::<f64>().ok().and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
                    }
                },
            }
            .unwrap_or_else(|| Value::String(value.to_owned()));
            (key.to_owned(), value)
        })
        .collect()
}

fn to_json(bench: &Measured<'_>) -> Value {
    let mut latency = section(bench, "latency");
    for change in ["add", "kill"] {
        let mut figures: Map<String, Value> =
            section(bench, change).into_iter().filter(|(k, _)| !k.starts_with("try")).collect();
        let tries: Vec<&Try> = bench.tries.iter().filter(|t| t.change == change).collect();
        figures.insert("tries".into(), json!(tries));
        latency.insert(change.into(), Value::Object(figures));
    }
    let mut cost = section(bench, "cost");
    cost.insert("pairs".into(), json!(bench.cost));
    json!({
        "what": "the scaling lab's cost to the pipeline's throughput (lab open / closed, alternating pairs) and \
                 how long after a change its event stream shows the new assignment, beside the coordinator",
        "machine": section(bench, "machine"),
        "run": section(bench, "run"),
        "settings": section(bench, "settings"),
        "cost": cost,
        "latency": latency,
    })
}

fn markdown(bench: &Measured<'_>, json: &Value) -> String {
    let m = &json["machine"];
    let s = &json["settings"];
    let mut md = String::from("# The scaling lab: what it costs and how fast it shows a change\n\n");
    let memory_gib = m["memory_kib"].as_f64().map(|k| k / 1024.0 / 1024.0);
    let _ = writeln!(
        md,
        "`lab measure lab-page`, {} at commit `{}`, on {} cores ({}, {} GiB); the broker, Postgres, the \
         consumers, the producer and the lab share the cores.\n",
        json["run"]["time"].as_str().unwrap_or("?"),
        json["run"]["commit"].as_str().unwrap_or("?"),
        m["cores"],
        m["cpu"].as_str().unwrap_or("?"),
        num(memory_gib, 0),
    );
    let c = &json["cost"];
    if !bench.cost.is_empty() {
        let _ = writeln!(
            md,
            "## What it costs\n\nEach run: a topic of {} orders on {} partitions, {} consumers storing it into a \
             database of their own; rows per second between the first and the last row. Open: `lab serve` on the \
             same topic, group and database, one reader of `GET /api/events` parsing every state (a browser's \
             drawing is the viewer's machine's, left out).\n",
            num(s["orders"].as_f64(), 0),
            s["partitions"],
            s["consumers"]
        );
        md.push_str("| pair | order | closed rows/s | open rows/s | open ÷ closed | lab CPU s | states read |\n");
        md.push_str("|---|---|---|---|---|---|---|\n");
        for p in bench.cost {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                p.pair,
                p.order,
                num(Some(p.closed.rows_per_s), 0),
                num(Some(p.open.rows_per_s), 0),
                num(Some(p.ratio), 4),
                num(p.open.lab_cpu_s, 2),
                p.open.states_read.map_or_else(|| "–".to_owned(), |n| n.to_string()),
            );
        }
        let met = c["met"].as_bool();
        let _ = writeln!(
            md,
            "\nMedian open ÷ closed: **{}** (target ≥ {}): **{}**.\n",
            num(c["median_ratio"].as_f64(), 4),
            num(c["target_ratio"].as_f64(), 2),
            verdict(met)
        );
    }
    if !bench.tries.is_empty() {
        let _ = writeln!(
            md,
            "## How fast it shows a change\n\n{} consumers on {} partitions, the lab's producer at {} orders/s, \
             consumers' session timeout {} s. From the click (+1 POSTed with the token) or the SIGKILL (from outside \
             the page): *group* is when the coordinator, described every {} ms, shows the new assignment; *page* \
             when the lab's event stream does.\n",
            s["consumers"], s["partitions"], s["rate"], s["session_timeout_s"], s["group_poll_ms"]
        );
        md.push_str("| change | try | group s | page s | page − group s |\n|---|---|---|---|---|\n");
        for t in bench.tries {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                t.change,
                t.n,
                num(Some(t.group_s), 2),
                num(Some(t.page_s), 2),
                num(Some(t.extra_s), 2)
            );
        }
        md.push_str("\n| change | group median / worst s | page median / worst s | page − group median / worst s |\n");
        md.push_str("|---|---|---|---|\n");
        let l = &json["latency"];
        for change in ["add", "kill"] {
            let f = |name: &str| num(l[change][name].as_f64(), 2);
            let _ = writeln!(
                md,
                "| {change} | {} / {} | {} / {} | {} / {} |",
                f("group_median_s"),
                f("group_worst_s"),
                f("page_median_s"),
                f("page_worst_s"),
                f("extra_median_s"),
                f("extra_worst_s")
            );
        }
        let _ = writeln!(
            md,
            "\nThe page adds at most {} s in every try (target): **{}**.",
            num(l["target_extra_s"].as_f64(), 1),
            verdict(l["met"].as_bool())
        );
    }
    md
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "missed",
        None => "not measured",
    }
}

#[cfg(test)]
mod tests {
    use super::super::cost::Run;
    use super::*;

    #[test]
    fn the_json_and_the_report_carry_what_was_recorded() {
        let out = std::env::temp_dir().join(format!("lab-page-report-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let mut rec = Recorder::create(&out.join("results.txt")).unwrap();
        for (k, v) in [
            ("machine.cores", "2"),
            ("machine.memory_kib", "24000000"),
            ("run.time", "20261207T082000Z"),
            ("settings.orders", "1000000"),
            ("cost.median_ratio", "0.9850"),
            ("cost.target_ratio", "0.97"),
            ("cost.met", "true"),
            ("add.try1.extra_s", "0.40"),
            ("add.extra_worst_s", "0.40"),
            ("latency.met", "true"),
        ] {
            rec.record(k, v).unwrap();
        }
        let run = |open: bool, rows_per_s: f64| Run {
            label: "p1".into(),
            lab_open: open,
            rows_per_s,
            wall_s: 9.5,
            consumer_cpu_s: 6.0,
            lab_cpu_s: open.then_some(0.8),
            states_read: open.then_some(9),
        };
        let cost = [Pair {
            pair: 1,
            order: "closed-open".into(),
            closed: run(false, 100.0),
            open: run(true, 98.5),
            ratio: 0.985,
        }];
        let tries = [Try { change: "add", n: 1, group_s: 3.1, page_s: 3.5, extra_s: 0.4 }];
        write(&Measured { rec: &rec, cost: &cost, tries: &tries }, &out).unwrap();
        let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
        assert_eq!(json["settings"]["orders"], 1_000_000, "a whole number stays one");
        assert_eq!(json["cost"]["median_ratio"], 0.985);
        assert_eq!(json["cost"]["met"], true);
        assert_eq!(json["cost"]["pairs"][0]["open"]["states_read"], 9);
        assert_eq!(json["latency"]["add"]["extra_worst_s"], 0.4);
        assert_eq!(json["latency"]["add"]["tries"][0]["page_s"], 3.5);
        assert!(json["latency"]["add"].get("try1").is_none(), "the tries are listed once");
        let md = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(md.contains("| 1 | closed-open | 100 | 98 | 0.9850 | 0.80 | 9 |"), "{md}");
        assert!(md.contains("Median open ÷ closed: **0.9850** (target ≥ 0.97): **met**"), "{md}");
        assert!(md.contains("| add | 1 | 3.10 | 3.50 | 0.40 |"), "{md}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
