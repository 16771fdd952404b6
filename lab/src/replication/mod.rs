//! What three replicas cost the producer (`lab replication`, docs/cluster.md): on the three-node cluster, the
//! real `order-producer` sends the same fixed batch as fast as it can (`--rate 0`) to a topic with one replica and
//! to one with three (`min.insync.replicas=2`, so every acknowledgement waits for a second copy), alternately
//! round after round so that both see the same machine; the acknowledged orders per second of each run come from
//! the producer's `--summary-file`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use tokio::process::Command;

use harness::repo::Repo;
use harness::stack::create_topic;

/// Options of `lab replication`.
#[derive(Debug, Clone, clap::Args)]
pub struct CostSettings {
    /// Orders per run.
    #[arg(long, default_value_t = 200_000)]
    pub orders: u64,

    /// Rounds; each runs both replication factors, in alternating order.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,

    /// Partitions of each topic.
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,

    /// The cluster (`scripts/stack.sh up --brokers 3`).
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096")]
    pub bootstrap_servers: String,

    /// Folder for results.json and report.md (default results/replication-cost-<time>).
    #[arg(long)]
    pub results: Option<PathBuf>,
}

/// One producer run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CostRun {
    pub round: u32,
    pub replicas: i32,
    pub acked: u64,
    pub elapsed_s: f64,
    pub orders_per_s: u64,
}

/// Runs the rounds and writes the report; returns the runs.
///
/// # Errors
/// When the cluster does not answer, a topic cannot be created, or a producer run fails or loses an order.
pub async fn run(settings: &CostSettings, repo: &Repo) -> anyhow::Result<Vec<CostRun>> {
    let root = &repo.root;
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &settings.bootstrap_servers).create()?;
    let inspector: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &settings.bootstrap_servers).create()?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let dir =
        settings.results.clone().unwrap_or_else(|| root.join("results").join(format!("replication-cost-{stamp}")));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut runs = Vec::new();
    for round in 1..=settings.rounds {
        let order = if round % 2 == 1 { [1, 3] } else { [3, 1] };
        for replicas in order {
            let topic = format!("replication-cost-{stamp}-r{round}-rf{replicas}").to_lowercase();
            create_topic(&admin, &inspector, &topic, settings.partitions, replicas).await?;
            let summary = dir.join(format!("{topic}.json"));
            if !produce(repo, settings, &topic, &summary, &dir).await? {
                bail!("the producer on {topic} failed (see {})", dir.join(format!("{topic}.log")).display());
            }
            let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary)?)?;
            let (acked, elapsed_s) =
                (json["acked"].as_u64().unwrap_or(0), json["elapsed_s"].as_f64().unwrap_or(f64::NAN));
            if acked != settings.orders {
                bail!(
                    "the producer on {topic} acknowledged {acked} of {} orders (see {})",
                    settings.orders,
                    dir.display()
                );
            }
            let r =
                CostRun { round, replicas, acked, elapsed_s, orders_per_s: (acked as f64 / elapsed_s).round() as u64 };
            eprintln!("round {round}, {replicas} replica(s): {} orders/s", r.orders_per_s);
            runs.push(r);
            let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
            admin.delete_topics(&[&topic], &opts).await?;
        }
    }
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&runs)?)?;
    std::fs::write(dir.join("report.md"), markdown(settings, &runs))?;
    eprintln!("report: {}", dir.join("report.md").display());
    Ok(runs)
}

/// Runs the release `order-producer` for the fixed batch; its log goes beside the summary.
async fn produce(repo: &Repo, s: &CostSettings, topic: &str, summary: &Path, dir: &Path) -> anyhow::Result<bool> {
    let binary = repo.binary("order-producer");
    let args = ["--topic", topic, "--count", &s.orders.to_string(), "--rate", "0", "--seed", "11"];
    eprintln!("$ {} {} --summary-file {}", binary.display(), args.join(" "), summary.display());
    let log = std::fs::File::create(dir.join(format!("{topic}.log")))?;
    let status = Command::new(&binary)
        .args(args)
        .arg("--summary-file")
        .arg(summary)
        .env("KAFKA_BOOTSTRAP_SERVERS", &s.bootstrap_servers)
        .env("METRICS_ADDR", "off")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .await
        .with_context(|| format!("cannot start {} (cargo build --release first)", binary.display()))?;
    Ok(status.success())
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// The report: every run, and the medians.
pub fn markdown(s: &CostSettings, runs: &[CostRun]) -> String {
    let mut md = format!(
        "# Producer throughput with 1 and 3 replicas\n\n{} orders per run, `--rate 0`, {} partitions, {} rounds \
         (replication factors alternating first), on the three-node cluster ({}).\n\n\
         | round | replicas | acknowledged | seconds | orders/s |\n|---|---|---|---|---|\n",
        s.orders, s.partitions, s.rounds, s.bootstrap_servers
    );
    for r in runs {
        md += &format!("| {} | {} | {} | {:.2} | {} |\n", r.round, r.replicas, r.acked, r.elapsed_s, r.orders_per_s);
    }
    let of = |n: i32| median(runs.iter().filter(|r| r.replicas == n).map(|r| r.orders_per_s).collect());
    let (one, three) = (of(1), of(3));
    md += &format!(
        "\nMedian orders/s: {one} with 1 replica, {three} with 3 (ratio {:.2}).\n",
        three as f64 / one.max(1) as f64
    );
    md
}
