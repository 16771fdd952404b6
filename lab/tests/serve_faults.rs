//! The scaling lab's fault controls against the real local stack: Postgres stopped for some seconds (the page says
//! it is down, then up; nothing is lost), the broker restarted (the page keeps serving and says it is down; the group
//! comes back). The lab runs `scripts/stack.sh postgres-stop` / `postgres-start` and `kafka-stop` / `kafka-start`,
//! as the consumer's fault suites do.
//!
//! These stop the shared Postgres and broker, so they live in a test binary of their own (cargo runs test binaries
//! one after another) and take turns within it. Needs the local stack (`scripts/stack.sh up`) and the release
//! binaries (`cargo build --release`).

mod common;

use std::time::Duration;

use common::{Served, members};
use serde_json::{Value, json};

/// One fault at a time: each stops a service every test here needs.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn down(s: &Value, service: &str) -> bool {
    s["down"].as_array().is_some_and(|d| d.contains(&json!(service)))
}

/// `n` members owning every one of `partitions` partitions between them.
async fn owners(lab: &Served, n: usize, partitions: usize) {
    lab.until(&format!("{n} members owning the {partitions} partitions"), Duration::from_secs(120), |s| {
        let m = members(s);
        let owned: usize = m.iter().map(|(_, p)| p.len()).sum();
        let ok = m.len() == n && owned == partitions && m.iter().all(|(_, p)| !p.is_empty());
        if ok && s["group_state"] == "Stable" { Ok(()) } else { Err(format!("{m:?} {}", s["group_state"])) }
    })
    .await;
}

#[tokio::test]
async fn postgres_stopped_for_some_seconds_is_said_down_then_up_and_nothing_is_lost() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let lab = Served::start("pg-fault", 3).await;
    lab.control("consumers/set", json!({"count": 2})).await;
    owners(&lab, 2, 3).await;
    lab.control("producer/start", json!({"rate": 200})).await;
    lab.until("rows stored before the outage", Duration::from_secs(60), |s| {
        let rows = s["reconciliation"]["rows"].as_i64().unwrap_or(0);
        if rows >= 200 { Ok(()) } else { Err(format!("{rows} rows")) }
    })
    .await;

    let (status, answer) = lab.post("faults/postgres", json!({"seconds": 8})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], "stop Postgres for 8 s");
    let (status, answer) = lab.post("consumers/add", json!({})).await;
    assert_eq!(status, 409, "one control at a time: {answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("another control is running")), "{answer}");

    let s = lab
        .until("the page to say Postgres is down", Duration::from_secs(60), |s| {
            if down(s, "postgres") { Ok(()) } else { Err(format!("down: {}", s["down"])) }
        })
        .await;
    assert!(!down(&s, "broker"), "only Postgres: {}", s["down"]);
    let page = lab.http.get(format!("{}/", lab.base)).send().await.expect("the page while Postgres is down");
    assert_eq!(page.status().as_u16(), 200);
    lab.until("Postgres up again and the control done", Duration::from_secs(120), |s| {
        if !down(s, "postgres") && s["busy"].is_null() { Ok(()) } else { Err(format!("{} {}", s["down"], s["busy"])) }
    })
    .await;
    let stopped = lab.line("Postgres said down", Duration::from_secs(10), |l| l.starts_with("Postgres is down")).await;
    assert!(stopped.contains("scripts/stack.sh postgres-stop"), "{stopped}");
    let back = lab.line("Postgres said back", Duration::from_secs(10), |l| l.starts_with("Postgres is back")).await;
    assert!(back.contains("scripts/stack.sh postgres-start") && back.contains("after it stopped"), "{back}");
    lab.line("the control done", Duration::from_secs(10), |l| l == "done: stop Postgres for 8 s").await;
    let marks = lab.marks().await;
    assert!(marks.contains(&"Postgres down".into()) && marks.contains(&"Postgres back".into()), "{marks:?}");

    lab.control("producer/stop", json!({})).await;
    // The producer ran through the outage: more than a thousand orders.
    lab.reconciled(Duration::from_secs(120), 1_000).await;
    lab.finish().await;
}

#[tokio::test]
async fn a_broker_restart_keeps_the_page_serving_says_the_broker_is_down_and_the_group_comes_back() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let lab = Served::start("broker-fault", 3).await;
    lab.control("consumers/set", json!({"count": 2})).await;
    owners(&lab, 2, 3).await;

    let (status, answer) = lab.post("faults/broker", json!({})).await;
    assert_eq!(status, 202, "{answer}");
    lab.until("the page to say the broker is down", Duration::from_secs(60), |s| {
        if down(s, "broker") { Ok(()) } else { Err(format!("down: {}", s["down"])) }
    })
    .await;
    let page = lab.http.get(format!("{}/", lab.base)).send().await.expect("the page while the broker is down");
    assert_eq!(page.status().as_u16(), 200);
    lab.until("the broker up again and the control done", Duration::from_secs(180), |s| {
        if !down(s, "broker") && s["busy"].is_null() { Ok(()) } else { Err(format!("{} {}", s["down"], s["busy"])) }
    })
    .await;
    let back = lab.line("the broker said back", Duration::from_secs(10), |l| l.starts_with("The broker is back")).await;
    assert!(back.contains("scripts/stack.sh kafka-start"), "{back}");
    lab.line("the control done", Duration::from_secs(10), |l| l == "done: restart the broker").await;
    let marks = lab.marks().await;
    assert!(marks.contains(&"broker down".into()) && marks.contains(&"broker back".into()), "{marks:?}");
    owners(&lab, 2, 3).await;
    lab.finish().await;
}
