//! The running stack as the benchmark and the soak set it up: topics through Kafka's admin API, databases of their
//! own beside the stack's, dropped again without privileges beyond owning them, and the machine they ran on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use shared::database::Database;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::consumers::ConsumerEnv;
use crate::consumers::members::Members;

/// The broker and the database server of one run, and the folders it reads from.
pub struct Stack {
    /// The repository: `target/release/` holds the binaries, `results/` what runs write.
    pub root: PathBuf,
    pub bootstrap: String,
    /// The stack's own database, as its owner (`kafka_user`); the runs' databases are created beside it.
    pub database: Database,
    /// Replicas of every topic created: 1, or 3 on the cluster (`REPLICATION_FACTOR`, scripts/lib/common.sh).
    pub replicas: i32,
    admin: AdminClient<DefaultClientContext>,
    inspector: BaseConsumer,
    pub pool: PgPool,
}

impl Stack {
    /// Connects to the broker's admin API and to the stack's database.
    ///
    /// # Errors
    /// When Postgres does not answer, or a Kafka client cannot be created.
    pub async fn connect(root: &Path, bootstrap: &str, database: Database) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new().max_connections(2).connect(database.url.expose()).await.with_context(|| {
            format!("cannot reach Postgres at {}: start the local stack (scripts/stack.sh up)", database.redacted())
        })?;
        let replicas = match std::env::var("REPLICATION_FACTOR") {
            Ok(value) => value.parse().with_context(|| format!("REPLICATION_FACTOR '{value}' is not a number"))?,
            Err(_) => 1,
        };
        let config = || {
            let mut c = ClientConfig::new();
            c.set("bootstrap.servers", bootstrap);
            c
        };
        Ok(Self {
            root: root.to_owned(),
            bootstrap: bootstrap.to_owned(),
            database,
            replicas,
            admin: config().create().context("Kafka admin client")?,
            inspector: config().create().context("Kafka metadata client")?,
            pool,
        })
    }

    /// A binary of `cargo build --release`.
    pub fn binary(&self, name: &str) -> PathBuf {
        crate::repo::Repo { root: self.root.clone() }.binary(name)
    }

    /// Creates `topic` unless it exists, and waits until every partition has a leader.
    ///
    /// # Errors
    /// When the broker refuses or does not answer, or leaders do not show within 30 s.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        create_topic(&self.admin, &self.inspector, topic, partitions, self.replicas).await
    }

    /// The URL of database `name` on the stack's server, as its owner (it carries the password: for a client).
    pub fn url_of(&self, name: &str) -> String {
        self.database.url_beside(name)
    }

    /// Creates database `name` and returns a pool to it.
    ///
    /// # Errors
    /// When the name is not a plain identifier or Postgres refuses.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<PgPool> {
        let name = identifier(name)?;
        eprintln!("$ psql -c 'CREATE DATABASE {name}'");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&self.pool)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        self.pool_of(name).await
    }

    /// A pool to database `name`.
    ///
    /// # Errors
    /// When it cannot be reached.
    pub async fn pool_of(&self, name: &str) -> anyhow::Result<PgPool> {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url_of(name))
            .await
            .with_context(|| format!("cannot connect to database {name}"))
    }

    /// `CHECKPOINT`: the run before wrote up to millions of rows; they are flushed now rather than in a checkpoint
    /// in the middle of the next run. Warns when refused (it needs `pg_checkpoint`).
    pub async fn checkpoint(&self) {
        if let Err(error) = sqlx::query("CHECKPOINT").execute(&self.pool).await {
            eprintln!("warning: CHECKPOINT refused ({error}); a run may include one");
        }
    }

    /// [`drop_database`] on the stack's server.
    ///
    /// # Errors
    /// As [`drop_database`].
    pub async fn drop_database(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        drop_database(&self.pool, name, timeout).await
    }

    /// Deletes `topics` (a run's own, once measured: a topic of a million orders takes disk the next runs need).
    /// Warns when the broker refuses.
    pub async fn delete_topics(&self, topics: &[&str]) {
        eprintln!("==> delete topic(s) {}", topics.join(", "));
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        match tokio::time::timeout(Duration::from_secs(15), self.admin.delete_topics(topics, &opts)).await {
            Ok(Ok(results)) => {
                for result in results {
                    if let Err((topic, error)) = result {
                        eprintln!("warning: cannot delete topic {topic}: {error}");
                    }
                }
            }
            Ok(Err(error)) => eprintln!("warning: cannot delete topics {topics:?}: {error}"),
            Err(_) => eprintln!("warning: the broker did not answer the deletion of {topics:?} within 15 s"),
        }
    }

    /// Drops every database whose name starts with `prefix` (a run's own, once every process that used them has
    /// exited), each within `timeout`; a database that cannot be dropped is named in a warning.
    pub async fn drop_databases_like(&self, prefix: &str, timeout: Duration) {
        let databases = match self.databases_like(prefix).await {
            Ok(databases) => databases,
            Err(error) => return eprintln!("warning: cannot list the databases {prefix}*: {error:#}"),
        };
        for database in databases {
            if let Err(error) = self.drop_database(&database, timeout).await {
                eprintln!("warning: {error:#}");
            }
        }
    }

    /// `n` release consumers of `topic` in group `group` storing into database `database` beside the stack's,
    /// dead letters to `{topic}-dlq` (created first), each told `env` on top, their logs in `logs`; named
    /// `{group}-c{slot}-i{incarnation}` ([`Members`]).
    ///
    /// # Errors
    /// When the dead-letter topic cannot be created, the folder cannot be, or a consumer cannot be started.
    pub async fn start_consumers(
        &self,
        group: &str,
        n: usize,
        topic: &str,
        database: &str,
        logs: PathBuf,
        env: &ConsumerEnv,
    ) -> anyhow::Result<Members> {
        self.create_topic(&format!("{topic}-dlq"), 1).await?;
        let shared = ConsumerEnv::new(&self.bootstrap, topic, group, &self.url_of(database));
        std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
        let mut members = Members::new(&crate::repo::Repo { root: self.root.clone() }, shared, logs, group, false);
        for slot in 1..=n {
            members.start_with(slot, env)?;
        }
        Ok(members)
    }

    /// The databases whose names start with `prefix`.
    ///
    /// # Errors
    /// When Postgres does not answer.
    pub async fn databases_like(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1")
            .bind(prefix)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The machine and the versions a measurement ran on, as `machine.*` keys of a results file.
    ///
    /// # Errors
    /// When Postgres does not answer.
    pub async fn machine(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let host = Host::read();
        let postgres: String = sqlx::query_scalar("SHOW server_version").fetch_one(&self.pool).await?;
        let lock = std::fs::read_to_string(self.root.join("Cargo.lock")).unwrap_or_default();
        // The rdkafka-sys crate's version names the librdkafka it bundles (`4.8.0+2.3.0`).
        let librdkafka = lock
            .split("\n[[package]]\n")
            .find(|p| p.starts_with("name = \"rdkafka-sys\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
            .map(|v| v.trim_end_matches('"').to_owned())
            .unwrap_or_default();
        Ok(vec![
            ("machine.cores", host.cores.to_string()),
            ("machine.memory_kib", host.memory_kib.to_string()),
            ("machine.cpu", host.cpu),
            ("machine.kafka", std::env::var("KAFKA_VERSION_PIN").unwrap_or_else(|_| "unknown".to_owned())),
            ("machine.postgres", postgres.split_whitespace().next().unwrap_or_default().to_owned()),
            ("machine.librdkafka", librdkafka),
        ])
    }
}

/// The machine a measurement runs on, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Cores this process may use.
    pub cores: usize,
    /// `MemTotal` of `/proc/meminfo` (0 where it cannot be read).
    pub memory_kib: u64,
    /// The first `model name` of `/proc/cpuinfo`.
    pub cpu: String,
}

impl Host {
    pub fn read() -> Self {
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
            .unwrap_or_default();
        Self { cores: std::thread::available_parallelism().map_or(0, |n| n.get()), memory_kib, cpu }
    }
}

/// Drops database `name` (through `pool`, as its owner) once nothing uses it, retrying for up to `timeout` while
/// sessions close (stop the processes that use it first). A plain `DROP DATABASE`, not `WITH (FORCE)`: Postgres ends the autovacuum
/// workers in the database itself, whereas FORCE must terminate them and refuses (they belong to no role, so
/// only a superuser or a member of `pg_signal_backend` may). After `timeout` the error names who still uses it.
///
/// # Errors
/// When the database is still in use after `timeout`, or the name is not a plain identifier.
pub async fn drop_database(pool: &PgPool, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let name = identifier(name)?;
    eprintln!("$ psql -c 'DROP DATABASE IF EXISTS {name}'");
    let deadline = Instant::now() + timeout;
    loop {
        let error = match sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(pool).await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if Instant::now() >= deadline {
            let who: Option<String> = sqlx::query_scalar(
                "SELECT string_agg(coalesce(usename, '-') || ' ' || backend_type || ' (pid ' || pid || ')', ', ')
                   FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(name)
            .fetch_one(pool)
            .await
            .unwrap_or_default();
            bail!(
                "database {name} not dropped after {timeout:?} ({error}); using it now: {}",
                who.as_deref().unwrap_or("nobody")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `name`, when it is a plain lower-case identifier that needs no quoting (databases are named by the harness).
fn identifier(name: &str) -> anyhow::Result<&str> {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        bail!("'{name}' is not a plain database name (lower-case letters, digits and _)");
    }
    Ok(name)
}

/// Creates `topic` with `partitions` partitions and `replicas` replicas (`min.insync.replicas` a majority) unless
/// it exists, then waits until the metadata shows every partition with a leader: created is not yet known
/// everywhere.
///
/// # Errors
/// When the broker refuses or does not answer, or leaders do not show within 30 s.
pub async fn create_topic(
    admin: &AdminClient<DefaultClientContext>,
    inspector: &BaseConsumer,
    topic: &str,
    partitions: i32,
    replicas: i32,
) -> anyhow::Result<()> {
    eprintln!("==> topic {topic}: {partitions} partition(s), {replicas} replica(s)");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let min_insync = (replicas / 2 + 1).to_string();
    let new =
        NewTopic::new(topic, partitions, TopicReplication::Fixed(replicas)).set("min.insync.replicas", &min_insync);
    let created = tokio::time::timeout(Duration::from_secs(15), admin.create_topics(&[new], &opts))
        .await
        .context("the broker does not answer: start the stack with scripts/stack.sh up")??;
    for result in created {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => bail!("cannot create {t}: {e}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let led = inspector.fetch_metadata(Some(topic), Duration::from_secs(5)).is_ok_and(|m| {
            m.topics().iter().any(|t| {
                t.name() == topic
                    && t.error().is_none()
                    && t.partitions().len() >= partitions as usize
                    && t.partitions().iter().all(|p| p.leader() >= 0)
            })
        });
        if led {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{topic}: not every partition has a leader 30 s after its creation");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_reach_the_sql() {
        assert_eq!(identifier("bench_1764_group1").unwrap(), "bench_1764_group1");
        for bad in ["", "Bench", "a-b", "x\"; DROP TABLE orders; --", "1abc"] {
            assert!(identifier(bad).is_err(), "{bad}");
        }
    }
}
