//! The benchmark's report (`lab report bench`, lab/src/bench/) made again from kept runs: the
//! committed docs/benchmarks.json gives back the committed docs/benchmarks.md byte for byte and the same JSON, and
//! kept `results.txt` files load, give a report and, where their `bench.json` was kept, the same figures.

use std::path::{Path, PathBuf};
use std::process::Command;

use lab::bench;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The first difference between two JSON values, by path; numbers are compared as f64, so that Python's `1e-05`
/// and serde_json's `1e-5`, or an int and a float of the same value, are the same number.
fn difference(then: &Value, now: &Value, at: &str) -> Option<String> {
    match (then, now) {
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => None,
        (Value::Object(a), Value::Object(b)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            if keys(a) != keys(b) {
                return Some(format!("{at}: keys {:?}, now {:?}", keys(a), keys(b)));
            }
            a.iter().find_map(|(k, v)| difference(v, &b[k], &format!("{at}.{k}")))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            a.iter().zip(b).enumerate().find_map(|(i, (x, y))| difference(x, y, &format!("{at}[{i}]")))
        }
        _ if then == now => None,
        _ => Some(format!("{at}: {then}, now {now}")),
    }
}

#[test]
fn the_committed_report_is_written_again_byte_for_byte() {
    let out = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let (bench_json, doc) = (out.join("bench.json"), out.join("benchmarks.md"));
    let run = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["report", "bench"])
        .arg("--results")
        .arg(repo().join("docs/benchmarks.json"))
        .args([Path::new("--json"), &bench_json, Path::new("--doc"), &doc])
        .output()
        .unwrap();
    assert!(run.status.success(), "lab report bench failed: {}", String::from_utf8_lossy(&run.stderr));
    let said = format!(
        "wrote {}\nwrote {} and {}\n",
        bench_json.display(),
        doc.display(),
        out.join("benchmarks.json").display()
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), said);

    let (then, now) = (read(&repo().join("docs/benchmarks.md")), read(&doc));
    if let Some((i, (a, b))) = then.lines().zip(now.lines()).enumerate().find(|(_, (a, b))| a != b) {
        panic!("docs/benchmarks.md line {} differs:\n  committed: {a}\n  written:   {b}", i + 1);
    }
    assert!(then == now, "the same lines, but not the same bytes (line count or final newline)");

    let committed = json(&repo().join("docs/benchmarks.json"));
    for written in [out.join("benchmarks.json"), bench_json] {
        if let Some(difference) = difference(&committed, &json(&written), "") {
            panic!("{} differs from docs/benchmarks.json at {difference}", written.display());
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn kept_results_load_and_give_a_report() {
    for run in ["bench-20261202T112919Z", "bench-20261201T210507Z"] {
        let results = bench::load(&repo().join("docs/results").join(run).join("results.txt")).unwrap();
        let report = bench::markdown(&results, "bench.json").unwrap();
        let time = run.trim_start_matches("bench-");
        assert!(
            report.starts_with("# Benchmarks\n\n<!-- figures: bench.json fields: memory_kib -->\n\nOne run of"),
            "{run}"
        );
        assert!(report.contains(&format!("(the whole file below was written by it, {time})")), "{run}");
        assert!(report.contains("| 1 consumer | "), "{run}: section 2's table");
        assert!(report.ends_with("its figures mean nothing.\n"), "{run}");
    }
}

#[test]
fn the_figures_of_a_kept_run_are_derived_again() {
    let kept = repo().join("docs/results/bench-20261201T210507Z");
    let results = bench::load(&kept.join("results.txt")).unwrap();
    let now = serde_json::to_value(bench::derive(&results).unwrap()).unwrap();
    let then = json(&kept.join("bench.json"))["figures"].clone();
    // That bench.json was written before the report held medians of repeated runs against the targets: it has no
    // "targets_measured". Every figure it has is derived again, the same.
    let mut comparable = now.clone();
    let added = comparable.as_object_mut().and_then(|figures| figures.remove("targets_measured"));
    assert!(added.is_some(), "the figures held against the targets");
    if let Some(difference) = difference(&then, &comparable, "figures") {
        panic!("{difference}");
    }
    let measured = &now["targets_measured"];
    assert_eq!(measured["one_over_ceiling"], then["group1"]["over_ceiling"], "one run of 1 consumer");
    assert_eq!(measured["wide_over_ceiling"], then["wide3"]["over_ceiling"], "one run of 3 on the even topic");
    assert_eq!(measured["eff3"], then["eff3"]["efficiency_while_all_work"], "one set of efficiency runs");
}
