//! The seed's scenario on the compose stack (`lab compose-scenario`, run by `lab compose-test`): the real
//! `docker-compose.yml` brought up as the README says, then scaled, grown, killed and restarted, everything observed
//! the way a user would: `kafka-consumer-groups` and `kafka-get-offsets` inside the Kafka container, `psql` inside
//! the Postgres container, `docker inspect` for the consumers' exit codes and users. Its steps: docs/containers.md.
//! With `--cluster`, the three-node cluster's scenario instead ([`cluster`], docs/cluster.md).
//!
//! Each step waits (with a deadline) for the state it expects and records a check; the stack is taken down with
//! `down -v` at the end, whatever happened.

mod cluster;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use harness::compose::{Compose, docker, psql_number};
use harness::group::{Member, owners};
use harness::producer::ProducerSummary;
use harness::scripts::Scripts;
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use serde::Serialize;

use harness::repo::Repo;
use harness::wait::wait_for;

use crate::checks::Check;

/// Options of `lab compose-scenario`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScenarioSettings {
    /// Producer rate, orders/s (`PRODUCER_RATE` of the compose file): 100 by default, 200 with `--cluster`.
    #[arg(long)]
    pub rate: Option<u32>,

    /// The three-node cluster's scenario (docker-compose.cluster.yml laid over docker-compose.yml) instead of the
    /// seed's: a node killed and started under load, then drained (docs/cluster.md).
    #[arg(long)]
    pub cluster: bool,

    /// The consumers' session timeout (their default): a killed owner's partition must move within it plus
    /// `--takeover-margin`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub session_timeout: Duration,

    /// Allowance on top of the session timeout for the rebalance itself (heartbeat 1 s, join and sync rounds).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub takeover_margin: Duration,

    /// Folder for report.json and report.md (default results/compose-<cli>-<time>).
    #[arg(long)]
    pub results: Option<PathBuf>,

    /// Start from the image an earlier run built (`up` without `--build`): lab compose-test builds it once,
    /// with the first Compose, instead of once per Compose (v1's builder and v2's BuildKit share no cache).
    #[arg(long)]
    pub no_build: bool,

    /// Prometheus' host port in the `monitoring` profile (127.0.0.1:PROMETHEUS_HOST_PORT).
    #[arg(long, env = "PROMETHEUS_HOST_PORT", default_value_t = 9090)]
    pub prometheus_port: u16,

    /// Kafka's host listener (127.0.0.1:KAFKA_HOST_PORT), from which the takeover after `docker kill` is timed
    /// by asking the group coordinator every 250 ms (`kafka-consumer-groups` takes ~3 s per look).
    /// With `--cluster`, kafka-2 and kafka-3 listen two and four ports above it (KAFKA_2_HOST_PORT and
    /// KAFKA_3_HOST_PORT, as docker-compose.cluster.yml's defaults 9092, 9094, 9096).
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,

    /// The stack's Postgres from the host (127.0.0.1:POSTGRES_HOST_PORT), read by `--cluster`; the seed's
    /// scenario reads it through psql in its container.
    #[command(flatten)]
    pub database: shared::database::Database,
}

/// What the scenario saw.
#[derive(Debug, Default, Serialize)]
pub struct ScenarioReport {
    pub compose_cli: String,
    pub checks: Vec<Check>,
    /// Seconds from `docker kill` returning to the group coordinator showing a Stable group in which another
    /// member owns the killed member's partitions (asked every 250 ms from the host).
    pub takeover_s: Option<f64>,
    /// Seconds from `restart kafka` to the group holding every partition again.
    pub kafka_restart_recovery_s: Option<f64>,
    pub producer: Option<ProducerSummary>,
    pub rows: Option<i64>,
    pub dead_letters: Option<i64>,
    /// With `--cluster`: what the cluster's scenario measured (the seed's figures above stay empty but `producer`,
    /// `rows` and `dead_letters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<cluster::ClusterFigures>,
    pub wall_s: f64,
}

impl ScenarioReport {
    pub fn failures(&self) -> usize {
        crate::checks::failures(&self.checks)
    }

    /// Records the expectation of scenario step `step` (as numbered in docs/containers.md, or docs/cluster.md).
    fn check(&mut self, step: u32, expectation: &str, passed: bool, observed: impl Into<String>) {
        let observed = observed.into();
        eprintln!("{} step {step}: {expectation} (observed: {observed})", if passed { "ok  " } else { "FAIL" });
        self.checks.push(Check { phase: step, expectation: expectation.into(), observed, passed });
    }

    /// Records a wait for the state `expectation` names as a check: passed with what it found (`observed`), or failed
    /// with what the wait last saw when its deadline passed; hands the wait's outcome on.
    fn waited<T>(
        &mut self,
        step: u32,
        expectation: &str,
        outcome: anyhow::Result<(T, Duration)>,
        observed: impl FnOnce(&T, Duration) -> String,
    ) -> anyhow::Result<(T, Duration)> {
        match &outcome {
            Ok((found, waited)) => self.check(step, expectation, true, observed(found, *waited)),
            Err(error) => self.check(step, expectation, false, format!("{error:#}")),
        }
        outcome
    }

    /// Stops the compose producer (it flushes and writes its summary), reads that summary out of its container and
    /// records, as step `step`, that every order was acknowledged and none failed.
    async fn stop_producer(&mut self, step: u32, compose: &Compose) -> anyhow::Result<ProducerSummary> {
        compose.run(&["stop", "-t", "60", "order-producer"]).await?;
        let file = std::env::temp_dir().join(format!("compose-producer-summary-{}.json", std::process::id()));
        let producer = ProducerSummary::from_compose(compose, &file).await;
        let _ = std::fs::remove_file(&file);
        let producer = producer?;
        self.producer = Some(producer);
        let passed = producer.failed == 0 && producer.acked > 0;
        self.check(step, "every order acknowledged, none failed", passed, format!("{producer:?}"));
        Ok(producer)
    }

    fn markdown(&self) -> String {
        let mut out = format!(
            "# Compose {}scenario ({})\n\n{} of {} checks passed in {:.0} s.\n\n| step | expectation | observed | |\n|---|---|---|---|\n",
            if self.cluster.is_some() { "cluster " } else { "" },
            self.compose_cli,
            self.checks.len() - self.failures(),
            self.checks.len(),
            self.wall_s
        );
        for c in &self.checks {
            let mark = if c.passed { "ok" } else { "**FAIL**" };
            out.push_str(&format!("| {} | {} | {} | {mark} |\n", c.phase, c.expectation, c.observed));
        }
        out
    }
}

/// The value of a PromQL query that returns one series, through Prometheus' HTTP API.
async fn prometheus_value(prometheus: &str, promql: &str) -> Option<f64> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().ok()?;
    let url = format!("http://{prometheus}/api/v1/query");
    let text = client.get(url).query(&[("query", promql)]).send().await.ok()?.text().await.ok()?;
    let body: serde_json::Value = serde_json::from_str(&text).ok()?;
    match body["data"]["result"].as_array()?.as_slice() {
        [series] => series["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

fn describe(members: &[Member]) -> String {
    let owned: Vec<String> = members.iter().map(|m| format!("{:?}", m.partitions)).collect();
    format!("{} members, partitions {}", members.len(), owned.join(" "))
}

/// Runs the scenario and writes its report; the stack is taken down at the end whatever happened.
///
/// # Errors
/// When a command fails or a wait runs past its deadline (the stack is still taken down).
pub async fn run(settings: ScenarioSettings, repo: &Repo) -> anyhow::Result<ScenarioReport> {
    let root = repo.root.clone();
    let compose = if settings.cluster {
        cluster::compose(&settings, &root)?
    } else {
        let rate = settings.rate.unwrap_or(100).to_string();
        Compose::find(&root, vec![("TOPIC_PARTITIONS".into(), "1".into()), ("PRODUCER_RATE".into(), rate)])?
    };
    let name = format!(
        "compose-{}{}",
        if settings.cluster { "cluster-" } else { "" },
        if compose.is_v2() { "v2" } else { "v1" }
    );
    let mut report = ScenarioReport { compose_cli: compose.name(), ..Default::default() };
    let start = Instant::now();

    compose.run(&["--profile", "monitoring", "down", "-v", "--remove-orphans"]).await?;
    let outcome = if settings.cluster {
        cluster::steps(&settings, &compose, &mut report).await
    } else {
        let env = [compose.env.clone(), vec![("STACK".into(), "compose".into())]].concat();
        steps(&settings, &compose, &Scripts { root: root.clone(), env }, &mut report).await
    };
    if let Err(error) = &outcome {
        eprintln!("error: {error:#}");
        let _ = compose.run(&["ps", "-a"]).await;
        let _ = compose.run(&["logs", "--no-color", "--tail", "30"]).await;
    }
    let down = compose.run(&["--profile", "monitoring", "down", "-v", "--remove-orphans"]).await;
    report.wall_s = start.elapsed().as_secs_f64();

    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let dir = settings.results.clone().unwrap_or_else(|| root.join("results").join(format!("{name}-{stamp}")));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(dir.join("report.md"), report.markdown())?;
    eprintln!("report: {}", dir.join("report.md").display());
    outcome?;
    down?;
    Ok(report)
}

async fn steps(
    settings: &ScenarioSettings,
    compose: &Compose,
    scripts: &Scripts,
    report: &mut ScenarioReport,
) -> anyhow::Result<()> {
    // 1. The README's command, detached so the scenario can go on: one partition, three consumers.
    let build: &[&str] = if settings.no_build { &[] } else { &["--build"] };
    compose.run(&[&["up", "-d"], build, &["--scale", "order-consumer=3"]].concat()).await?;
    let one_owner = wait_for("3 members, one owning the partition", Duration::from_secs(180), async || {
        compose.members().await.filter(|(m, _)| m.len() == 3 && owners(m) == 1)
    })
    .await;
    let ((_, table), _) = report.waited(1, "one owner, two idle members", one_owner, |(m, _), _| describe(m))?;
    compose.print_members(&table);
    let stored =
        wait_for("rows stored", Duration::from_secs(60), async || compose.rows().await.filter(|r| *r > 0)).await;
    report.waited(1, "orders are stored", stored, |rows, _| format!("{rows} rows"))?;

    // 2. Partitions raised to 3 while the producer runs: each consumer then owns one.
    scripts.run("partitions.sh", &["set", "3"]).await?;
    let one_each = wait_for("each of 3 members owning one partition", Duration::from_secs(60), async || {
        compose.members().await.filter(|(m, _)| m.len() == 3 && m.iter().all(|m| m.partitions.len() == 1))
    })
    .await;
    let ((_, table), _) = report.waited(2, "each consumer owns one partition", one_each, |(m, _), waited| {
        format!("{} after {:.0} s", describe(m), waited.as_secs_f64())
    })?;
    compose.print_members(&table);
    let used = wait_for("orders on all 3 partitions", Duration::from_secs(60), async || {
        let offsets = compose.offsets().await;
        (offsets.len() == 3 && offsets.values().all(|(_, end)| *end > 0)).then_some(offsets)
    })
    .await;
    report.waited(2, "the producer uses the new partitions without a restart", used, |offsets, _| {
        format!("log-end {:?}", offsets.values().map(|o| o.1).collect::<Vec<_>>())
    })?;

    // The monitoring profile's Prometheus finds every replica through the engine's DNS and sees the assignment.
    compose.run(&["--profile", "monitoring", "up", "-d", "prometheus"]).await?;
    let prometheus = format!("127.0.0.1:{}", settings.prometheus_port);
    let query = r#"count(up{job="order-consumer"} == 1) * 100 + sum(order_consumer_assigned_partitions)"#;
    let scraped =
        wait_for("Prometheus scraping 3 consumers owning 3 partitions", Duration::from_secs(90), async || {
            prometheus_value(&prometheus, query).await.filter(|v| *v == 303.0)
        })
        .await;
    let expectation = "Prometheus (profile monitoring) scrapes all 3 consumers, which own the 3 partitions";
    report.waited(2, expectation, scraped, |seen, _| format!("{seen} = 100 × consumers up + partitions owned"))?;

    // 3. Five consumers on three partitions: two idle.
    scripts.run("scale.sh", &["5"]).await?;
    let two_idle = wait_for("5 members, 3 owners", Duration::from_secs(90), async || {
        compose.members().await.filter(|(m, _)| m.len() == 5 && owners(m) == 3)
    })
    .await;
    let ((members, _), _) = report.waited(3, "3 owners, 2 idle", two_idle, |(m, _), _| describe(m))?;
    // The README's own view of the group: members, then committed offset, log-end and lag per partition.
    eprint!("{}", scripts.run("group.sh", &[]).await?);

    // 4. docker kill an owner: its partition moves to another member within the session timeout. Timed from the
    // moment `docker kill` returns to the coordinator showing the new owner, asked every 250 ms from the host.
    let victim = members.iter().find(|m| !m.partitions.is_empty()).context("no owner")?.clone();
    let coordinator: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("group.id", shared::CONSUMER_GROUP)
        .set("client.id", "compose-scenario-inspector")
        .create()
        .context("Kafka inspector client")?;
    scripts.run("scale.sh", &["kill", &victim.client_id]).await?;
    let deadline = settings.session_timeout + settings.takeover_margin + Duration::from_secs(30);
    let (view, takeover) = wait_for("the killed owner's partitions taken over", deadline, async || {
        let view = harness::group::describe(
            &coordinator,
            shared::CONSUMER_GROUP,
            shared::ORDERS_TOPIC,
            Duration::from_secs(5),
        )
        .ok()?;
        let moved =
            victim.partitions.iter().all(|p| view.owner_of(*p).is_some_and(|o| o.client_id != victim.client_id));
        (view.state == "Stable" && view.members.len() == 4 && moved).then_some(view)
    })
    .await?;
    // Closed now, so that the broker restart of step 5 does not fill the log with its reconnection errors.
    drop(coordinator);
    report.takeover_s = Some(takeover.as_secs_f64());
    let (members, table) = compose.members().await.unwrap_or_default();
    compose.print_members(&table);
    report.check(
        4,
        &format!(
            "its partitions {:?} move to another member within the session timeout ({} s) + {} s",
            victim.partitions,
            settings.session_timeout.as_secs(),
            settings.takeover_margin.as_secs()
        ),
        takeover <= settings.session_timeout + settings.takeover_margin,
        format!(
            "{:.1} s ({} members, state {}); then {}",
            takeover.as_secs_f64(),
            view.members.len(),
            view.state,
            describe(&members)
        ),
    );

    // 5. The broker restarts under load; the producer retries, the group comes back, storing resumes.
    let before = compose.rows().await.unwrap_or(0);
    let restarted_at = Instant::now();
    compose.run(&["restart", "kafka"]).await?;
    wait_for("the group holding all 3 partitions again", Duration::from_secs(120), async || {
        compose
            .members()
            .await
            .filter(|(m, _)| m.len() == 4 && m.iter().map(|m| m.partitions.len()).sum::<usize>() == 3)
    })
    .await?;
    let recovery = restarted_at.elapsed().as_secs_f64();
    report.kafka_restart_recovery_s = Some(recovery);
    let (after, _) = wait_for("rows stored after the restart", Duration::from_secs(60), async || {
        compose.rows().await.filter(|r| *r > before)
    })
    .await?;
    let producer_up =
        docker(&["inspect", "-f", "{{.State.Running}}", &compose.containers("order-producer").await?.concat()]).await?;
    report.check(
        5,
        "the group holds every partition again, storing resumes, the producer keeps running",
        producer_up == "true",
        format!("recovered in {:.1} s; rows {before} → {after}; producer running: {producer_up}", recovery),
    );

    // 6. Down to one consumer: it owns all three partitions.
    scripts.run("scale.sh", &["1"]).await?;
    let waited = wait_for("1 member owning 3 partitions", Duration::from_secs(90), async || {
        compose.members().await.filter(|(m, _)| m.len() == 1 && m[0].partitions.len() == 3)
    })
    .await;
    let ((_, table), _) = report.waited(6, "one consumer owns all 3 partitions", waited, |(m, _), _| describe(m))?;
    compose.print_members(&table);
    let consumers = compose.containers("order-consumer").await?;
    for id in &consumers {
        let status = docker(&["exec", id, "cat", "/proc/1/status"]).await?;
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("Uid: ?").to_owned();
        report.check(6, "the consumer runs as uid 10001", uid.split_whitespace().skip(1).all(|u| u == "10001"), uid);
    }

    // 7. Stop the producer, drain, reconcile with the seed's own query.
    let producer = report.stop_producer(7, compose).await?;
    let acked = producer.acked_new_orders as i64;
    let (offsets, _) =
        wait_for("drained: committed = log-end, rows + dead letters = acked", Duration::from_secs(120), async || {
            let offsets = compose.offsets().await;
            let drained = !offsets.is_empty() && offsets.values().all(|(c, e)| *c == Some(*e));
            let stored = compose.rows().await? + compose.dead_letters().await.ok()?;
            (drained && stored >= acked).then_some(offsets)
        })
        .await?;
    let seed_query = compose.psql("SELECT COUNT(*) FROM orders;", true).await?;
    let rows = psql_number(&seed_query).context("psql printed no count")?;
    let dead = compose.dead_letters().await?;
    report.rows = Some(rows);
    report.dead_letters = Some(dead);
    report.check(
        7,
        "rows + dead letters = acked orders",
        rows + dead == acked,
        format!("{rows} + {dead} = {} (acked {acked})", rows + dead),
    );
    let duplicates = psql_number(
        &compose
            .psql("SELECT COUNT(*) FROM (SELECT order_id FROM orders GROUP BY order_id HAVING COUNT(*) > 1) d;", false)
            .await?,
    );
    // The primary key keeps order_ids unique in the table; what can duplicate is the log, when a retried send is
    // written twice (the broker restart is where it would happen). The idempotent producer must prevent it.
    let end_sum: i64 = offsets.values().map(|o| o.1).sum();
    report.check(
        7,
        "no duplicates: the topic holds exactly the acked orders (log-end total = acked), 0 repeated order_ids",
        end_sum == acked && duplicates == Some(0),
        format!("log-end total {end_sum}, acked {acked}, repeated order_ids {duplicates:?}"),
    );
    report.check(
        7,
        "committed = log-end on every partition",
        offsets.values().all(|(c, e)| *c == Some(*e)),
        format!("{:?} (log-end total {end_sum})", offsets.values().collect::<Vec<_>>()),
    );

    // 8. docker-compose stop: the consumer commits, leaves and exits 0.
    compose.run(&["stop"]).await?;
    for id in &consumers {
        let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", id]).await?;
        report.check(8, "the consumer exits 0", code == "0", format!("exit code {code}"));
    }
    Ok(())
}
