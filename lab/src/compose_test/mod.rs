//! The compose test (`lab compose-test`, run by `scripts/test.sh` through `scripts/lab.sh compose-test`):
//! `docker-compose.yml` on a real Docker engine of this machine's own (`scripts/docker.sh`), then `lab
//! compose-scenario` with Compose v2 and v1, then `lab experiment --stack compose --short`, each on a fresh stack; at
//! the end, pass or fail, `down -v` and the engine stopped. What each checks: docs/containers.md.
//!
//! Each part runs as its own `lab` process with the stack's ports and URLs in its environment (never on a command
//! line), the way a user would run it by hand.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use harness::compose::Compose;
use harness::repo::Repo;
use harness::scripts::Scripts;
use harness::wait::wait_ok;
use tokio::process::Command;

/// Options of `lab compose-test`.
#[derive(Debug, Clone, clap::Args)]
pub struct ComposeTestSettings {
    /// The scenario with one Compose only (default: both, v2 first).
    #[arg(long, value_parser = ["v1", "v2"])]
    pub only: Option<String>,
    /// No scenario.
    #[arg(long)]
    pub skip_scenario: bool,
    /// No experiment.
    #[arg(long)]
    pub skip_experiment: bool,
    /// Also `lab autoscale-demo --stack compose --short` (docs/kubernetes.md).
    #[arg(long)]
    pub with_autoscale: bool,
    /// Also `lab compose-scenario --cluster`, the three-node cluster (docs/cluster.md).
    #[arg(long)]
    pub with_cluster: bool,
    /// Leave the Docker engine running (the stack is taken down anyway).
    #[arg(long)]
    pub keep_engine: bool,
    /// Only make what the test needs and leave the engine running: the engine, its images, Compose v2 and the
    /// pipeline's image (`build`, with the first scenario's Compose). `scripts/test.sh` runs this in the background
    /// while the Rust tests run; the test's own `up --build` then finds the image in the builder's cache.
    #[arg(long)]
    pub build_only: bool,
    /// Kafka's host port (127.0.0.1), beside the local stack's; the cluster's other nodes listen 2 and 4 above it.
    #[arg(long, env = "COMPOSE_TEST_KAFKA_PORT", default_value_t = 29092)]
    pub kafka_port: u16,
    /// Postgres' host port (127.0.0.1).
    #[arg(long, env = "COMPOSE_TEST_POSTGRES_PORT", default_value_t = 25432)]
    pub postgres_port: u16,
    /// Prometheus' host port (127.0.0.1), profile `monitoring`.
    #[arg(long, env = "COMPOSE_TEST_PROMETHEUS_PORT", default_value_t = 29090)]
    pub prometheus_port: u16,
    /// The compose project's name.
    #[arg(long, env = "COMPOSE_TEST_PROJECT", default_value = "food-orders-compose-test")]
    pub project: String,
    /// Folder for the reports (default results/compose-test-<time>).
    #[arg(long)]
    pub results: Option<PathBuf>,
}

/// Runs the compose test; the stack is taken down and the engine stopped at the end, whatever happened.
///
/// # Errors
/// When a host port is taken, the engine cannot start, or a part fails.
pub async fn run(settings: ComposeTestSettings, repo: &Repo) -> anyhow::Result<PathBuf> {
    let mut ports = vec![settings.kafka_port, settings.postgres_port, settings.prometheus_port];
    if settings.with_cluster {
        ports.extend([settings.kafka_port + 2, settings.kafka_port + 4]);
    }
    // Refused before anything starts.
    for port in ports {
        if std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok() {
            bail!(
                "port {port} is taken on 127.0.0.1 (ss -ltnp | grep {port}); stop what holds it, or set \
                 COMPOSE_TEST_KAFKA_PORT / COMPOSE_TEST_POSTGRES_PORT / COMPOSE_TEST_PROMETHEUS_PORT"
            );
        }
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let results = settings.results.clone().unwrap_or_else(|| repo.root.join(format!("results/compose-test-{stamp}")));

    script(repo, "docker.sh", &["up"]).await?;
    let stack =
        Stack { compose: [engine_env(repo).await?, compose_env(&settings)].concat(), tools: tools_env(&settings) };
    if settings.build_only {
        return build(&settings, repo, &stack).await.map(|()| results);
    }
    let outcome = parts(&settings, repo, &stack, &results).await;

    // The stack down (with the cluster's file, in case its scenario left it up), then the engine.
    if let Ok(compose) = Compose::find(&repo.root, stack.compose.clone()) {
        let compose = compose.with_file("docker-compose.cluster.yml");
        if let Err(error) = compose.run(&["--profile", "monitoring", "down", "-v", "--remove-orphans"]).await {
            eprintln!("warning: {error:#}");
        }
    }
    if !settings.keep_engine
        && let Err(error) = script(repo, "docker.sh", &["down"]).await
    {
        eprintln!("warning: {error:#}");
    }
    outcome?;
    eprintln!("==> compose test passed; reports in {}", results.display());
    Ok(results)
}

/// The variables of the stack under test: what its compose commands need (the engine, the host ports, the project),
/// and what the tools add to read it from the host (its URLs, `STACK=compose`). Only the first are printed with a
/// compose command: the database URL holds a password.
struct Stack {
    compose: Vec<(String, String)>,
    tools: Vec<(String, String)>,
}

/// The scenarios' Compose versions, in the order they run.
fn clis(settings: &ComposeTestSettings) -> Vec<&str> {
    match (&settings.only, settings.skip_scenario) {
        (_, true) => vec![],
        (Some(only), false) => vec![only.as_str()],
        (None, false) => vec!["v2", "v1"],
    }
}

/// The compose CLI a scenario version runs with (its `COMPOSE_CLI`).
fn compose_cli(version: &str) -> &'static str {
    if version == "v1" { "docker-compose" } else { "docker compose" }
}

/// What `--build-only` makes: Compose v2 when a scenario uses it, and the pipeline's image, built by the Compose of
/// the first scenario (v2's BuildKit and v1's legacy builder keep separate caches).
async fn build(settings: &ComposeTestSettings, repo: &Repo, stack: &Stack) -> anyhow::Result<()> {
    let clis = clis(settings);
    if clis.contains(&"v2") {
        script(repo, "docker.sh", &["compose-v2"]).await?;
    }
    let cli = compose_cli(clis.first().copied().unwrap_or("v2"));
    Compose::with_cli(&repo.root, cli, stack.compose.clone()).run(&["build"]).await?;
    eprintln!("==> the compose test's engine and images are ready; the engine keeps running");
    Ok(())
}

async fn parts(
    settings: &ComposeTestSettings,
    repo: &Repo,
    stack: &Stack,
    results: &std::path::Path,
) -> anyhow::Result<()> {
    let env = [stack.compose.as_slice(), &stack.tools].concat();
    let clis = clis(settings);
    if clis.contains(&"v2") {
        script(repo, "docker.sh", &["compose-v2"]).await?;
    }
    // The first scenario builds the image (`up --build`, as the README); the later ones start from it (v1's and v2's
    // builders share no cache).
    let mut no_build = None;
    for version in clis {
        let cli = compose_cli(version);
        eprintln!("==> the scenario with COMPOSE_CLI={cli}");
        let dir = results.join(format!("scenario-{version}")).display().to_string();
        let with_cli = [env.as_slice(), &[("COMPOSE_CLI".to_owned(), cli.to_owned())]].concat();
        lab(repo, &with_cli, &[&["compose-scenario", "--results", &dir], no_build.as_slice()].concat()).await?;
        no_build = Some("--no-build");
    }
    // (wanted, the topic's partitions, the tool, its report's folder)
    let tools = [
        (!settings.skip_experiment, 1, "experiment", "experiment"),
        (settings.with_autoscale, 3, "autoscale-demo", "autoscale"),
    ];
    for (_, partitions, tool, folder) in tools.into_iter().filter(|t| t.0) {
        fresh_stack(repo, &stack.compose, partitions).await?;
        let dir = results.join(folder).display().to_string();
        lab(repo, &env, &[tool, "--stack", "compose", "--short", "--results", &dir]).await?;
    }
    if settings.with_cluster {
        let dir = results.join("cluster").display().to_string();
        lab(repo, &env, &[&["compose-scenario", "--cluster", "--results", &dir], no_build.as_slice()].concat()).await?;
    }
    Ok(())
}

/// Kafka, Postgres and the topics alone, made from nothing: the stack the lab's tools want on `--stack compose`.
async fn fresh_stack(repo: &Repo, env: &[(String, String)], partitions: u32) -> anyhow::Result<()> {
    let with_partitions = [env, &[("TOPIC_PARTITIONS".to_owned(), partitions.to_string())]].concat();
    let compose = Compose::find(&repo.root, with_partitions)?;
    compose.run(&["down", "-v", "--remove-orphans"]).await?;
    compose.run(&["up", "-d", "kafka", "postgres", "kafka-init"]).await?;
    let dlq = ["--describe", "--topic", shared::DLQ_TOPIC];
    wait_ok("the compose stack's topics", Duration::from_secs(120), async || {
        compose.kafka_tool("kafka-topics", &dlq).await.map_err(|e| format!("{e:#}"))
    })
    .await
    .map(drop)
}

/// The host ports and the project's name, as docker-compose.yml reads them.
fn compose_env(settings: &ComposeTestSettings) -> Vec<(String, String)> {
    vec![
        ("KAFKA_HOST_PORT".into(), settings.kafka_port.to_string()),
        ("POSTGRES_HOST_PORT".into(), settings.postgres_port.to_string()),
        ("PROMETHEUS_HOST_PORT".into(), settings.prometheus_port.to_string()),
        ("COMPOSE_PROJECT_NAME".into(), settings.project.clone()),
    ]
}

/// The stack's broker and database from the host, as the lab's tools read them.
fn tools_env(settings: &ComposeTestSettings) -> Vec<(String, String)> {
    let user = std::env::var("POSTGRES_USER").unwrap_or_else(|_| "kafka_user".to_owned());
    let password = std::env::var("POSTGRES_PASSWORD").unwrap_or_else(|_| "kafka_pass".to_owned());
    let db = std::env::var("POSTGRES_DB").unwrap_or_else(|_| "food_orders".to_owned());
    vec![
        ("KAFKA_BOOTSTRAP_SERVERS".into(), format!("127.0.0.1:{}", settings.kafka_port)),
        ("DATABASE_URL".into(), format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", settings.postgres_port)),
        ("STACK".into(), "compose".into()),
    ]
}

/// What `scripts/docker.sh env` exports (the engine's socket, the CLI plugins' folder, the local images' names).
async fn engine_env(repo: &Repo) -> anyhow::Result<Vec<(String, String)>> {
    let text = script(repo, "docker.sh", &["env"]).await?;
    text.lines()
        .map(|line| {
            let (key, value) = line
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .with_context(|| format!("scripts/docker.sh env printed '{line}', not export KEY=VALUE"))?;
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Runs `scripts/<name>` (printed first), its stderr passing through; returns its stdout.
async fn script(repo: &Repo, name: &str, args: &[&str]) -> anyhow::Result<String> {
    eprintln!("$ scripts/{name} {}", args.join(" "));
    Scripts { root: repo.root.clone(), env: Vec::new() }.run(name, args).await
}

/// Runs one of the lab's tools as a process of its own, with `env`.
async fn lab(repo: &Repo, env: &[(String, String)], args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ target/release/lab {}", args.join(" "));
    let status = Command::new(repo.binary("lab"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&repo.root)
        .stdin(Stdio::null())
        .status()
        .await
        .context("cannot run target/release/lab")?;
    if !status.success() {
        bail!("lab {} failed ({status})", args.join(" "));
    }
    Ok(())
}
