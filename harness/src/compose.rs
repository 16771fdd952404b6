//! The compose stack (`docker-compose.yml`) driven and read the way its user would: the compose CLI the machine
//! has, Kafka's own tools inside the Kafka container (`kafka-consumer-groups`, `kafka-get-offsets`), `psql` inside
//! the Postgres container, `docker inspect` and `docker cp` for containers. Every command a caller asks to see is
//! printed as it would be typed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::group::Member;

/// The compose CLI and the stack's services, reached the way the README shows.
#[derive(Debug, Clone)]
pub struct Compose {
    /// The command line up to the subcommand: `docker compose -f …/docker-compose.yml` or `docker-compose -f …`.
    pub cli: Vec<String>,
    pub root: PathBuf,
    /// Variables given to every compose command (`PRODUCER_RATE`, `TOPIC_PARTITIONS`).
    pub env: Vec<(String, String)>,
}

/// `kafka-consumer-groups` arguments for the members of the group and their partitions.
const MEMBERS_ARGS: [&str; 5] = ["--describe", "--group", shared::CONSUMER_GROUP, "--members", "--verbose"];

/// The compose arguments that run `script` (one of Kafka's tools) in the Kafka container against the internal
/// listener.
fn kafka_exec<'a>(script: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    [&["exec", "-T", "kafka", script, "--bootstrap-server", "kafka:19092"], args].concat()
}

impl Compose {
    /// The stack in `root`, driven by `COMPOSE_CLI` when set (`docker compose` or `docker-compose`), else by
    /// `docker compose` when the plugin is there, else by `docker-compose` (scripts/lib/common.sh chooses the same
    /// way).
    ///
    /// # Errors
    /// When no compose CLI is available or `COMPOSE_CLI` is empty.
    pub fn find(root: &Path, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        let cli = match std::env::var("COMPOSE_CLI") {
            Ok(cli) if cli.trim().is_empty() => {
                bail!("COMPOSE_CLI is empty; set it to 'docker compose' or 'docker-compose'")
            }
            Ok(cli) => cli,
            Err(_) if succeeds("docker", &["compose", "version"]) => "docker compose".to_owned(),
            Err(_) if succeeds("docker-compose", &["version"]) => "docker-compose".to_owned(),
            Err(_) => bail!("neither 'docker compose' nor 'docker-compose' is available; use --stack local"),
        };
        Ok(Self::with_cli(root, &cli, env))
    }

    /// The stack in `root` through `cli` (`docker compose` or `docker-compose`), whatever `COMPOSE_CLI` says.
    pub fn with_cli(root: &Path, cli: &str, env: Vec<(String, String)>) -> Self {
        let mut words: Vec<String> = cli.split_whitespace().map(str::to_owned).collect();
        words.extend(["-f".to_owned(), root.join("docker-compose.yml").display().to_string()]);
        Self { cli: words, root: root.to_owned(), env }
    }

    /// The same stack with `file` (a path from the repository's root) laid over docker-compose.yml.
    #[must_use]
    pub fn with_file(mut self, file: &str) -> Self {
        self.cli.extend(["-f".to_owned(), self.root.join(file).display().to_string()]);
        self
    }

    /// The CLI without its files: `docker compose` or `docker-compose`.
    pub fn name(&self) -> String {
        self.cli.iter().take_while(|a| *a != "-f").cloned().collect::<Vec<_>>().join(" ")
    }

    /// Whether this is Compose v2 (the `docker compose` plugin).
    pub fn is_v2(&self) -> bool {
        self.cli[0] == "docker"
    }

    /// Prints the command line of `args` the way a user would type it.
    pub fn show(&self, args: &[&str]) {
        let env: String = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        eprintln!("$ {env}{} {}", self.cli.join(" "), args.join(" "));
    }

    /// The compose command with `args`, in the project's directory, with [`Compose::env`]; printed first when
    /// `print`.
    pub fn command(&self, args: &[&str], print: bool) -> Command {
        if print {
            self.show(args);
        }
        let mut command = Command::new(&self.cli[0]);
        command
            .args(&self.cli[1..])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.root)
            .stdin(Stdio::null());
        command
    }

    /// Runs a compose command and returns its standard output.
    ///
    /// # Errors
    /// When it fails (with its standard error).
    pub async fn output(&self, args: &[&str], print: bool) -> anyhow::Result<String> {
        stdout_of(self.command(args, print), &format!("{} {}", self.cli.join(" "), args.join(" "))).await
    }

    /// Runs a compose command, printing it, its output passing through.
    ///
    /// # Errors
    /// When it cannot be run or fails.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = self.command(args, true).status().await?;
        if !status.success() {
            bail!("{} {} failed ({status})", self.cli.join(" "), args.join(" "));
        }
        Ok(())
    }

    /// One of Kafka's tools inside the Kafka container, against the internal listener, quietly.
    ///
    /// # Errors
    /// When the tool fails.
    pub async fn kafka_tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<String> {
        let script = format!("/opt/kafka/bin/{tool}.sh");
        self.output(&kafka_exec(&script, args), false).await
    }

    /// The group's members from `kafka-consumer-groups --describe --members --verbose`, and that tool's table, so
    /// that the view a check was made on is the one [`Compose::print_members`] prints; `None` while it cannot tell.
    pub async fn members(&self) -> Option<(Vec<Member>, String)> {
        let text = self.kafka_tool("kafka-consumer-groups", &MEMBERS_ARGS).await.ok()?;
        Some((parse_members(&text, shared::ORDERS_TOPIC)?, text))
    }

    /// Prints a table [`Compose::members`] returned, under the command that produced it.
    pub fn print_members(&self, table: &str) {
        self.show(&kafka_exec("/opt/kafka/bin/kafka-consumer-groups.sh", &MEMBERS_ARGS));
        eprint!("{table}");
    }

    /// Committed (`None` without one) and log-end offset of each partition of the orders topic; empty while the
    /// tool cannot tell.
    pub async fn offsets(&self) -> BTreeMap<i32, (Option<i64>, i64)> {
        let args = ["--describe", "--group", shared::CONSUMER_GROUP, "--offsets"];
        let text = self.kafka_tool("kafka-consumer-groups", &args).await.unwrap_or_default();
        parse_offsets(&text, shared::ORDERS_TOPIC)
    }

    /// Records in the dead-letter topic (the sum of its log-end offsets).
    ///
    /// # Errors
    /// When `kafka-get-offsets` fails.
    pub async fn dead_letters(&self) -> anyhow::Result<i64> {
        let text = self.kafka_tool("kafka-get-offsets", &["--topic", shared::DLQ_TOPIC]).await?;
        Ok(text.lines().filter_map(|l| l.rsplit(':').next()?.trim().parse::<i64>().ok()).sum())
    }

    /// A query through psql in the Postgres container, as the seed's README runs it; printed with its result when
    /// `print`.
    ///
    /// # Errors
    /// When psql fails.
    pub async fn psql(&self, sql: &str, print: bool) -> anyhow::Result<String> {
        let args = ["exec", "-T", "postgres", "psql", "-U", "kafka_user", "-d", "food_orders", "-c", sql];
        let text = self.output(&args, print).await?;
        if print {
            eprint!("{text}");
        }
        Ok(text)
    }

    /// Rows in `orders` (the seed's view of the table), `None` while psql cannot answer.
    pub async fn rows(&self) -> Option<i64> {
        let text = self.psql("SELECT COUNT(*) FROM orders;", false).await.ok()?;
        psql_number(&text)
    }

    /// Ids of the running containers of `service`.
    ///
    /// # Errors
    /// When `ps` fails.
    pub async fn containers(&self, service: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.output(&["ps", "-q", service], false).await?.split_whitespace().map(str::to_owned).collect())
    }

    /// Copies `path` out of the one container of `service` (running or stopped) to `dest`, printing the command.
    /// `docker cp`, since Compose v1 has no `cp`.
    ///
    /// # Errors
    /// When there is not exactly one container of `service`, or the copy fails (`path` is missing).
    pub async fn copy_out(&self, service: &str, path: &str, dest: &Path) -> anyhow::Result<()> {
        let ids = self.output(&["ps", "-a", "-q", service], false).await?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        let [id] = ids.as_slice() else {
            bail!("expected one {service} container, found {}: {ids:?}", ids.len());
        };
        let source = format!("{id}:{path}");
        eprintln!("$ docker cp {source} {}", dest.display());
        docker(&["cp", &source, &dest.display().to_string()]).await.map(drop)
    }
}

/// Runs `docker` with `args` and returns its trimmed standard output.
///
/// # Errors
/// When it fails (with its standard error).
pub async fn docker(args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new("docker");
    command.args(args).stdin(Stdio::null());
    Ok(stdout_of(command, &format!("docker {}", args.join(" "))).await?.trim().to_owned())
}

/// Whether `program args` runs and exits 0.
fn succeeds(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program).args(args).output().is_ok_and(|o| o.status.success())
}

/// Runs `command` and returns its standard output; fails with its standard error when it fails. `what` names the
/// command in the error.
async fn stdout_of(mut command: Command, what: &str) -> anyhow::Result<String> {
    let out = command.output().await.with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Parses `kafka-consumer-groups --describe --members --verbose`: `None` while the group is rebalancing or the
/// output has no member table, else every member with its partitions of `topic`.
pub fn parse_members(text: &str, topic: &str) -> Option<Vec<Member>> {
    if text.contains("is rebalancing") {
        return None;
    }
    if text.contains("has no active members") {
        return Some(Vec::new());
    }
    let mut lines = text.lines().skip_while(|l| !l.starts_with("GROUP "));
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let client = header.iter().position(|h| *h == "CLIENT-ID")?;
    // Kafka 4 prints CURRENT-ASSIGNMENT as `topic:0,1`; older versions print ASSIGNMENT as `topic(0,1)`.
    let assignment = header.iter().position(|h| *h == "CURRENT-ASSIGNMENT" || *h == "ASSIGNMENT")?;
    let members = lines
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let partitions = fields
                .get(assignment)?
                .split(';')
                .filter_map(|t| {
                    let list = t.strip_prefix(topic)?;
                    list.strip_prefix(':').or_else(|| list.strip_prefix('(')?.strip_suffix(')'))
                })
                .flat_map(|list| list.split(',').filter_map(|p| p.trim().parse().ok()))
                .collect();
            Some(Member { client_id: fields.get(client)?.to_string(), partitions })
        })
        .collect();
    Some(members)
}

/// Committed offset (`None` when the group has none) and log-end offset of each partition of `topic`, from
/// `kafka-consumer-groups --describe --offsets`.
pub fn parse_offsets(text: &str, topic: &str) -> BTreeMap<i32, (Option<i64>, i64)> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("GROUP "));
    let Some(header) = lines.next() else { return BTreeMap::new() };
    let header: Vec<&str> = header.split_whitespace().collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(t), Some(p), Some(c), Some(e)) =
        (col("TOPIC"), col("PARTITION"), col("CURRENT-OFFSET"), col("LOG-END-OFFSET"))
    else {
        return BTreeMap::new();
    };
    lines
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(t)? != &topic {
                return None;
            }
            Some((f.get(p)?.parse().ok()?, (f.get(c)?.parse().ok(), f.get(e)?.parse().ok()?)))
        })
        .collect()
}

/// The single number of a `psql -c` result table.
pub fn psql_number(text: &str) -> Option<i64> {
    text.lines().filter_map(|l| l.trim().parse().ok()).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMBERS: &str = "\nGROUP            CONSUMER-ID                                           HOST            CLIENT-ID                           #PARTITIONS     ASSIGNMENT\n\
order-processors order-consumer-a1-5f2e-4c1b-9d0e-1a2b3c4d5e6f /172.18.0.6     order-consumer-a1b2c3d4e5f6-1a2b3c4d 2               food-orders(0,2)\n\
order-processors order-consumer-b2-5f2e-4c1b-9d0e-1a2b3c4d5e6f /172.18.0.7     order-consumer-b2c3d4e5f6a1-2b3c4d5e 0               -\n";

    #[test]
    fn members_with_their_partitions() {
        let members = parse_members(MEMBERS, "food-orders").expect("a table");
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].client_id, "order-consumer-a1b2c3d4e5f6-1a2b3c4d");
        assert_eq!(members[0].partitions, vec![0, 2]);
        assert!(members[1].partitions.is_empty());
    }

    #[test]
    fn members_as_kafka_4_prints_them() {
        let text = "\nGROUP            CONSUMER-ID        HOST            CLIENT-ID            #PARTITIONS     CURRENT-EPOCH   CURRENT-ASSIGNMENT   TARGET-EPOCH    TARGET-ASSIGNMENT\n\
order-processors order-consumer-x-1 /172.18.0.7     order-consumer-x     3               -               food-orders:0,1,2    -               -\n\
order-processors order-consumer-y-1 /172.18.0.6     order-consumer-y     0               -               -                    -               -\n";
        let members = parse_members(text, "food-orders").expect("a table");
        assert_eq!(members[0], Member { client_id: "order-consumer-x".into(), partitions: vec![0, 1, 2] });
        assert!(members[1].partitions.is_empty());
    }

    #[test]
    fn a_rebalancing_group_is_not_a_state() {
        assert_eq!(parse_members("\nConsumer group 'order-processors' is rebalancing.\n", "food-orders"), None);
        assert_eq!(
            parse_members("\nConsumer group 'order-processors' has no active members.\n", "food-orders"),
            Some(vec![])
        );
        assert_eq!(parse_members("Error: Executing consumer group command failed", "food-orders"), None);
    }

    #[test]
    fn offsets_per_partition() {
        let text = "\nGROUP            TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\n\
order-processors food-orders     0          120             125             5               c1              /1.2.3.4        x\n\
order-processors food-orders     1          -               7               -               -               -               -\n\
order-processors other           0          1               1               0               -               -               -\n";
        let offsets = parse_offsets(text, "food-orders");
        assert_eq!(offsets.len(), 2);
        assert_eq!(offsets[&0], (Some(120), 125));
        assert_eq!(offsets[&1], (None, 7));
    }

    #[test]
    fn psql_count() {
        assert_eq!(psql_number(" count \n-------\n 41186\n(1 row)\n"), Some(41186));
    }
}
