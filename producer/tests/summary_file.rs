//! `--summary-file` against the real broker: the `order-producer` binary writes its final figures as JSON, after a
//! fixed batch and after SIGTERM, and they agree with what the topic holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bootstrap, new_topic, records_in};

fn summary_path(topic: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(topic);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("producer-summary.json")
}

fn producer(topic: &str, summary: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_order-producer"));
    command
        .args(["--bootstrap-servers", &bootstrap(), "--topic", topic, "--summary-file"])
        .arg(summary)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("KAFKA_PROPERTIES")
        .stdin(Stdio::null());
    command
}

fn read_summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON ({e}): {text}", path.display()))
}

fn only_the_summary_is_left(path: &Path) {
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![path.file_name().unwrap().to_owned()], "no temporary file is left");
}

#[tokio::test]
async fn a_fixed_batch_writes_every_figure_and_they_match_the_topic() {
    let topic = new_topic("summary-batch", 2).await;
    let path = summary_path(&topic);
    let out = producer(&topic, &path, &["--count", "500", "--rate", "0", "--seed", "3"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let summary = read_summary(&path);
    for field in ["sent", "acked", "acked_new_orders"] {
        assert_eq!(summary[field], 500, "{field}: {summary}");
    }
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["unacknowledged"], 0, "{summary}");
    assert!(summary["elapsed_ms"].as_u64().is_some_and(|ms| ms > 0), "{summary}");
    assert!(summary["elapsed_s"].as_f64().is_some_and(|s| s > 0.0), "{summary}");
    assert!(summary["rate"].as_u64().is_some_and(|r| r > 0), "{summary}");
    assert_eq!(records_in(&topic, 2), 500, "the topic holds exactly the acked records");
    only_the_summary_is_left(&path);
}

#[tokio::test]
async fn sigterm_still_writes_the_summary_after_the_flush() {
    let topic = new_topic("summary-sigterm", 1).await;
    let path = summary_path(&topic);
    let mut child = producer(&topic, &path, &["--rate", "200", "--status-updates"]).spawn().unwrap();
    // Wait until it is sending: the topic holds records.
    let deadline = Instant::now() + Duration::from_secs(30);
    while records_in(&topic, 1) < 50 {
        assert!(Instant::now() < deadline, "the producer sent nothing within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!path.exists(), "no summary while it runs");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exits 0 after SIGTERM: {status}");

    let summary = read_summary(&path);
    let acked = summary["acked"].as_u64().unwrap();
    assert_eq!(summary["sent"].as_u64(), Some(acked), "every record sent was acknowledged: {summary}");
    assert!(summary["acked_new_orders"].as_u64().is_some_and(|n| n > 0 && n < acked), "status updates: {summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(records_in(&topic, 1), acked as i64, "the topic holds exactly the acked records");
    only_the_summary_is_left(&path);
}

#[test]
fn an_unwritable_summary_file_is_one_clear_error() {
    // The broker check comes first; without a topic the run fails before any summary, so use a real one.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let topic = runtime.block_on(new_topic("summary-unwritable", 1));
    let path = Path::new("/nonexistent-dir-for-this-test/summary.json");
    let out = producer(&topic, path, &["--count", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("cannot write the summary file /nonexistent-dir-for-this-test/summary.json"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
