//! The soak's report, made from a soak's kept files (docs/results/soak-20261201T174920Z): every row of the report
//! written then is written again, and the memory chart shows every process and step.

use std::path::{Path, PathBuf};

use lab::soak;

fn kept() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results/soak-20261201T174920Z")
}

#[test]
fn the_report_of_a_kept_soak_says_what_was_reported_then_and_draws_its_memory() {
    let out = std::env::temp_dir().join(format!("soak-report-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let passed = soak::report(&kept().join("results.txt"), &kept().join("memory.csv"), &out).unwrap();
    assert!(passed, "the kept soak passed every check");

    let then = std::fs::read_to_string(kept().join("summary.md")).unwrap();
    let now = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let rows: Vec<&str> = then.lines().filter(|l| l.starts_with('|') || l.starts_with('#')).collect();
    assert!(rows.len() > 30, "the kept report has its tables");
    for row in rows {
        assert!(now.lines().any(|l| l == row), "missing from the new report: {row}");
    }
    assert!(now.ends_with("**PASSED**\n"));

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["passed"], true);
    assert_eq!(summary["steps"].as_array().map(Vec::len), Some(6));
    assert_eq!(summary["memory"]["consumer-5"]["peak_kib"], 21_260);
    assert_eq!(summary["result"]["rows"], 1_000_000.0);

    let svg = std::fs::read_to_string(out.join("memory.svg")).unwrap();
    for label in ["producer", "consumer-1", "consumer-5", "4: kill 2", "RSS (MiB)"] {
        assert!(svg.contains(label), "memory.svg lacks {label}");
    }
    std::fs::remove_dir_all(&out).unwrap();
}
