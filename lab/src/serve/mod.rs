//! The scaling lab (`lab serve`): a page over the real group, topic and table, with the experiment's steps as
//! buttons. It reads what the experiment reads ([`harness::world::World`], [`harness::group`]) and drives what the
//! experiment drives, through the same code: consumers through [`harness::consumers::fleet::Fleet`], partitions
//! through [`harness::scripts::Scripts::set_partitions`] (Kafka's `kafka-topics`), the producer through
//! [`harness::producer::ProducerProcess`].
//!
//! # Layout
//! - [`observe`]: the state the page renders, sampled once a second, and the event lines ("partition 2 moved from
//!   …-3f2a to …-9c1b").
//! - [`controls`]: what a POST may do, each input checked before anything runs.
//! - [`faults`]: Postgres stopped for some seconds, the broker restarted, as the fault suites do it.
//! - [`autoscale`]: `order-autoscaler`'s rule on the page's offsets, applied through the fleet.
//! - [`http`]: the routes, the token, the embedded page and the server-sent events.
//! - [`bench`]: what the lab costs the pipeline and how fast it shows a change (`lab measure lab-page`).
//!
//! Safe by default: loopback unless told otherwise, and then only with a token; every control is a POST carrying
//! the per-run token; no request reaches a shell (scripts get whole numbers as arguments, never text).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use harness::compose::Compose;
use harness::consumers::ConsumerEnv;
use harness::consumers::fleet::Fleet;
use harness::repo::Repo;
use harness::scripts::Scripts;
use harness::world::World;

pub mod autoscale;
pub mod bench;
pub mod controls;
pub mod faults;
pub mod http;
pub mod observe;

/// `lab serve`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeSettings {
    /// Where the page listens. Anything but a loopback address needs `--token`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The token every control must carry (default: a new random one per run, printed with the URL).
    #[arg(long, env = "LAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Which stack's consumers and producer the controls drive.
    #[arg(long, env = "STACK", default_value = "local", value_parser = ["local", "compose"])]
    pub stack: String,
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = shared::DEFAULT_BOOTSTRAP)]
    pub bootstrap_servers: String,
    #[arg(long, env = "KAFKA_TOPIC", default_value = shared::ORDERS_TOPIC)]
    pub topic: String,
    #[arg(long, env = "DLQ_TOPIC", default_value = shared::DLQ_TOPIC)]
    pub dlq_topic: String,
    #[arg(long, env = "CONSUMER_GROUP", default_value = shared::CONSUMER_GROUP)]
    pub group: String,
    #[command(flatten)]
    pub database: shared::database::Database,
    /// The session timeout of the consumers the lab starts on the local stack (humantime: `10s`); their default
    /// when not set.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub session_timeout: Option<Duration>,
    /// The most consumers a control may ask for.
    #[arg(long, default_value_t = 12)]
    pub max_consumers: usize,
    /// The most partitions a control may raise the topic to.
    #[arg(long, default_value_t = 24)]
    pub max_partitions: i32,
    /// The highest producer rate a control may set, orders per second.
    #[arg(long, default_value_t = 20_000.0)]
    pub max_rate: f64,
    /// The least time between two exact row counts (`SELECT processed_by, COUNT(*) … GROUP BY`) while the group
    /// keeps committing; when its offsets stand still after moving, the rows are counted at once (humantime).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub count_every: Duration,
    /// The local stack's folder, where `scripts/stack.sh` keeps Postgres' and Kafka's data and pids (its
    /// `LOCAL_DIR`): the fault controls stop and start the services found there (default: `LOCAL_DIR`, else
    /// `.local/` in the repository).
    #[arg(long)]
    pub stack_dir: Option<PathBuf>,
    /// Time between two of the autoscaler's decisions while it is on (its pollingInterval; humantime).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub autoscale_every: Duration,
    /// The autoscaler's scale-down window (the HPA's stabilizationWindowSeconds; humantime).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub autoscale_window: Duration,
}

/// Everything a request may touch, shared by the routes and the sampler.
pub struct Lab {
    pub settings: ServeSettings,
    /// The token every control carries.
    pub token: String,
    /// The consumers of the chosen stack.
    pub fleet: Fleet,
    /// The project's scripts with this topic, group and database (`scripts/partitions.sh`).
    pub scripts: Scripts,
    /// The compose stack, when that is the one driven.
    pub compose: Option<Compose>,
    /// Read-only views of the topic, the group and the table.
    pub world: Arc<World>,
    /// Where the producer's log and summary go.
    pub dir: PathBuf,
    /// The local stack's folder (`scripts/stack.sh`'s `LOCAL_DIR`), for the faults.
    pub stack_dir: PathBuf,
    pub observed: observe::Observed,
    pub controls: controls::Controls,
    pub autoscaler: autoscale::Autoscaler,
    /// Turns true when the lab stops: the event streams end, so that an open page does not hold the server.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// A started lab: where it listens, its token, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub token: String,
    pub lab: Arc<Lab>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    sampler: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Running {
    /// `http://ADDR/?token=TOKEN`: what a person opens.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token)
    }

    /// Stops serving and sampling, stops the producer the lab started (its summary read), and starts again a
    /// service an outage of this lab's had stopped. The consumers keep running, as `scripts/scale.sh` leaves them.
    ///
    /// # Errors
    /// When the server failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.lab.controls.stop_producer_now(&self.lab).await;
        faults::end_now(&self.lab).await;
        let _ = self.sampler.await;
        self.server.await.context("the server task")?
    }
}

/// Checks the settings, binds, and starts the server and the sampler.
///
/// # Errors
/// When a non-loopback address has no token, the address cannot be bound, or a client cannot be created.
pub async fn start(settings: ServeSettings, repo: &Repo) -> anyhow::Result<Running> {
    let token = match (&settings.token, settings.bind.ip().is_loopback()) {
        (Some(token), _) if token.len() < 16 => bail!("--token must be at least 16 characters"),
        (Some(token), _) => token.clone(),
        (None, true) => uuid::Uuid::new_v4().simple().to_string(),
        (None, false) => bail!(
            "refusing to listen on {} without --token: anyone who reaches it could drive the consumers \
             (bind 127.0.0.1, or give a token of at least 16 characters)",
            settings.bind
        ),
    };
    let database_url = settings.database.url.expose().to_owned();
    let compose = if settings.stack == "compose" { Some(Compose::find(&repo.root, Vec::new())?) } else { None };
    let fleet = match &compose {
        Some(compose) => Fleet::Compose(compose.clone()),
        None => {
            let mut env =
                ConsumerEnv::new(&settings.bootstrap_servers, &settings.topic, &settings.group, &database_url);
            env.dlq_topic = Some(settings.dlq_topic.clone());
            env.session_timeout = settings.session_timeout;
            Fleet::local(repo, env)
        }
    };
    let scripts = Scripts {
        root: repo.root.clone(),
        env: vec![
            ("STACK".into(), settings.stack.clone()),
            ("KAFKA_BOOTSTRAP_SERVERS".into(), settings.bootstrap_servers.clone()),
            ("KAFKA_TOPIC".into(), settings.topic.clone()),
            ("DLQ_TOPIC".into(), settings.dlq_topic.clone()),
            ("CONSUMER_GROUP".into(), settings.group.clone()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("RUST_LOG".into(), "info".into()),
        ],
    };
    let world = Arc::new(World::new(
        &settings.bootstrap_servers,
        &settings.topic,
        &settings.dlq_topic,
        &settings.group,
        &database_url,
    )?);
    let local = repo.local();
    let dir = local.join("lab");
    let stack_dir = settings.stack_dir.clone().unwrap_or_else(|| local.clone());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let lab = Arc::new(Lab {
        settings,
        token: token.clone(),
        fleet,
        scripts,
        compose,
        world,
        dir,
        stack_dir,
        observed: observe::Observed::new(),
        controls: controls::Controls::default(),
        autoscaler: autoscale::Autoscaler::default(),
        stopping: stopped.clone(),
    });
    let sampler = tokio::spawn(observe::sample(lab.clone(), stopped.clone()));
    let app = http::router(lab.clone());
    let mut until = stopped;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = until.wait_for(|s| *s).await;
            })
            .await
            .context("the lab's server")
    });
    Ok(Running { addr, token, lab, server, sampler, stop })
}

/// `lab serve`: serves until SIGINT or SIGTERM.
///
/// # Errors
/// As [`start`], or when the server fails.
pub async fn run(settings: ServeSettings, repo: &Repo) -> anyhow::Result<()> {
    let running = start(settings, repo).await?;
    println!("lab serve: {}", running.url());
    eprintln!("(Ctrl-C stops the page and the producer it started; the consumers keep running: scripts/scale.sh 0)");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    running.stop().await
}
