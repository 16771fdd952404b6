//! `/metrics`, `/healthz` and `/readyz` of real consumers during a real run: the counters reconcile with the rows
//! in Postgres, the dead-letter topic and the broker's committed offsets; a taken port fails start-up clearly.

mod common;

use std::time::Duration;

use common::scrape::{Scrape, get, scrape};
use common::{ConsumerProcess, Scenario, TIMEOUT, eventually};

async fn scrape_all(consumers: &[&ConsumerProcess]) -> Vec<Scrape> {
    let mut scrapes = Vec::new();
    for consumer in consumers {
        scrapes.push(scrape(&consumer.metrics_addr().await).await.expect("scrape"));
    }
    scrapes
}

fn total(scrapes: &[Scrape], name: &str) -> f64 {
    scrapes.iter().map(|s| s.sum(name).unwrap_or_else(|| panic!("{name} missing from a scrape"))).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_s_counters_reconcile_with_rows_dead_letters_and_committed_offsets() {
    let s = Scenario::new("metrics", 3).await;
    let one = s.start_consumer("metrics-a", &[]);
    let two = s.start_consumer("metrics-b", &[]);
    s.wait_for_assignment(2, |m| m.iter().map(|m| m.partitions.len()).sum::<usize>() == 3).await;
    for consumer in [&one, &two] {
        let addr = consumer.metrics_addr().await;
        assert_eq!(get(&addr, "/healthz").await.expect("healthz").0, 200);
        let (status, body) = get(&addr, "/readyz").await.expect("readyz");
        assert_eq!(status, 200, "a member with a database is ready: {body}");
    }

    let acked = s.produce_orders(2_000, 61).await.acked;
    let poison: Vec<common::RawRecord> =
        (0..5).map(|i| (Some(b"CUST-00001".to_vec()), Some(format!("not json {i}").into_bytes()))).collect();
    s.produce_raw(&poison).await;
    // Every produced record is a row or a dead letter, and the committed offsets reached the log end.
    let done = s.reconcile(acked + 5, 2).await;
    assert_eq!(done.rows as u64, acked);
    assert_eq!(done.dead_letters, 5);

    // The counters reach the same totals (the last commit's answer may still be on its way).
    let scrapes = eventually("the counters to reconcile", TIMEOUT, || async {
        let scrapes = scrape_all(&[&one, &two]).await;
        let stored = total(&scrapes, "order_consumer_rows_stored_total");
        let consumed = total(&scrapes, "order_consumer_records_consumed_total");
        if stored == 2_000.0 && consumed == 2_005.0 {
            Ok(scrapes)
        } else {
            Err(format!("{stored} stored, {consumed} consumed"))
        }
    })
    .await;
    assert_eq!(total(&scrapes, "order_consumer_dead_letters_total"), done.dead_letters as f64);
    let not_json: f64 = scrapes
        .iter()
        .flat_map(|s| s.series("order_consumer_dead_letters_total", &[("reason", "not_json")]))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(not_json, 5.0, "dead letters counted by reason");
    assert_eq!(total(&scrapes, "order_consumer_batch_messages_sum"), 2_005.0, "every message in one written batch");
    assert_eq!(total(&scrapes, "order_consumer_produce_to_row_seconds_count"), 2_000.0, "one latency per row");
    assert_eq!(total(&scrapes, "order_consumer_assigned_partitions"), 3.0);
    let commits: Vec<Option<f64>> = scrapes.iter().map(|s| s.sum("order_consumer_commits_total")).collect();
    assert!(commits.iter().all(|c| c.is_some_and(|c| c >= 1.0)), "each member's commits counted: {commits:?}");
    assert_eq!(total(&scrapes, "order_consumer_info"), 2.0, "one info series per member");

    // Lag from librdkafka's statistics (every 5 s): every partition reported by its owner, and 0 once committed.
    let (group, topic) = (s.group.clone(), s.topic.clone());
    eventually("every partition's lag reported as 0", TIMEOUT, || async {
        let scrapes = scrape_all(&[&one, &two]).await;
        let lags: Vec<(String, f64)> = scrapes
            .iter()
            .flat_map(|s| s.series("kafka_consumergroup_lag", &[("consumergroup", &group), ("topic", &topic)]))
            .map(|(labels, v)| (labels["partition"].clone(), v))
            .collect();
        let mut partitions: Vec<&str> = lags.iter().map(|(p, _)| p.as_str()).collect();
        partitions.sort_unstable();
        if partitions == ["0", "1", "2"] && lags.iter().all(|(_, v)| *v == 0.0) {
            Ok(())
        } else {
            Err(format!("{lags:?}"))
        }
    })
    .await;

    let mut one = one;
    let mut two = two;
    for consumer in [&mut one, &mut two] {
        consumer.terminate();
        assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
        assert!(!consumer.metrics_addr_file.exists(), "the address file is removed at exit");
    }
    s.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_metrics_port_fails_start_up_with_a_clear_error() {
    let s = Scenario::new("metrics-port", 1).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to take");
    let addr = taken.local_addr().expect("its address").to_string();
    let mut consumer = s.start_consumer("port-taken", &[("METRICS_ADDR", &addr)]);
    assert_eq!(consumer.wait_exit(Duration::from_secs(20)).await, Some(1));
    let log = consumer.log();
    assert!(log.contains(&format!("cannot listen on METRICS_ADDR {addr}")), "{log}");
    assert!(s.group_members().unwrap_or_default().is_empty(), "it never joined the group");
    s.cleanup().await;
}

/// Every metric name in `text` (a dashboard, a rules file): the words that start like this project's metrics.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| ["order_consumer_", "order_producer_", "kafka_"].iter().any(|p| word.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_the_alerts_use_exists_in_a_real_scrape() {
    let s = Scenario::new("metrics-names", 2).await;
    let consumer = s.start_consumer("names", &[]);
    s.wait_for_assignment(1, |m| m[0].partitions.len() == 2).await;
    let producer_addr_file = consumer.metrics_addr_file.with_file_name("producer.metrics-addr");
    let mut settings = order_producer::ProducerSettings::for_servers(&common::bootstrap(), &s.topic);
    (settings.count, settings.rate, settings.seed) = (Some(600), 50.0, Some(3));
    settings.metrics.metrics_addr_file = Some(producer_addr_file.clone());
    let producer = tokio::spawn(async move { order_producer::run(&settings, std::future::pending()).await });
    let producer_scrape = scrape(&common::scrape::metrics_addr(&producer_addr_file).await).await.expect("producer");

    let consumer_addr = consumer.metrics_addr().await;
    // The lag and partition count come with librdkafka's first statistics, 5 s after start.
    let consumer_scrape = eventually("the consumer's lag reported", TIMEOUT, || async {
        let scraped = scrape(&consumer_addr).await?;
        match scraped.sum("kafka_consumergroup_lag") {
            Some(_) => Ok(scraped),
            None => Err("no lag yet".to_owned()),
        }
    })
    .await;

    let root = common::repo_root().join("stack/monitoring");
    for file in ["grafana/dashboards/pipeline.json", "rules/alerts.yml"] {
        let text = std::fs::read_to_string(root.join(file)).expect("monitoring file");
        let used = metric_names(&text);
        assert!(used.len() >= 4, "{file} uses {used:?}");
        for name in used {
            let scraped = consumer_scrape.sum(&name).or_else(|| producer_scrape.sum(&name));
            assert!(scraped.is_some(), "{file} uses {name}, which no real scrape has");
        }
    }
    let summary = producer.await.expect("producer task").expect("producer run");
    assert_eq!(summary.acked, 600);
    let mut consumer = consumer;
    consumer.terminate();
    assert_eq!(consumer.wait_exit(TIMEOUT).await, Some(0));
    s.cleanup().await;
}
