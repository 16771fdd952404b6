//! What the scaling lab's tests share: a `lab serve` of one test on a topic, group, database and consumer folder of
//! its own ([`Served`]), its state and lines, its controls, and Debian's ChromeDriver for the browser tests.
//! Each test binary uses part of it.
#![allow(dead_code)]

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

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub async fn stack() -> Stack {
    let bootstrap = std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| shared::DEFAULT_BOOTSTRAP.into());
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| shared::DEFAULT_DATABASE_URL.into());
    Stack::connect(&root(), &bootstrap, Database::new(url)).await.expect("the local stack (scripts/stack.sh up)")
}

/// A `lab serve` of one test, on a topic, group, database and consumer folder of its own.
pub struct Served {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    pub stack: Stack,
    pub topic: String,
    pub database: String,
    pub dir: PathBuf,
}

/// The local stack's folder (`scripts/stack.sh`'s `LOCAL_DIR`), which the fault controls are given.
pub fn stack_dir() -> PathBuf {
    std::env::var_os("LOCAL_DIR").map_or_else(|| root().join(".local"), PathBuf::from)
}

impl Served {
    pub async fn start(name: &str, partitions: i32) -> Self {
        Self::start_with(name, partitions, &[]).await
    }

    /// As [`Served::start`], with more of `lab serve`'s options.
    pub async fn start_with(name: &str, partitions: i32, more: &[&str]) -> Self {
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
            "--stack-dir",
            &stack_dir().display().to_string(),
        ];
        let args: Vec<&str> = args.iter().copied().chain(more.iter().copied()).collect();
        let (child, base, token) = spawn_lab(&args, &dir);
        Self { child, base, token, http: reqwest::Client::new(), stack, topic, database, dir }
    }

    pub async fn state(&self) -> Value {
        let text = self.http.get(format!("{}/api/state", self.base)).send().await.expect("GET /api/state");
        serde_json::from_str(&text.text().await.expect("body")).expect("JSON state")
    }

    /// POSTs a control with the token; returns the status and the JSON answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        post(&self.http, &format!("{}/api/{path}", self.base), Some(&self.token), body).await
    }

    /// Waits (up to `timeout`) for the state to satisfy `check`, which says what it saw otherwise.
    pub async fn until(&self, what: &str, timeout: Duration, check: impl Fn(&Value) -> Result<(), String>) -> Value {
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

    /// Waits (up to `timeout`) for the page's reconciliation to be equal after the producer stopped, and checks what
    /// a user reads there: more than `at_least` orders acked, acked = rows + dead letters, no duplicate `order_id`,
    /// every partition committed to its log end. Returns the state.
    pub async fn reconciled(&self, timeout: Duration, at_least: i64) -> Value {
        let s = self
            .until("acked = rows + dead letters, drained", timeout, |s| {
                let r = &s["reconciliation"];
                if r["equal"] == true { Ok(()) } else { Err(r.to_string()) }
            })
            .await;
        let r = &s["reconciliation"];
        let acked = r["acked"].as_i64().expect("acked");
        assert!(acked > at_least, "the producer ran: {r}");
        assert_eq!(r["rows"].as_i64().unwrap_or(-1) + r["dead_letters"].as_i64().unwrap_or(-1), acked, "{r}");
        assert_eq!(r["duplicates"], 0, "{r}");
        assert_eq!(r["committed"], r["log_end"], "{r}");
        s
    }

    /// The lines said so far (the ones the lab keeps, as a page that connects now gets them first).
    pub async fn lines(&self) -> Vec<String> {
        let lines = read_lines(&self.http, &self.base).await;
        lines.iter().map(|l| l["text"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// The timeline's marks among those lines (`autoscaler 1→3`, `Postgres down`).
    pub async fn marks(&self) -> Vec<String> {
        let lines = read_lines(&self.http, &self.base).await;
        lines.iter().filter_map(|l| l["mark"].as_str().map(str::to_owned)).collect()
    }

    /// Waits (up to `timeout`) for a line that satisfies `check`; returns it.
    pub async fn line(&self, what: &str, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.lines().await;
            if let Some(line) = lines.iter().find(|l| check(l)) {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "{what}: no such line within {timeout:?}; the lines: {lines:#?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Posts a control and waits until a state sampled after it shows no control running.
    pub async fn control(&self, path: &str, body: Value) {
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
    pub async fn finish(mut self) {
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
pub fn spawn_lab(args: &[&str], dir: &Path) -> (Child, String, String) {
    spawn_lab_at("127.0.0.1:0", args, dir)
}

/// As [`spawn_lab`], listening on `bind`.
pub fn spawn_lab_at(bind: &str, args: &[&str], dir: &Path) -> (Child, String, String) {
    let log = std::fs::File::create(dir.join("lab.log")).expect("lab log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["serve", "--bind", bind])
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

/// The kept lines from `GET /api/events` (as JSON: `at_ms`, `text`, `mark`): the `line` events it sends before its
/// first `state` event.
pub async fn read_lines(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let mut response = http.get(format!("{base}/api/events")).send().await.expect("GET /api/events");
    let (mut text, mut lines) = (String::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else { break };
        text.push_str(&String::from_utf8_lossy(&chunk));
        for event in lab::serve::http::take_events(&mut text) {
            match event.name.as_deref() {
                Some("state") => return lines,
                Some("line") => lines.push(serde_json::from_str(&event.data).expect("a JSON line")),
                _ => {}
            }
        }
    }
    lines
}

pub async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> (u16, Value) {
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
pub fn stop_lab(child: &mut Child) {
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
pub fn kill_left_over(dir: &Path) {
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

pub fn members(s: &Value) -> Vec<(String, Vec<i64>)> {
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

pub fn owner_of(s: &Value, partition: i64) -> Option<String> {
    members(s).into_iter().find(|(_, p)| p.contains(&partition)).map(|(id, _)| id)
}

/// Debian's ChromeDriver on a free port, stopped by pid when dropped.
pub struct Driver {
    pub child: Child,
    pub url: String,
}

impl Driver {
    pub async fn start(log: &Path) -> Self {
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

/// A headless Chromium session through `driver`, with its profile in `profile`.
pub async fn open_browser(driver: &Driver, profile: &Path) -> fantoccini::Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--window-size=1400,1800",
                     format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Polls `script` (which returns a value) in the page until `done` holds for it, up to `timeout`.
pub async fn in_page(
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
