//! Bad input never scales: with a topic that does not exist, or a broker that does not answer, every poll holds
//! the current count and says why, in its log and in `order_autoscaler_holds_total`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_owned()
}

/// Runs the autoscaler with `args` until its `/metrics` shows `holds` holds (or 60 s pass); returns the scrape and
/// the log.
async fn run_until_held(name: &str, args: &[&str], holds: u32) -> (String, String) {
    run_until(name, args, |scrape| {
        let held = scrape
            .lines()
            .find_map(|l| l.strip_prefix("order_autoscaler_holds_total "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        held >= f64::from(holds)
    })
    .await
}

/// Runs the autoscaler with `args` until a scrape of its `/metrics` satisfies `done` (or 60 s pass).
async fn run_until(name: &str, args: &[&str], done: impl Fn(&str) -> bool) -> (String, String) {
    let dir = root().join("target/test-logs/autoscaler");
    std::fs::create_dir_all(&dir).expect("log dir");
    let (log_path, addr_file) = (dir.join(format!("{name}.log")), dir.join(format!("{name}.metrics-addr")));
    let _stale = std::fs::remove_file(&addr_file);
    let log = std::fs::File::create(&log_path).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_order-autoscaler"))
        .args(["--polling-interval", "1s", "--kafka-timeout", "2s", "--min-replica-count", "0"])
        .args(args)
        .arg("--scripts-dir")
        .arg(root().join("scripts"))
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR_FILE", &addr_file)
        .env("STACK", "local")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("order-autoscaler");
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let mut scrape = String::new();
    while Instant::now() < deadline {
        if let Ok(addr) = std::fs::read_to_string(&addr_file)
            && let Ok(response) = client.get(format!("http://{}/metrics", addr.trim())).send().await
        {
            scrape = response.text().await.unwrap_or_default();
            if done(&scrape) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    (scrape, std::fs::read_to_string(&log_path).unwrap_or_default())
}

/// Runs the autoscaler with `args` until its first decision (or 60 s); returns the scrape and the log.
async fn run_until_decided(name: &str, args: &[&str]) -> (String, String) {
    let (scrape, log) = run_until(name, args, |scrape| decisions(scrape) >= 1.0).await;
    (scrape, log)
}

fn decisions(scrape: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with("order_autoscaler_decisions_total"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test]
async fn a_topic_that_does_not_exist_holds_the_count_and_says_why() {
    let topic = format!("no-such-topic-{}", std::process::id());
    let (scrape, log) = run_until_held("missing-topic", &["--topic", &topic], 2).await;
    assert!(scrape.contains("order_autoscaler_holds_total"), "{scrape}\n{log}");
    assert_eq!(decisions(&scrape), 0.0, "no decision, so no scaling: {scrape}");
    assert!(log.contains(&format!("topic '{topic}' does not exist")), "{log}");
    assert!(log.contains("holding the current replica count"), "{log}");
}

#[tokio::test]
async fn a_broker_that_does_not_answer_holds_the_count_and_never_scales_to_zero() {
    let (scrape, log) = run_until_held("no-broker", &["--bootstrap-servers", "127.0.0.1:1"], 2).await;
    assert_eq!(decisions(&scrape), 0.0, "no decision, so no scaling to zero: {scrape}");
    assert!(log.contains("event=\"autoscaler_held\""), "{log}");
    assert!(log.contains("127.0.0.1:1"), "the broker it could not reach is named: {log}");
}

#[tokio::test]
async fn a_threshold_of_zero_is_refused_at_start_up() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_order-autoscaler"))
        .args(["--lag-threshold", "0"])
        .output()
        .expect("order-autoscaler");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--lag-threshold"), "{stderr}");
}

#[tokio::test]
async fn a_group_that_never_committed_is_named_and_counted_as_the_reset_policy_says() {
    let group = format!("no-such-group-{}", std::process::id());
    // scaleToZeroOnInvalidOffset: each partition counts 0, so an idle target stays at 0 and nothing is started.
    let (scrape, log) = run_until_decided(
        "unknown-group",
        &["--consumer-group", &group, "--scale-to-zero-on-invalid-offset", "--topic", "food-orders"],
    )
    .await;
    assert!(log.contains("event=\"autoscaler_group_without_offsets\""), "{log}");
    assert!(log.contains(&group), "the group is named: {log}");
    assert!(scrape.contains("order_autoscaler_total_lag 0"), "{scrape}");
}
