//! The scaling lab (`lab serve`) against the real local stack: the JSON state the page renders follows the group
//! through scaling, a SIGKILL and new partitions; the reconciliation is equal after a drain; the controls need the
//! token and valid inputs; a non-loopback bind needs a token; the page says what is down.
//!
//! Each test runs the real `lab` binary with a topic, group, database and consumer folder (`LOCAL_DIR`) of its own,
//! created through `harness::stack::Stack`, and stops every consumer and the lab by pid at the end. Needs the local
//! stack (`scripts/stack.sh up`) and the release binaries (`cargo build --release`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::stack::Stack;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::{Value, json};
use shared::database::Database;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn stack() -> Stack {
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| shared::DEFAULT_BOOTSTRAP.into());
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| shared::DEFAULT_DATABASE_URL.into());
    Stack::connect(&root(), &bootstrap, Database::new(url)).await.expect("the local stack (scripts/stack.sh up)")
}

/// A `lab serve` of one test, on a topic, group, database and consumer folder of its own.
struct Served {
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
    stack: Stack,
    topic: String,
    database: String,
    dir: PathBuf,
}

impl Served {
    async fn start(name: &str, partitions: i32) -> Self {
        assert!(
            root().join("target/release/order-consumer").exists(),
            "the release order-consumer is missing: cargo build --release"
        );
        let stack = stack().await;
        let topic = format!("lab-serve-{name}-{}", std::process::id());
        let database = format!("lab_serve_{}_{}", name.replace('-', "_"), std::process::id());
        stack.create_topic(&topic, partitions).await.expect("topic");
        stack.create_topic(&format!("{topic}-dlq"), 1).await.expect("dead-letter topic");
        stack.drop_database(&database, Duration::from_secs(10)).await.expect("drop an old test database");
        stack.create_database(&database).await.expect("database").close().await;
        let dir = std::env::temp_dir().join(format!("lab-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the test's folder");
        let url = stack.url_of(&database);
        let args = [
            "--topic",
            &topic,
            "--dlq-topic",
            &format!("{topic}-dlq"),
            "--group",
            &topic,
            "--database-url",
            &url,
            "--bootstrap-servers",
            &stack.bootstrap,
            "--session-timeout",
            "6s",
            "--count-every",
            "1s",
        ];
        let (child, base, token) = spawn_lab(&args, &dir);
        Self { child, base, token, http: reqwest::Client::new(), stack, topic, database, dir }
    }

    async fn state(&self) -> Value {
        let text = self.http.get(format!("{}/api/state", self.base)).send().await.expect("GET /api/state");
        serde_json::from_str(&text.text().await.expect("body")).expect("JSON state")
    }

    /// POSTs a control with the token; returns the status and the JSON answer.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        post(&self.http, &format!("{}/api/{path}", self.base), Some(&self.token), body).await
    }

    /// Waits (up to `timeout`) for the state to satisfy `check`, which says what it saw otherwise.
    async fn until(&self, what: &str, timeout: Duration, check: impl Fn(&Value) -> Result<(), String>) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.state().await;
            match check(&state) {
                Ok(()) => return state,
                Err(seen) if Instant::now() >= deadline => panic!("{what}: not within {timeout:?}: {seen}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }

    /// Posts a control and waits until a state sampled after it shows no control running.
    async fn control(&self, path: &str, body: Value) {
        let sent = chrono::Utc::now().timestamp_millis();
        let (status, answer) = self.post(path, body).await;
        assert_eq!(status, 202, "{path}: {answer}");
        self.until(&format!("{path} to finish"), Duration::from_secs(90), |s| {
            let after = s["at_ms"].as_i64().is_some_and(|at| at > sent);
            if after && s["busy"].is_null() { Ok(()) } else { Err(format!("busy: {}", s["busy"])) }
        })
        .await;
    }

    /// Stops the consumers (through the lab), the lab, anything left by pid, and removes the topic and database.
    async fn finish(mut self) {
        let sent = chrono::Utc::now().timestamp_millis();
        if self.post("consumers/set", json!({"count": 0})).await.0 == 202 {
            self.until("the consumers to stop", Duration::from_secs(90), |s| {
                let n = s["fleet"].as_array().map_or(0, Vec::len);
                let after = s["at_ms"].as_i64().is_some_and(|at| at > sent);
                if after && s["busy"].is_null() && n == 0 { Ok(()) } else { Err(format!("{n} running")) }
            })
            .await;
        }
        stop_lab(&mut self.child);
        kill_left_over(&self.dir.join("consumers"));
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &self.stack.bootstrap).create().expect("admin");
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let dlq = format!("{}-dlq", self.topic);
        let _ = admin.delete_groups(&[&self.topic], &options).await;
        let _ = admin.delete_topics(&[&self.topic, &dlq], &options).await;
        self.stack.drop_database(&self.database, Duration::from_secs(30)).await.expect("drop the test database");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test that fails half-way still stops what it started, by pid.
impl Drop for Served {
    fn drop(&mut self) {
        stop_lab(&mut self.child);
        kill_left_over(&self.dir.join("consumers"));
    }
}

/// Starts `lab serve --bind 127.0.0.1:0 ARGS` with `LOCAL_DIR=dir`; returns it, its base URL and its token.
fn spawn_lab(args: &[&str], dir: &Path) -> (Child, String, String) {
    let log = std::fs::File::create(dir.join("lab.log")).expect("lab log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .env("LOCAL_DIR", dir)
        .env("ROOT_DIR", root())
        .env_remove("LAB_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start lab serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).expect("lab serve prints its URL within 30 s");
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("a URL").to_owned();
    let (base, token) = url.split_once("/?token=").expect("http://ADDR/?token=TOKEN");
    assert!(token.len() >= 16, "a real token: {token}");
    (child, base.to_owned(), token.to_owned())
}

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = http.post(url).header("content-type", "application/json").body(body.to_string());
    if let Some(token) = token {
        request = request.header("x-lab-token", token);
    }
    let response = request.send().await.expect("POST");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// SIGTERM by pid, then SIGKILL after 20 s.
fn stop_lab(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with the pid of our own child, not yet reaped.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// SIGKILLs any consumer whose pid file is still in `dir` (a test that failed half-way).
fn kill_left_over(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "pid") {
            let pid = std::fs::read_to_string(&path).ok().and_then(|p| p.trim().parse::<libc::pid_t>().ok());
            let is_consumer = pid.is_some_and(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).next().is_some_and(|p| p.ends_with(b"order-consumer")))
            });
            if let (Some(pid), true) = (pid, is_consumer) {
                // SAFETY: kill(2) with a pid just checked to be an order-consumer this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn members(s: &Value) -> Vec<(String, Vec<i64>)> {
    s["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    let parts = m["partitions"].as_array().map(|p| p.iter().filter_map(Value::as_i64).collect());
                    (m["client_id"].as_str().unwrap_or_default().to_owned(), parts.unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn owner_of(s: &Value, partition: i64) -> Option<String> {
    members(s).into_iter().find(|(_, p)| p.contains(&partition)).map(|(id, _)| id)
}

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
    let s = lab
        .until("acked = rows + dead letters, drained", Duration::from_secs(90), |s| {
            let r = &s["reconciliation"];
            if r["equal"] == true { Ok(()) } else { Err(r.to_string()) }
        })
        .await;
    let r = &s["reconciliation"];
    let acked = r["acked"].as_i64().expect("acked");
    assert!(acked > 100, "the producer ran: {r}");
    assert_eq!(r["rows"].as_i64().unwrap_or(-1) + r["dead_letters"].as_i64().unwrap_or(-1), acked, "{r}");
    assert_eq!(r["duplicates"], 0, "{r}");
    assert_eq!(r["committed"], r["log_end"], "{r}");
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

/// Debian's ChromeDriver on a free port, stopped by pid when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(log: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).expect("driver log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium chromium-driver; .ci/run installs them)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.map(|r| r.status().is_success()).ok() != Some(true) {
            assert!(Instant::now() < deadline, "chromedriver did not answer on {url} within 20 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        stop_lab(&mut self.child);
    }
}

/// Polls `script` (which returns a value) in the page until `done` holds for it, up to `timeout`.
async fn in_page(
    browser: &fantoccini::Client,
    what: &str,
    timeout: Duration,
    script: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let value = browser.execute(script, Vec::new()).await.expect("script");
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}; the page shows {value}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The page in headless Chromium, used as a person would: the board shows 3 owners; +1 twice shows 2 idle members;
/// add partitions shows the new one owned; a killed member's partition is taken over; no JavaScript error; a
/// screenshot is saved (target/lab-browser.png, or `LAB_SCREENSHOT`).
#[tokio::test]
async fn the_page_in_a_real_browser_drives_and_shows_the_group() {
    use fantoccini::{ClientBuilder, Locator};

    let lab = Served::start("browser", 3).await;
    lab.control("consumers/set", json!({"count": 3})).await;
    let driver = Driver::start(&lab.dir.join("chromedriver.log")).await;
    let profile = lab.dir.join("chromium-profile");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--window-size=1400,1100",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser =
        ClientBuilder::new(connector).capabilities(capabilities).connect(&driver.url).await.expect("a browser session");

    let run = async {
        browser.goto(&format!("{}/?token={}", lab.base, lab.token)).await.expect("open the page");
        let owners = "return document.querySelectorAll('#board .member:not(.idle):not(#unowned)').length";
        let idle = "return document.querySelectorAll('#board .member.idle').length";
        in_page(&browser, "3 owners on the board", Duration::from_secs(90), owners, |v| *v == json!(3)).await;

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
