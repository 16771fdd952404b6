//! The scaling lab (`lab serve`) against the real local stack: the JSON state the page renders follows the group
//! through scaling, a SIGKILL and new partitions; the reconciliation is equal after a drain; the autoscaler grows
//! the group under load and says why; a killed owner's stall is said; the controls need the token and valid inputs;
//! a non-loopback bind needs a token; the page says what is down; in Chromium, the page drives the group and
//! reconnects by itself after the lab restarts. The faults (Postgres stopped, the broker restarted) stop services
//! every test needs, so they are in serve_faults.rs, a binary of their own.
//!
//! Each test runs the real `lab` binary with a topic, group, database and consumer folder (`LOCAL_DIR`) of its own,
//! created through `harness::stack::Stack` (tests/common), and stops every consumer and the lab by pid at the end.
//! Needs the local stack (`scripts/stack.sh up`) and the release binaries (`cargo build --release`).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Driver, Served, in_page, members, open_browser, owner_of, post, root, spawn_lab, spawn_lab_at, stop_lab};
use serde_json::{Value, json};

#[tokio::test]
async fn the_board_follows_the_group_through_scaling_a_kill_and_new_partitions() {
    let lab = Served::start("board", 3).await;

    lab.control("consumers/set", json!({"count": 3})).await;
    let s = lab
        .until("3 members with one partition each", Duration::from_secs(90), |s| {
            let m = members(s);
            let ok = m.len() == 3 && m.iter().all(|(_, p)| p.len() == 1) && s["group_state"] == "Stable";
            if ok { Ok(()) } else { Err(format!("{m:?} {}", s["group_state"])) }
        })
        .await;
    assert_eq!(s["partitions"].as_array().map(Vec::len), Some(3), "{s}");

    lab.control("consumers/add", json!({})).await;
    lab.control("consumers/add", json!({})).await;
    lab.until("5 members, 2 idle", Duration::from_secs(90), |s| {
        let m = members(s);
        let idle = s["members"].as_array().map_or(0, |m| m.iter().filter(|m| m["idle"] == true).count());
        if m.len() == 5 && idle == 2 && s["group_state"] == "Stable" { Ok(()) } else { Err(format!("{m:?}")) }
    })
    .await;

    // The fleet knows each consumer's client id from its log; kill the owner of partition 0.
    let s = lab
        .until("the fleet to know every client id", Duration::from_secs(30), |s| {
            let fleet = s["fleet"].as_array().cloned().unwrap_or_default();
            let known = fleet.iter().filter(|f| f["client_id"].is_string()).count();
            if fleet.len() == 5 && known == 5 { Ok(()) } else { Err(format!("{fleet:?}")) }
        })
        .await;
    let victim = owner_of(&s, 0).expect("partition 0 has an owner");
    let (status, answer) = lab.post("members/kill", json!({"client_id": victim})).await;
    assert_eq!(status, 202, "{answer}");
    let s = lab
        .until("partition 0 with another member after the session timeout", Duration::from_secs(90), |s| {
            let m = members(s);
            match owner_of(s, 0) {
                Some(owner) if owner != victim && !m.iter().any(|(id, _)| *id == victim) => Ok(()),
                other => Err(format!("owner {other:?}, members {m:?}")),
            }
        })
        .await;
    assert_eq!(members(&s).len(), 4, "{s}");

    lab.control("partitions", json!({"count": 5})).await;
    lab.until("the new partitions 3 and 4 owned", Duration::from_secs(120), |s| {
        let n = s["partitions"].as_array().map_or(0, Vec::len);
        if n == 5 && owner_of(s, 3).is_some() && owner_of(s, 4).is_some() {
            Ok(())
        } else {
            Err(format!("{n} partitions, members {:?}", members(s)))
        }
    })
    .await;
    let lines = reqwest::get(format!("{}/api/state", lab.base)).await.expect("state").status();
    assert_eq!(lines.as_u16(), 200);

    lab.finish().await;
}

#[tokio::test]
async fn the_reconciliation_is_equal_after_a_drain() {
    let lab = Served::start("recon", 3).await;
    lab.control("consumers/set", json!({"count": 2})).await;
    lab.until("2 owners", Duration::from_secs(90), |s| {
        let m = members(s);
        if m.len() == 2 && m.iter().all(|(_, p)| !p.is_empty()) { Ok(()) } else { Err(format!("{m:?}")) }
    })
    .await;
    lab.control("producer/start", json!({"rate": 300})).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    lab.control("producer/stop", json!({})).await;
    let s = lab.reconciled(Duration::from_secs(90), 100).await;
    let r = &s["reconciliation"];
    let per_member: i64 = s["members"].as_array().expect("members").iter().filter_map(|m| m["rows"].as_i64()).sum();
    assert_eq!(per_member, r["rows"].as_i64().unwrap_or(-1), "every row is some member's: {s}");
    lab.finish().await;
}

#[tokio::test]
async fn controls_need_the_token_and_valid_inputs() {
    let lab = Served::start("guard", 3).await;
    let page = reqwest::get(format!("{}/", lab.base)).await.expect("GET /");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("page").contains("Scaling lab"));

    let url = format!("{}/api/consumers/add", lab.base);
    let (status, answer) = post(&lab.http, &url, None, json!({})).await;
    assert_eq!(status, 403, "no token: {answer}");
    let (status, _) = post(&lab.http, &url, Some("0123456789abcdef0123456789abcdef"), json!({})).await;
    assert_eq!(status, 403, "a wrong token");
    for (path, body) in [
        ("faults/postgres", json!({"seconds": 5})),
        ("faults/broker", json!({})),
        ("autoscaler/on", json!({"threshold": 10})),
    ] {
        let (status, answer) = post(&lab.http, &format!("{}/api/{path}", lab.base), None, body).await;
        assert_eq!(status, 403, "{path} without the token: {answer}");
    }
    let sent = chrono::Utc::now().timestamp_millis();
    let (status, _) = post(&lab.http, &format!("{url}?token={}", lab.token), None, json!({})).await;
    assert_eq!(status, 202, "the token as a query parameter, as in the printed URL");
    lab.until("the +1 to finish", Duration::from_secs(60), |s| {
        let after = s["at_ms"].as_i64().is_some_and(|at| at > sent);
        if after && s["busy"].is_null() { Ok(()) } else { Err(s["busy"].to_string()) }
    })
    .await;

    for (path, body, status, says) in [
        ("consumers/set", json!({"count": 99}), 400, "more than the lab allows"),
        ("consumers/set", json!({"count": -1}), 400, "cannot be negative"),
        ("consumers/set", json!({"count": "2; reboot"}), 400, "whole number"),
        ("consumers/set", json!({"cuont": 2}), 400, "unknown field"),
        ("partitions", json!({"count": 2}), 400, "Kafka cannot remove partitions"),
        ("partitions", json!({"count": 3}), 400, "already has 3 partitions"),
        ("partitions", json!({"count": 1000}), 400, "more than the lab allows"),
        ("members/kill", json!({"client_id": "order-consumer-nobody-00000000"}), 404, "no member"),
        ("members/stop", json!({"client_id": "$(reboot)"}), 400, "client id"),
        ("producer/start", json!({"rate": -5}), 400, "above 0"),
        ("producer/stop", json!({}), 400, "not running"),
        ("faults/postgres", json!({"seconds": 0}), 400, "from 1 to 120, got 0"),
        ("faults/postgres", json!({"seconds": 1000}), 400, "from 1 to 120, got 1000"),
        ("faults/postgres", json!({"seconds": "10; reboot"}), 400, "whole number of seconds"),
        ("faults/postgres", json!({}), 400, "needs {\"seconds\": N}"),
        ("autoscaler/on", json!({"threshold": -1}), 400, "a lag threshold is a whole number"),
        ("autoscaler/on", json!({"threshold": 0}), 400, "from 1 to 1000000, got 0"),
        ("autoscaler/on", json!({}), 400, "needs {\"threshold\": T}"),
        ("autoscaler/off", json!({}), 400, "not on"),
        ("reboot", json!({}), 404, "no control"),
    ] {
        let (got, answer) = lab.post(path, body.clone()).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path} {body}: '{message}' should say '{says}'");
    }
    lab.finish().await;
}

#[test]
fn a_non_loopback_bind_without_a_token_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("LAB_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run lab serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0 without --token"), "{stderr}");
}

#[tokio::test]
async fn the_page_keeps_serving_and_says_the_broker_and_postgres_are_down() {
    let dir = std::env::temp_dir().join(format!("lab-serve-down-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    // Nothing listens on port 1: a broker and a Postgres that are down.
    let args = ["--bootstrap-servers", "127.0.0.1:1", "--database-url", "postgres://u:p@127.0.0.1:1/none"];
    let (mut child, base, _token) = spawn_lab(&args, &dir);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let text = http.get(format!("{base}/api/state")).send().await.expect("state").text().await.expect("body");
        let state: Value = serde_json::from_str(&text).expect("JSON");
        let down = state["down"].as_array().cloned().unwrap_or_default();
        if down.contains(&json!("broker")) && down.contains(&json!("postgres")) {
            break state;
        }
        assert!(Instant::now() < deadline, "not said down: {state}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(state["members"].as_array().is_some_and(Vec::is_empty), "{state}");
    let page = http.get(format!("{base}/")).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    stop_lab(&mut child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The page in headless Chromium, used as a person would: the board shows 3 owners; the producer's button starts
/// orders flowing and the page says it runs; +1 twice shows 2 idle members;
/// add partitions shows the new one owned; a killed member's partition is taken over; no JavaScript error; a
/// screenshot is saved (target/lab-browser.png, or `LAB_SCREENSHOT`).
#[tokio::test]
async fn the_page_in_a_real_browser_drives_and_shows_the_group() {
    use fantoccini::Locator;

    let lab = Served::start("browser", 3).await;
    lab.control("consumers/set", json!({"count": 3})).await;
    let driver = Driver::start(&lab.dir.join("chromedriver.log")).await;
    let browser = open_browser(&driver, &lab.dir.join("chromium-profile")).await;

    let run = async {
        browser.goto(&format!("{}/?token={}", lab.base, lab.token)).await.expect("open the page");
        let owners = "return document.querySelectorAll('#board .member:not(.idle):not(#unowned)').length";
        let idle = "return document.querySelectorAll('#board .member.idle').length";
        in_page(&browser, "3 owners on the board", Duration::from_secs(90), owners, |v| *v == json!(3)).await;

        // Orders flowing for the rest of the test (and its screenshot): the producer's button, at the rate shown.
        browser.find(Locator::Id("r-start")).await.expect("start").click().await.expect("click start");
        let producer = "return document.getElementById('r-state').textContent";
        in_page(&browser, "the producer running", Duration::from_secs(30), producer, |v| {
            v.as_str().is_some_and(|t| t.starts_with("running at 200"))
        })
        .await;

        browser.find(Locator::Id("c-add")).await.expect("+1").click().await.expect("click +1");
        let members = "return document.querySelectorAll('#board .member[data-client-id]').length";
        in_page(&browser, "4 members", Duration::from_secs(60), members, |v| *v == json!(4)).await;
        in_page(
            &browser,
            "no control running",
            Duration::from_secs(60),
            "return document.getElementById('busy').hidden",
            |v| *v == json!(true),
        )
        .await;
        browser.find(Locator::Id("c-add")).await.expect("+1").click().await.expect("click +1 again");
        in_page(&browser, "2 idle members", Duration::from_secs(60), idle, |v| *v == json!(2)).await;
        in_page(
            &browser,
            "no control running",
            Duration::from_secs(60),
            "return document.getElementById('busy').hidden",
            |v| *v == json!(true),
        )
        .await;

        browser.find(Locator::Id("p-set")).await.expect("add partitions").click().await.expect("click add partitions");
        let owned3 = "return !!document.querySelector('#board .member[data-client-id] .tile[data-partition=\"3\"]')";
        in_page(&browser, "partition 3 owned", Duration::from_secs(120), owned3, |v| *v == json!(true)).await;

        let victim = in_page(
            &browser,
            "a kill button on the owner of partition 0",
            Duration::from_secs(30),
            "const t = document.querySelector('#board .member[data-client-id] .tile[data-partition=\"0\"]');
             const b = t && t.closest('.member').querySelector('button[data-act=kill]');
             if (!b) return null;
             const id = b.dataset.clientId; b.click(); return id;",
            Value::is_string,
        )
        .await;
        let victim = victim.as_str().unwrap_or_default().to_owned();
        let taken = format!(
            "const t = document.querySelector('#board .member[data-client-id] .tile[data-partition=\"0\"]');
             const gone = !document.querySelector('#board .member[data-client-id=\"{victim}\"]');
             return !!t && gone && t.closest('.member').dataset.clientId !== '{victim}';"
        );
        in_page(&browser, "partition 0 taken over", Duration::from_secs(90), &taken, |v| *v == json!(true)).await;
        let lines = browser.find(Locator::Id("lines")).await.expect("lines").text().await.expect("text");
        assert!(lines.contains("partition 0 moved from"), "the page says what moved: {lines}");

        // The autoscaler's buttons: on with the threshold typed, then off.
        let autoscaler = "return document.getElementById('a-state').textContent";
        browser.find(Locator::Id("a-threshold")).await.expect("threshold").clear().await.expect("clear");
        browser.find(Locator::Id("a-threshold")).await.expect("threshold").send_keys("250").await.expect("type");
        browser.find(Locator::Id("a-on")).await.expect("on").click().await.expect("click on");
        in_page(&browser, "the autoscaler on", Duration::from_secs(30), autoscaler, |v| {
            v.as_str().is_some_and(|t| t.starts_with("on: threshold 250 per consumer"))
        })
        .await;
        browser.find(Locator::Id("a-off")).await.expect("off").click().await.expect("click off");
        in_page(&browser, "the autoscaler off", Duration::from_secs(30), autoscaler, |v| *v == json!("off")).await;

        let errors = browser.execute("return window.labErrors", Vec::new()).await.expect("errors");
        assert_eq!(errors, json!([]), "no JavaScript error");
        let png = browser.screenshot().await.expect("screenshot");
        let path =
            std::env::var_os("LAB_SCREENSHOT").map_or_else(|| root().join("target/lab-browser.png"), PathBuf::from);
        std::fs::write(&path, &png).expect("write the screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
    };
    // Bounded: the whole scenario within 8 minutes, then the session ends either way.
    let outcome = tokio::time::timeout(
        Duration::from_secs(480),
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)),
    )
    .await;
    let _ = browser.close().await;
    drop(driver);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the browser scenario took over 8 minutes"),
    }
    lab.finish().await;
}

/// The autoscaler on with a threshold of 1 under a producer's load takes one consumer up to the partition count,
/// through the fleet, and says why; off, it leaves the group as it is. Then an owner SIGKILLed while orders keep
/// coming: its partition moves after the session timeout, and the page says how long it stalled.
#[tokio::test]
async fn under_load_the_autoscaler_grows_the_group_and_a_killed_owner_s_stall_is_said() {
    let lab = Served::start_with("autoscale", 3, &["--autoscale-every", "1s"]).await;
    lab.control("consumers/set", json!({"count": 1})).await;
    lab.until("1 member owning the 3 partitions", Duration::from_secs(90), |s| {
        let m = members(s);
        if m.len() == 1 && m[0].1.len() == 3 { Ok(()) } else { Err(format!("{m:?}")) }
    })
    .await;
    lab.control("producer/start", json!({"rate": 300})).await;

    let (status, answer) = lab.post("autoscaler/on", json!({"threshold": 1})).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer["accepted"].as_str().is_some_and(|a| a.contains("lag threshold 1 per consumer")), "{answer}");
    lab.until("3 members, one partition each", Duration::from_secs(120), |s| {
        let m = members(s);
        if m.len() == 3 && m.iter().all(|(_, p)| p.len() == 1) { Ok(()) } else { Err(format!("{m:?}")) }
    })
    .await;
    let decision = lab
        .line("the autoscaler's first decision", Duration::from_secs(30), |l| l.starts_with("autoscaler: 1 -> "))
        .await;
    assert!(decision.contains("over threshold 1 × 1 consumer"), "{decision}");
    let marks = lab.marks().await;
    assert!(marks.iter().any(|m| m.starts_with("autoscaler 1→")), "the decision marked on the timeline: {marks:?}");
    let s = lab.state().await;
    assert_eq!(s["autoscaler"]["on"], true, "{s}");
    assert_eq!(s["autoscaler"]["lag_threshold"], 1, "{s}");

    let (status, answer) = lab.post("autoscaler/off", json!({})).await;
    assert_eq!(status, 202, "{answer}");
    let s = lab
        .until("the autoscaler off, 3 consumers known by client id", Duration::from_secs(60), |s| {
            let fleet = s["fleet"].as_array().cloned().unwrap_or_default();
            let known = fleet.iter().filter(|f| f["client_id"].is_string()).count();
            let off = s["autoscaler"]["on"] == false && s["busy"].is_null();
            if off && fleet.len() == 3 && known == 3 { Ok(()) } else { Err(format!("{} {fleet:?}", s["autoscaler"])) }
        })
        .await;

    let victim = owner_of(&s, 0).expect("partition 0 has an owner");
    let (status, answer) = lab.post("members/kill", json!({"client_id": victim})).await;
    assert_eq!(status, 202, "{answer}");
    lab.until("partition 0 with another member", Duration::from_secs(90), |s| match owner_of(s, 0) {
        Some(owner) if owner != victim => Ok(()),
        other => Err(format!("owner {other:?}")),
    })
    .await;
    let stall =
        lab.line("partition 0's stall", Duration::from_secs(60), |l| l.starts_with("partition 0 stalled")).await;
    assert!(stall.ends_with("s around its move"), "{stall}");
    lab.control("producer/stop", json!({})).await;
    lab.finish().await;
}

/// The page open in Chromium while the lab stops (promptly, though a page holds its event stream) and starts again
/// on the same address: the page says it is reconnecting, then shows the new lab's state without being reloaded.
#[tokio::test]
async fn the_page_reconnects_by_itself_after_the_lab_restarts() {
    const TOKEN: &str = "reconnect-test-token-0123456789";
    let dir = std::env::temp_dir().join(format!("lab-serve-reconnect-{}", std::process::id()));
    let (first, second) = (dir.join("first"), dir.join("second"));
    std::fs::create_dir_all(&first).and_then(|()| std::fs::create_dir_all(&second)).expect("folders");
    // Nothing listens on port 1: the lab serves without a stack, saying so.
    let args = |topic: &'static str| {
        ["--bootstrap-servers", "127.0.0.1:1", "--database-url", "postgres://u:p@127.0.0.1:1/none", "--token", TOKEN]
            .into_iter()
            .chain(["--topic", topic])
            .collect::<Vec<&str>>()
    };
    let (mut lab, base, _) = spawn_lab(&args("before-restart"), &first);
    let driver = Driver::start(&dir.join("chromedriver.log")).await;
    let browser = open_browser(&driver, &dir.join("chromium-profile")).await;
    let shows = "return [document.getElementById('conn').textContent, document.getElementById('what').textContent]";
    let showing = |conn: &'static str, topic: &'static str| {
        move |v: &Value| v[0] == conn && v[1].as_str().is_some_and(|w| w.contains(&format!("topic {topic} ")))
    };

    let run = async {
        browser.goto(&format!("{base}/?token={TOKEN}")).await.expect("open the page");
        in_page(&browser, "live", Duration::from_secs(30), shows, showing("live", "before-restart")).await;
        let stopping = Instant::now();
        stop_lab(&mut lab);
        assert!(
            stopping.elapsed() < Duration::from_secs(15),
            "the lab stopped within 15 s with a page open (took {:?})",
            stopping.elapsed()
        );
        assert!(lab.try_wait().ok().flatten().is_some_and(|s| s.success()), "the lab exited by itself, cleanly");
        in_page(&browser, "reconnecting", Duration::from_secs(30), shows, |v| v[0] == "reconnecting…").await;
        let bind = base.trim_start_matches("http://").to_owned();
        let (again, base_again, _) = spawn_lab_at(&bind, &args("after-restart"), &second);
        lab = again;
        assert_eq!(base_again, base, "the same address");
        in_page(&browser, "live again", Duration::from_secs(60), shows, showing("live", "after-restart")).await;
        let errors = browser.execute("return window.labErrors", Vec::new()).await.expect("errors");
        assert_eq!(errors, json!([]), "no JavaScript error");
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(180),
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)),
    )
    .await;
    let _ = browser.close().await;
    drop(driver);
    stop_lab(&mut lab);
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the reconnect scenario took over 3 minutes"),
    }
}
