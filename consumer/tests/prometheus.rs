//! A real Prometheus (Debian's package, as `scripts/stack.sh up --monitoring` runs it) scrapes a real consumer
//! group found through target files, loads the project's alert rules, and a PromQL query through its HTTP API
//! returns the rows per second the producer sends.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::scrape::get;
use common::{Scenario, TIMEOUT, eventually, repo_root};
use tokio::process::Command;

/// The producer's rate, and how far the measured rate may be from it (the rate's window sees a few batches).
const RATE: f64 = 200.0;
const TOLERANCE: f64 = 0.25;

/// One value of an instant query, if the query returned exactly one series.
async fn query(prometheus: &str, promql: &str) -> Result<f64, String> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
    let url = format!("http://{prometheus}/api/v1/query");
    let response = client.get(url).query(&[("query", promql)]).send().await.map_err(|e| e.to_string())?;
    let body: serde_json::Value =
        serde_json::from_str(&response.text().await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    match body["data"]["result"].as_array().map(Vec::as_slice) {
        Some([series]) => series["value"][1].as_str().and_then(|v| v.parse().ok()).ok_or_else(|| body.to_string()),
        _ => Err(format!("{promql}: {body}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_group_and_reports_the_rows_per_second_sent() {
    let s = Scenario::new("prometheus", 2).await;
    let consumers = [s.start_consumer("prom-a", &[]), s.start_consumer("prom-b", &[])];
    s.wait_for_assignment(2, |m| m.iter().all(|m| m.partitions.len() == 1)).await;

    // The layout scripts/stack.sh gives Prometheus: the repo's rules, and one target file per consumer.
    let dir = consumers[0].metrics_addr_file.with_file_name("prometheus");
    let targets = dir.join("targets");
    std::fs::create_dir_all(&targets).expect("targets dir");
    for consumer in &consumers {
        let addr = consumer.metrics_addr().await;
        let target = serde_json::json!([{ "targets": [addr], "labels": { "process": consumer.label } }]);
        std::fs::write(targets.join(format!("order-consumer-{}.json", consumer.label)), target.to_string())
            .expect("target file");
    }
    let config = std::fs::read_to_string(repo_root().join("stack/monitoring/prometheus.yml")).expect("config");
    // Scrapes every second here, so a short run fills the rate's window.
    let config = config.replace("scrape_interval: 5s", "scrape_interval: 1s");
    std::fs::write(dir.join("prometheus.yml"), config).expect("config copy");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::copy(repo_root().join("stack/monitoring/rules/alerts.yml"), rules.join("alerts.yml")).expect("rules");

    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let prometheus = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log");
    let _server = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={prometheus}"))
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus (Debian's package; scripts/test.sh installs it)");
    eventually("Prometheus ready", TIMEOUT, || async {
        match get(&prometheus, "/-/ready").await? {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await;
    eventually("both consumers scraped", TIMEOUT, || async {
        let up = query(&prometheus, r#"sum(up{job="order-consumer"})"#).await?;
        if up == 2.0 { Ok(()) } else { Err(format!("up = {up}")) }
    })
    .await;

    let producer = s.produce_in_background(6_000, RATE, 9);
    let rate = eventually("rows per second near the producer's rate", TIMEOUT, || async {
        let rate = query(&prometheus, "sum(rate(order_consumer_rows_stored_total[10s]))").await?;
        if (rate - RATE).abs() <= RATE * TOLERANCE { Ok(rate) } else { Err(format!("{rate:.1} rows/s")) }
    })
    .await;
    eprintln!("Prometheus measured {rate:.1} rows/s at a producer rate of {RATE}");
    let loaded = get(&prometheus, "/api/v1/rules").await.expect("rules").1;
    for alert in ["ConsumerLagGrowing", "PartitionsWithoutConsumer", "DeadLettersArriving", "NoConsumerUp"] {
        assert!(loaded.contains(alert), "{alert} loaded: {loaded}");
    }

    let acked = producer.await.expect("producer task").acked;
    s.reconcile(acked, 2).await;
    for mut consumer in consumers {
        consumer.terminate();
        assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    }
    s.cleanup().await;
}
