//! `lab`'s command line: a subcommand per tool, each handing its options to the tool's own `run`. A tool's verdict
//! (a failed check, a lost order) is an error here, so `lab` exits non-zero.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use harness::compose::Compose;
use harness::consumers::ConsumerEnv;
use harness::consumers::fleet::Fleet;
use harness::repo::Repo;
use harness::wait::wait_for;
use harness::world::World;
use sqlx::postgres::PgPoolOptions;

use crate::{autoscale_demo, bench, compose_scenario, compose_test, experiment, measure, rebalance, replication, soak};

#[derive(Debug, clap::Parser)]
#[command(
    name = "lab",
    about = "The tools around the pipeline: the experiment, the benchmarks, the soak, the scenarios."
)]
pub enum Command {
    /// The scaling experiment: a producer at a set rate while the group goes through six phases (1 partition and
    /// 3 consumers; partitions raised to 3; scale to 5; an owner SIGKILLed; scale to 1; drain and reconcile), then
    /// the scaling efficiency with 1, 2 and 3 consumers. Writes results/experiment-<time>/ (report.md,
    /// report.json, timeline.svg); fails when an expectation fails.
    Experiment(experiment::settings::Settings),
    /// Every benchmark run on the local stack (nothing else should load the machine): writes
    /// results/bench-<time>/ (results.txt, bench.json, report.md, the logs).
    Bench(bench::run::BenchArgs),
    /// Pushes orders through a topic, group and database of its own on the local stack while scaling consumers up
    /// and down, raising partitions and SIGKILLing one consumer; then drains and checks: rows + dead letters =
    /// acked orders, 0 duplicate rows, committed = log-end offsets, every partition owned by exactly one member.
    /// Samples each consumer's and the producer's RSS every second. Writes results/soak-<time>/ (docs/soak.md).
    Soak(soak::run::SoakArgs),
    /// Measures the processing gap and the partitions moved when a consumer joins, leaves, restarts or is killed,
    /// for each group protocol and assignor, with and without static membership (docs/rebalancing.md).
    Rebalance(rebalance::settings::BenchSettings),
    /// Runs the seed's scenario through docker-compose.yml and checks it (docs/containers.md).
    ComposeScenario(compose_scenario::ScenarioSettings),
    /// The compose test: a Docker engine of this machine's own (scripts/docker.sh), the seed's scenario with Compose
    /// v2 and v1, then the experiment on a fresh compose stack; `down -v` and the engine stopped at the end
    /// (docs/containers.md). Writes results/compose-test-<time>/.
    ComposeTest(compose_test::ComposeTestSettings),
    /// order-autoscaler shown working: a burst, up to the partition count, back down (docs/kubernetes.md).
    AutoscaleDemo(autoscale_demo::DemoSettings),
    /// Producer throughput with 1 and with 3 replicas, on the three-node cluster (docs/cluster.md).
    Replication(replication::CostSettings),
    /// The stack's consumers (scripts/scale.sh runs this): `N` runs N (starts the difference, or stops the newest:
    /// SIGTERM, each writes, commits and leaves the group); `status` lists them; `count` prints how many run (the
    /// autoscaler reads it); `kill ID` SIGKILLs one (its client id, or a local pid). Local consumers run detached,
    /// tracked in .local/consumers/ (logs, pid files), and inherit this environment (KAFKA_TOPIC, CONSUMER_GROUP,
    /// DATABASE_URL, BATCH_SIZE, PROCESSING_DELAY_MS, ...); compose scales the order-consumer service.
    Scale(Scale),
    /// The scaling lab: a page over the real group, topic and table, with the experiment's steps as buttons
    /// (docs/lab.md). Prints `http://127.0.0.1:8080/?token=...`; every control needs that token.
    Serve(crate::serve::ServeSettings),
    /// The measures the tools are made of, on their own.
    #[command(subcommand)]
    Measure(Measure),
    /// A report written again from what a run recorded.
    #[command(subcommand)]
    Report(Report),
}

#[derive(Debug, clap::Subcommand)]
pub enum Measure {
    /// The longest stall after each event, as `key=value` lines (the format of `results.txt`):
    /// `lab measure stalls --event step1=1764600000.25 --event step2=1764600030.5 --until 1764600090` prints, per
    /// event, the longest stall that ended after it and before the next event (or `--until`), and began after the
    /// event before it: `step1.longest_stall_s=10.93`, `step1.stall_partition=0`.
    Stalls {
        #[command(flatten)]
        database: shared::database::Database,
        /// `label=unix-seconds`, in the order the events happened.
        #[arg(long = "event", value_parser = parse_event, required = true)]
        events: Vec<(String, DateTime<Utc>)>,
        /// Unix seconds: the end of the last event's window.
        #[arg(long, value_parser = parse_time)]
        until: DateTime<Utc>,
    },
    /// Waits until the group has committed every partition of the topic up to its log end and the table holds at
    /// least `--expected` rows (the consumers commit only stored rows, so the first check implies the second
    /// unless orders went to the dead-letter topic). Costs the database nothing while the consumers write: one
    /// count at the end.
    WaitStored(WaitStored),
    /// The scaling lab measured on the local stack (nothing else should load the machine): the pipeline's
    /// throughput with `lab serve` open (one reader on its event stream) and closed, in pairs whose order alternates,
    /// and how long after a +1 click or a SIGKILL the lab shows the new assignment, beside the coordinator itself.
    /// Writes results/lab-page-<time>/ (results.txt, results.json, report.md); a missed target is reported there,
    /// not an error.
    LabPage(crate::serve::bench::LabPageArgs),
    /// Waits until at least `--at-least` members of the group own partitions, as the group coordinator says
    /// (classic and KIP-848 groups alike), and prints each member with its partitions.
    Owners {
        #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
        bootstrap_servers: String,
        #[arg(long, env = "KAFKA_TOPIC", default_value = shared::ORDERS_TOPIC)]
        topic: String,
        #[arg(long, env = "CONSUMER_GROUP", default_value = shared::CONSUMER_GROUP)]
        group: String,
        #[arg(long)]
        at_least: usize,
        /// How long to wait before failing (humantime: `60s`).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        timeout: Duration,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum Report {
    /// The benchmark's `bench.json` (the results as recorded and the figures derived from them) and, with
    /// `--doc`, its Markdown report with the same JSON beside it. A `--peer-only` run's are its JSON and its
    /// report (the peer's section alone; beside the JSON without `--doc`).
    Bench {
        /// The benchmark's `results.txt`, or a kept `bench.json` whose report to write again.
        #[arg(long)]
        results: PathBuf,
        /// Where `bench.json` goes.
        #[arg(long)]
        json: PathBuf,
        /// The Markdown report; the JSON also goes beside it.
        #[arg(long)]
        doc: Option<PathBuf>,
    },
    /// The soak's `summary.json`, `summary.md` and `memory.svg`, from its `results.txt` and `memory.csv`; fails
    /// when a check failed.
    Soak {
        #[arg(long)]
        results: PathBuf,
        #[arg(long)]
        memory: PathBuf,
        /// Where the three files go.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `wait-stored`'s arguments.
#[derive(Debug, clap::Args)]
pub struct WaitStored {
    #[command(flatten)]
    database: shared::database::Database,
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    bootstrap_servers: String,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    group: String,
    #[arg(long)]
    expected: i64,
    /// How long to wait before failing (humantime: `90s`, `30m`).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m")]
    timeout: Duration,
}

/// `scale`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Scale {
    /// Which stack's consumers.
    #[arg(long, env = "STACK", default_value = "local", value_parser = ["local", "compose"])]
    stack: String,
    /// `N`, `status`, `count` or `kill`.
    action: String,
    /// For `kill`: the consumer's client id, or its local pid.
    id: Option<String>,
}

/// Runs one subcommand in the repository `Repo::find` names.
///
/// # Errors
/// When the tool fails, or its verdict is a failure (a failed check, a lost order).
pub async fn run(command: Command) -> anyhow::Result<()> {
    let repo = Repo::find();
    match command {
        Command::Experiment(settings) => {
            let report = experiment::run(settings, &repo).await?;
            if !report.passed() {
                bail!("{} expectation(s) failed; see {}", report.failures(), report.dir.display());
            }
        }
        Command::Bench(args) => {
            let out = bench::run::run(args, &repo).await?;
            println!("benchmark written to {}", out.display());
        }
        Command::Soak(args) => {
            if !soak::run::run(args, &repo).await? {
                bail!("the soak failed a check (see its summary.md)");
            }
        }
        Command::Rebalance(settings) => {
            if !rebalance::run(settings, &repo).await?.all_ok() {
                bail!("a configuration stopped early or lost orders; see the results");
            }
        }
        Command::ComposeScenario(settings) => {
            let report = compose_scenario::run(settings, &repo).await?;
            if report.failures() > 0 {
                bail!("{} check(s) failed", report.failures());
            }
        }
        Command::ComposeTest(settings) => {
            compose_test::run(settings, &repo).await?;
        }
        Command::AutoscaleDemo(settings) => {
            let report = autoscale_demo::run(settings, &repo).await?;
            if report.failures() > 0 {
                bail!("{} check(s) failed; see {}", report.failures(), report.dir.display());
            }
        }
        Command::Replication(settings) => {
            replication::run(&settings, &repo).await?;
        }
        Command::Scale(args) => scale(&args, &repo).await?,
        Command::Serve(settings) => crate::serve::run(settings, &repo).await?,
        Command::Measure(Measure::Stalls { database, events, until }) => stalls(&database, &events, until).await?,
        Command::Measure(Measure::WaitStored(w)) => wait_stored(&w).await?,
        Command::Measure(Measure::LabPage(args)) => {
            let out = crate::serve::bench::run(args, &repo).await?;
            println!("lab-page measurement written to {}", out.display());
        }
        Command::Measure(Measure::Owners { bootstrap_servers, topic, group, at_least, timeout }) => {
            let client: rdkafka::consumer::BaseConsumer =
                rdkafka::ClientConfig::new().set("bootstrap.servers", &bootstrap_servers).create()?;
            let what = format!("{at_least} member(s) of {group} owning partitions of {topic}");
            let (view, _) = wait_for(&what, timeout, async || {
                let view = harness::group::describe(&client, &group, &topic, Duration::from_secs(5)).ok()?;
                (view.owners() >= at_least).then_some(view)
            })
            .await?;
            for member in &view.members {
                println!("{} {:?}", member.client_id, member.partitions);
            }
        }
        Command::Report(Report::Bench { results, json, doc }) => bench::write(&results, &json, doc.as_deref())?,
        Command::Report(Report::Soak { results, memory, out }) => {
            let passed = soak::report(&results, &memory, &out)?;
            println!("wrote {}/summary.json, summary.md and memory.svg", out.display());
            if !passed {
                bail!("the soak failed a check (see summary.md)");
            }
        }
    }
    Ok(())
}

async fn scale(args: &Scale, repo: &Repo) -> anyhow::Result<()> {
    let fleet = if args.stack == "compose" {
        Fleet::Compose(Compose::find(&repo.root, Vec::new())?)
    } else {
        Fleet::local(repo, ConsumerEnv::default())
    };
    match (args.action.as_str(), &args.id) {
        ("status", None) => {
            for c in fleet.running().await? {
                let pid = c.pid.map_or_else(String::new, |p| format!(" pid {p}"));
                println!("{}{pid} client_id {}", c.name, c.client_id.as_deref().unwrap_or("-"));
            }
        }
        ("count", None) => println!("{}", fleet.running().await?.len()),
        ("kill", Some(id)) => fleet.kill(id).await?,
        ("kill", None) => bail!("kill needs a client id or pid"),
        (n, None) => {
            let target: usize =
                n.parse().with_context(|| format!("consumer count must be a whole number, got '{n}'"))?;
            if let Fleet::Local(_) = fleet
                && target > fleet.running().await?.len()
            {
                require_kafka()?;
            }
            fleet.scale(target).await?;
        }
        (action, Some(_)) => bail!("'{action}' takes no further argument (lab scale --help)"),
    }
    Ok(())
}

/// Fails with one line saying how to start the stack when the consumers' broker does not answer.
fn require_kafka() -> anyhow::Result<()> {
    let servers = std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| shared::DEFAULT_BOOTSTRAP.to_owned());
    let first = servers.split(',').next().unwrap_or_default();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(first)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if !reachable {
        bail!("Kafka is not running at {servers}: start the local stack with 'scripts/stack.sh up'");
    }
    Ok(())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    let seconds: f64 = s.parse().map_err(|_| format!("'{s}' is not unix seconds"))?;
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64).ok_or_else(|| format!("'{s}' is out of range"))
}

fn parse_event(s: &str) -> Result<(String, DateTime<Utc>), String> {
    let (label, at) = s.split_once('=').ok_or_else(|| format!("'{s}' is not label=unix-seconds"))?;
    Ok((label.to_owned(), parse_time(at)?))
}

async fn stalls(
    database: &shared::database::Database,
    events: &[(String, DateTime<Utc>)],
    until: DateTime<Utc>,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(database.url.expose())
        .await
        .with_context(|| format!("cannot reach Postgres at {}", database.redacted()))?;
    for (key, value) in measure::longest_stall_lines(&pool, events, until).await? {
        println!("{key}={value}");
    }
    pool.close().await;
    Ok(())
}

async fn wait_stored(w: &WaitStored) -> anyhow::Result<()> {
    let world = World::new(&w.bootstrap_servers, &w.topic, "", &w.group, w.database.url.expose())?;
    let rows = world.wait_stored(w.expected, w.timeout).await?;
    println!("group {} stored {rows} rows of {}", w.group, w.topic);
    world.pool.close().await;
    Ok(())
}
