//! Scenario helpers for the integration tests: each scenario gets its own topics, consumer group and database on
//! the real local stack (`scripts/stack.sh up`), runs real `order-consumer` processes, and checks what a user
//! would check: rows, dead letters, committed offsets, the group's assignment. Processes, topics, the group view
//! and the offsets go through the harness crate, as in the experiment and the benchmarks.
#![allow(dead_code)]

pub mod cluster;
pub mod scrape;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::consumers::ConsumerEnv;
use harness::group::Member;
use harness::process::Process;
use harness::world::World;
use order_producer::{ProducerSettings, Summary};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A record as raw bytes: (key, value), either possibly absent.
pub type RawRecord = (Option<Vec<u8>>, Option<Vec<u8>>);

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Password of orders_app, the consumer's least-privilege role (scripts/stack.sh up creates it).
pub fn app_password() -> String {
    std::env::var("POSTGRES_APP_PASSWORD").unwrap_or_else(|_| "orders_app_pass".into())
}

/// The stack's own database, used to create one database per scenario.
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| order_consumer::config::DEFAULT_DATABASE_URL.into())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Polls `check` until it returns `Ok` (harness::wait), or panics with the last reason after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    match harness::wait::wait_ok(what, timeout, async || check().await).await {
        Ok((value, _)) => value,
        Err(error) => panic!("{error:#}"),
    }
}

/// One test's world: its own topic, dead-letter topic, group and database.
pub struct Scenario {
    pub name: String,
    pub topic: String,
    pub dlq_topic: String,
    pub group: String,
    pub database: String,
    pub database_url: String,
    pub partitions: i32,
    /// Replicas of each partition: 1 on the single broker, 3 on the cluster ([`Scenario::replicated`]).
    pub replication: i32,
    pub pool: PgPool,
    log_dir: PathBuf,
    created: Instant,
}

impl Scenario {
    /// Creates the topics and the database. Fails with one clear line when the local stack is not running.
    pub async fn new(name: &str, partitions: i32) -> Self {
        Self::create(name, partitions, 1).await
    }

    /// On the three-node cluster (`scripts/stack.sh up --brokers 3`): topics with 3 replicas and
    /// `min.insync.replicas=2`.
    pub async fn replicated(name: &str, partitions: i32) -> Self {
        Self::create(name, partitions, 3).await
    }

    async fn create(name: &str, partitions: i32, replication: i32) -> Self {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let topic = format!("test-{name}-{suffix}");
        let admin_url = admin_database_url();
        let admin_pool = match PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&admin_url)
            .await
        {
            Ok(pool) => pool,
            Err(e) => panic!("Postgres is not reachable ({e}); start the local stack: scripts/stack.sh up"),
        };
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("admin client");
        let inspector: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("metadata client");
        let dlq_topic = format!("{topic}-dlq");
        for (name, count) in [(&topic, partitions), (&dlq_topic, 1)] {
            harness::stack::create_topic(&admin, &inspector, name, count, replication).await.unwrap_or_else(|e| {
                panic!("cannot create {name} ({e:#}); is the local stack up at {}? scripts/stack.sh up", bootstrap())
            });
        }
        let database = format!("t_{}_{suffix}", name.replace('-', "_"));
        sqlx::query(&format!("CREATE DATABASE \"{database}\"")).execute(&admin_pool).await.expect("create database");
        let database_url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{database}"),
            None => panic!("DATABASE_URL has no database name: {admin_url}"),
        };
        let pool = PgPoolOptions::new().max_connections(2).connect_lazy(&database_url).expect("scenario pool");
        let log_dir = repo_root().join("target").join("test-logs").join(&topic);
        std::fs::create_dir_all(&log_dir).expect("log dir");
        Self {
            name: name.into(),
            group: format!("{topic}-group"),
            topic,
            dlq_topic,
            database,
            database_url,
            partitions,
            replication,
            pool,
            log_dir,
            created: Instant::now(),
        }
    }

    /// Time since the scenario was created.
    pub fn age(&self) -> Duration {
        self.created.elapsed()
    }

    /// The same scenario after its topic grew to `partitions` partitions.
    pub fn with_partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions;
        self
    }

    /// The real producer's settings for this scenario's topic: `count` orders (or until stopped) at `rate` per second
    /// (0: as fast as the broker takes them), generated from `seed`.
    fn producer_settings(&self, count: Option<u64>, rate: f64, seed: u64) -> ProducerSettings {
        let mut settings = ProducerSettings::for_servers(&bootstrap(), &self.topic);
        settings.count = count;
        settings.rate = rate;
        settings.seed = Some(seed);
        settings
    }

    /// Sends `n` generated orders with the real producer, as fast as the broker takes them.
    pub async fn produce_orders(&self, n: u64, seed: u64) -> Summary {
        let settings = self.producer_settings(Some(n), 0.0, seed);
        let summary = order_producer::run(&settings, std::future::pending()).await.expect("producer run");
        assert_eq!(summary.acked, n, "every order acknowledged: {summary:?}");
        summary
    }

    /// Sends `n` orders at `rate` per second in the background; returns the producer's task.
    pub fn produce_in_background(&self, n: u64, rate: f64, seed: u64) -> tokio::task::JoinHandle<Summary> {
        let settings = self.producer_settings(Some(n), rate, seed);
        tokio::spawn(async move { order_producer::run(&settings, std::future::pending()).await.expect("producer run") })
    }

    /// Sends orders at `rate` per second in the background until the returned sender is used (or dropped); the task
    /// returns the producer's summary after its final flush.
    pub fn produce_until_stopped(
        &self,
        rate: f64,
        seed: u64,
    ) -> (tokio::task::JoinHandle<Summary>, tokio::sync::oneshot::Sender<()>) {
        let settings = self.producer_settings(None, rate, seed);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            order_producer::run(&settings, async move {
                let _ = stopped.await;
            })
            .await
            .expect("producer run")
        });
        (task, stop)
    }

    /// Sends raw records (key, value) to the scenario's topic.
    pub async fn produce_raw(&self, records: &[RawRecord]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .set("partitioner", "murmur2_random")
            .set("message.max.bytes", "2000000")
            .create()
            .expect("raw producer");
        for (key, value) in records {
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic);
            if let Some(k) = key {
                record = record.key(k);
            }
            if let Some(v) = value {
                record = record.payload(v);
            }
            producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).expect("raw send");
        }
    }

    /// Starts a real `order-consumer` process in this scenario's group; its log goes to target/test-logs.
    pub fn start_consumer(&self, label: &str, extra_env: &[(&str, &str)]) -> ConsumerProcess {
        let log_path = self.log_dir.join(format!("{label}.log"));
        let metrics_addr_file = self.log_dir.join(format!("{label}.metrics-addr"));
        let _stale = std::fs::remove_file(&metrics_addr_file);
        let mut env = ConsumerEnv::new(&bootstrap(), &self.topic, &self.group, &self.database_url);
        env.dlq_topic = Some(self.dlq_topic.clone());
        env.client_id_base = Some(label.to_owned());
        env.session_timeout = Some(Duration::from_millis(6000));
        let mut cmd = env.command(std::path::Path::new(env!("CARGO_BIN_EXE_order-consumer")));
        cmd.env("METRICS_ADDR", "127.0.0.1:0")
            .env("METRICS_ADDR_FILE", &metrics_addr_file)
            .env_remove("KAFKA_PROPERTIES")
            .env_remove("KAFKA_SASL_PASSWORD_FILE")
            .env_remove("DATABASE_PASSWORD_FILE")
            .env_remove("MIGRATION_DATABASE_URL")
            .env_remove("MIGRATION_DATABASE_PASSWORD_FILE");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let process = Process::start(label, cmd, &log_path).expect("start order-consumer");
        ConsumerProcess { label: label.into(), process, log_path, metrics_addr_file }
    }

    /// Row statistics of the scenario's `orders` table (0s before the consumer created it).
    pub async fn rows(&self) -> Rows {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT order_id) AS distinct_orders, COUNT(DISTINCT processed_by) AS consumers FROM orders",
        )
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(r) => Rows { count: r.get("n"), distinct: r.get("distinct_orders"), consumers: r.get("consumers") },
            Err(_) => Rows::default(),
        }
    }

    /// Waits until the table holds `n` rows.
    pub async fn wait_for_rows(&self, n: i64, timeout: Duration) -> Rows {
        eventually(&format!("{n} rows in {}", self.database), timeout, || async {
            let rows = self.rows().await;
            if rows.count == n { Ok(rows) } else { Err(format!("{rows:?}")) }
        })
        .await
    }

    /// Waits until the table holds at least `n` rows.
    pub async fn wait_for_rows_at_least(&self, n: i64, timeout: Duration) -> Rows {
        eventually(&format!("at least {n} rows in {}", self.database), timeout, || async {
            let rows = self.rows().await;
            if rows.count >= n { Ok(rows) } else { Err(format!("{rows:?}")) }
        })
        .await
    }

    /// `processed_by` values per partition, from the rows.
    pub async fn writers_per_partition(&self) -> BTreeMap<i32, Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT kafka_partition, processed_by FROM orders ORDER BY 1, 2")
            .fetch_all(&self.pool)
            .await
            .expect("writers per partition");
        let mut map: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for r in rows {
            map.entry(r.get::<i32, _>(0)).or_default().push(r.get(1));
        }
        map
    }

    /// The harness's view of this scenario as `group` sees it.
    fn world(&self, group: &str) -> World {
        World::new(&bootstrap(), &self.topic, &self.dlq_topic, group, &self.database_url).expect("harness view")
    }

    /// Log-end offset of each partition of the topic.
    pub fn log_end_offsets(&self) -> Vec<i64> {
        self.world(&format!("{}-inspector", self.topic)).log_end(&self.topic, self.partitions).expect("watermarks")
    }

    /// The scenario group's committed offset of each partition (-1 where nothing is committed).
    pub fn committed_offsets(&self) -> Vec<i64> {
        self.committed_offsets_of(&self.group)
    }

    /// A group's committed offset of each partition of the scenario's topic.
    pub fn committed_offsets_of(&self, group: &str) -> Vec<i64> {
        self.world(group).committed(self.partitions).expect("committed offsets")
    }

    /// Commits `offsets` (one per partition) for the scenario's group, as a member that stopped would have left
    /// them; the group must have no member.
    pub fn set_committed_offsets(&self, offsets: &[i64]) {
        let c = self.plain_consumer(Some(&self.group));
        let mut tpl = TopicPartitionList::new();
        for (p, o) in offsets.iter().enumerate() {
            tpl.add_partition_offset(&self.topic, p as i32, Offset::Offset(*o)).expect("tpl");
        }
        c.commit(&tpl, rdkafka::consumer::CommitMode::Sync).expect("commit the group's offsets");
    }

    /// Waits until every partition's committed offset equals its log-end offset.
    pub async fn wait_committed_equals_log_end(&self, timeout: Duration) -> Vec<i64> {
        self.wait_group_caught_up(&self.group, timeout).await
    }

    /// Waits until `group` has committed the log-end offset of every partition.
    pub async fn wait_group_caught_up(&self, group: &str, timeout: Duration) -> Vec<i64> {
        eventually(&format!("{group}: committed offsets = log-end offsets"), timeout, || async {
            let (committed, end) = (self.committed_offsets_of(group), self.log_end_offsets());
            if committed == end { Ok(end) } else { Err(format!("committed {committed:?}, log end {end:?}")) }
        })
        .await
    }

    /// Every record in the dead-letter topic, with its headers.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        let c = self.plain_consumer(None);
        let (_, high) = c.fetch_watermarks(&self.dlq_topic, 0, Duration::from_secs(10)).expect("dlq watermarks");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.dlq_topic, 0, Offset::Beginning).expect("tpl");
        c.assign(&tpl).expect("assign dlq");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while (out.len() as i64) < high && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                let mut headers = HashMap::new();
                if let Some(h) = m.headers() {
                    for header in h.iter() {
                        headers.insert(
                            header.key.to_owned(),
                            String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                out.push(DeadLetter {
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
        }
        assert_eq!(out.len() as i64, high, "read the whole dead-letter topic");
        out
    }

    /// Number of records in the dead-letter topic.
    pub fn dead_letter_count(&self) -> i64 {
        let c = self.plain_consumer(None);
        match c.fetch_watermarks(&self.dlq_topic, 0, Duration::from_secs(10)) {
            Ok((low, high)) => high - low,
            Err(_) => 0,
        }
    }

    /// The fault suite's check, after the producer finished with `acked` orders: every order is a row or a dead
    /// letter, no order is stored twice, the group committed the log-end offset of every partition, and the group
    /// has `members` members each partition owned by exactly one of them.
    pub async fn reconcile(&self, acked: u64, members: usize) -> Reconciled {
        let acked = acked as i64;
        let (rows, dead_letters) = eventually("rows + dead letters = acked", TIMEOUT, || async {
            let (rows, dead) = (self.rows().await, self.dead_letter_count());
            if rows.count + dead == acked { Ok((rows, dead)) } else { Err(format!("{rows:?} + {dead} dead letters")) }
        })
        .await;
        assert_eq!(rows.distinct, rows.count, "0 duplicate rows");
        let log_end = self.wait_committed_equals_log_end(TIMEOUT).await;
        let members = self
            .wait_for_assignment(members, |m| {
                let mut owned: Vec<i32> = m.iter().flat_map(|x| x.partitions.iter().copied()).collect();
                owned.sort_unstable();
                owned == (0..self.partitions).collect::<Vec<_>>()
            })
            .await;
        Reconciled { rows: rows.count, dead_letters, log_end: log_end.iter().sum(), members }
    }

    /// The group's offsets stored in Postgres (`OFFSET_STORE=postgres`), per partition (-1 where none is stored).
    pub async fn stored_offsets(&self) -> Vec<i64> {
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT kafka_partition, next_offset FROM consumer_offsets WHERE group_id = $1 AND topic = $2",
        )
        .bind(&self.group)
        .bind(&self.topic)
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default();
        let stored: BTreeMap<i32, i64> = rows.into_iter().collect();
        (0..self.partitions).map(|p| stored.get(&p).copied().unwrap_or(-1)).collect()
    }

    /// Grows the scenario's topic to `total` partitions.
    pub async fn add_partitions(&mut self, total: i32) {
        let admin = self.admin();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let result = admin.create_partitions(&[NewPartitions::new(&self.topic, total as usize)], &opts).await;
        for r in result.expect("create partitions") {
            r.unwrap_or_else(|(t, e)| panic!("grow {t}: {e}"));
        }
        self.partitions = total;
    }

    /// Deletes the dead-letter topic and waits until the broker no longer lists it.
    pub async fn delete_dead_letter_topic(&self) {
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for r in self.admin().delete_topics(&[&self.dlq_topic], &opts).await.expect("delete dlq topic") {
            r.unwrap_or_else(|(t, e)| panic!("delete {t}: {e}"));
        }
        eventually("dead-letter topic gone", TIMEOUT, || async {
            let c = self.plain_consumer(None);
            match c.fetch_metadata(Some(&self.dlq_topic), Duration::from_secs(5)) {
                Ok(m) if m.topics().iter().all(|t| t.error().is_some()) => Ok(()),
                other => Err(format!("{:?}", other.map(|m| m.topics().len()))),
            }
        })
        .await;
    }

    /// Creates the dead-letter topic (again).
    pub async fn create_dead_letter_topic(&self) {
        let inspector = self.plain_consumer(None);
        harness::stack::create_topic(&self.admin(), &inspector, &self.dlq_topic, 1, self.replication)
            .await
            .expect("create dlq topic");
    }

    fn admin(&self) -> AdminClient<DefaultClientContext> {
        ClientConfig::new().set("bootstrap.servers", bootstrap()).create().expect("admin client")
    }

    /// Members of the group and the partitions each is assigned, as the broker's group coordinator sees them.
    pub fn group_members(&self) -> Result<Vec<Member>, String> {
        let view = self.world(&self.group).group().map_err(|e| format!("{e:#}"))?;
        if view.state != "Stable" {
            return Err(format!("group state {}", view.state));
        }
        Ok(view.members)
    }

    /// Waits until the group is stable with `members` members whose assignments satisfy `check`.
    pub async fn wait_for_assignment(&self, members: usize, check: impl Fn(&[Member]) -> bool) -> Vec<Member> {
        eventually("group assignment", TIMEOUT, || async {
            let m = self.group_members()?;
            if m.len() == members && check(&m) { Ok(m) } else { Err(format!("{m:?}")) }
        })
        .await
    }

    fn plain_consumer(&self, group: Option<&str>) -> BaseConsumer {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap()).set("enable.auto.commit", "false");
        config.set("group.id", group.map(str::to_owned).unwrap_or_else(|| format!("{}-inspector", self.topic)));
        config.create().expect("inspection consumer")
    }

    /// Drops the scenario's database (kept when the test failed before reaching this point).
    pub async fn cleanup(self) {
        self.pool.close().await;
        if let Ok(admin) = PgPoolOptions::new().max_connections(1).connect(&admin_database_url()).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database))
                .execute(&admin)
                .await;
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub count: i64,
    pub distinct: i64,
    pub consumers: i64,
}

/// What [`Scenario::reconcile`] found.
#[derive(Debug)]
pub struct Reconciled {
    pub rows: i64,
    pub dead_letters: i64,
    /// Sum of the partitions' log-end offsets: every message in the topic.
    pub log_end: i64,
    pub members: Vec<Member>,
}

#[derive(Debug)]
pub struct DeadLetter {
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: HashMap<String, String>,
}

/// A running `order-consumer` process.
pub struct ConsumerProcess {
    pub label: String,
    process: Process,
    pub log_path: PathBuf,
    /// Where the process writes its metrics server's address (`METRICS_ADDR_FILE`).
    pub metrics_addr_file: PathBuf,
}

impl ConsumerProcess {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the process is still running.
    pub fn wait_alive(&mut self) -> bool {
        matches!(self.process.try_exit(), Ok(None))
    }

    /// Sends SIGTERM, as `docker stop` or `kill` would.
    pub fn terminate(&self) {
        self.process.signal_term().expect("SIGTERM");
    }

    /// SIGKILL: no chance to commit or leave the group.
    pub async fn kill(&mut self) {
        self.process.kill().await.expect("SIGKILL");
    }

    /// Waits for the process to exit; returns its exit code (none when a signal ended it).
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let exit = self.process.wait(timeout).await.expect("wait");
        let exit = exit.unwrap_or_else(|| {
            panic!("{} did not exit within {timeout:?}; log: {}", self.label, self.log_path.display())
        });
        exit.code()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The address of the process's `/metrics` server, once it listens.
    pub async fn metrics_addr(&self) -> String {
        scrape::metrics_addr(&self.metrics_addr_file).await
    }

    /// The full client id the consumer logged at start (`{label}-{hostname}-{uuid8}`).
    pub async fn client_id(&self) -> String {
        eventually(&format!("{} logs its client id", self.label), TIMEOUT, || async {
            let log = self.log();
            log.split("client_id=")
                .nth(1)
                .and_then(|rest| rest.split(['}', ' ', ':']).next())
                .map(str::to_owned)
                .ok_or_else(|| "no client id yet".to_owned())
        })
        .await
    }

    /// A counter from the `consumer_stopping` line the consumer logs at a clean exit (e.g. `consumed`).
    pub fn exit_stat(&self, field: &str) -> Option<u64> {
        let log = self.log();
        let line = log.lines().find(|l| l.contains("event=\"consumer_stopping\""))?;
        let value = line.split(&format!(" {field}=")).nth(1)?;
        value.split(' ').next()?.parse().ok()
    }

    /// The sum of `field` over the log's lines of `event` (e.g. `already_stored`, `orders`). Unlike
    /// [`ConsumerProcess::exit_stat`] it also counts what a process logged before it was killed.
    pub fn sum_logged(&self, event: &str, field: &str) -> u64 {
        let tag = format!("event=\"{event}\"");
        self.log()
            .lines()
            .filter(|l| l.contains(&tag))
            .filter_map(|l| l.split(&format!(" {field}=")).nth(1)?.split(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// How many lines of the log contain `needle`.
    pub fn count_in_log(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until the log contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) {
        eventually(&format!("{} logs '{needle}'", self.label), timeout, || async {
            if self.log().contains(needle) { Ok(()) } else { Err(self.log_path.display().to_string()) }
        })
        .await
    }
}

/// Runs one of the stack's scripts (e.g. `scripts/stack.sh postgres-stop`) and asserts it succeeded.
pub fn stack_command(args: &[&str]) {
    let status =
        std::process::Command::new(repo_root().join("scripts/stack.sh")).args(args).status().expect("stack.sh");
    assert!(status.success(), "scripts/stack.sh {args:?} failed");
}
