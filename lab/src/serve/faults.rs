//! The faults the page can cause, with what the fault suites use (consumer/tests/postgres_outage.rs,
//! broker_restart.rs): on the local stack `scripts/stack.sh postgres-stop` / `postgres-start` and `kafka-stop` /
//! `kafka-start`; on the compose stack `docker compose stop` / `start` of the `postgres` and `kafka` services
//! through [`Compose`](harness::compose::Compose). The arguments are fixed words; nothing from a request reaches
//! them but a number of seconds to wait.
//!
//! Each step is checked to have happened (the service stops answering; after the start it answers again) and said
//! as a line on the page and a mark on the timeline. A service this lab stopped is started again when the lab
//! stops, even in the middle of an outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::scripts::Scripts;
use harness::wait::wait_ok;
use harness::world::World;

use super::Lab;

/// The longest a control may stop Postgres for, seconds.
pub const MAX_OUTAGE_S: u64 = 120;
/// How long a stopped service may keep answering before the stop is called failed.
const DOWN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a started service may take to answer again.
const BACK_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one look at a service may take.
const LOOK_TIMEOUT: Duration = Duration::from_secs(2);

/// A service the page can stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Postgres,
    Broker,
}

impl Service {
    /// How a line names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "Postgres",
            Self::Broker => "the broker",
        }
    }

    /// Its compose service, and its `scripts/stack.sh` stop and start commands.
    fn commands(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Postgres => ("postgres", "postgres-stop", "postgres-start"),
            Self::Broker => ("kafka", "kafka-stop", "kafka-start"),
        }
    }
}

/// Stops Postgres, waits `seconds`, starts it again, and waits until it answers.
///
/// # Errors
/// When a command fails, Postgres still answers after the stop, or does not answer after the start.
pub async fn postgres_outage(lab: &Lab, seconds: u64) -> anyhow::Result<()> {
    let stopped = stop(lab, Service::Postgres).await?;
    lab.observed.mark(
        format!("Postgres is down ({}); it starts again in {seconds} s", command(lab, Service::Postgres, Step::Stop)),
        "Postgres down",
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    start(lab, Service::Postgres, stopped).await
}

/// Stops the broker (a controlled shutdown on the local stack), starts it again, and waits until it answers.
///
/// # Errors
/// When a command fails, the broker still answers after the stop, or does not answer after the start.
pub async fn broker_restart(lab: &Lab) -> anyhow::Result<()> {
    let stopped = stop(lab, Service::Broker).await?;
    lab.observed.mark(
        format!("the broker is down ({}); starting it again", command(lab, Service::Broker, Step::Stop)),
        "broker down",
    );
    start(lab, Service::Broker, stopped).await
}

/// Starts again the service this lab stopped, if an outage was cut short (the lab stops).
pub async fn end_now(lab: &Lab) {
    let Some(service) = lab.controls.stopped_service() else { return };
    lab.observed.say(format!("the lab stops: starting {} again", service.name()));
    if let Err(e) = run(lab, service, Step::Start).await {
        lab.observed.say(format!("{} was not started again: {e:#}", service.name()));
    } else {
        lab.controls.set_stopped_service(None);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Stop,
    Start,
}

/// Stops `service` and waits until it no longer answers; returns when it was stopped.
async fn stop(lab: &Lab, service: Service) -> anyhow::Result<Instant> {
    // Marked before the command runs, so that a stop cut short is still undone when the lab stops.
    lab.controls.set_stopped_service(Some(service));
    if let Err(e) = run(lab, service, Step::Stop).await {
        lab.controls.set_stopped_service(None);
        return Err(e);
    }
    let probe = Probe::of(lab, service);
    let down = wait_ok(&format!("{} to stop answering", service.name()), DOWN_TIMEOUT, move || {
        let probe = probe.clone();
        async move { if probe.answers().await { Err("it still answers".to_owned()) } else { Ok(()) } }
    })
    .await;
    if down.is_err() {
        run(lab, service, Step::Start).await?;
        lab.controls.set_stopped_service(None);
        bail!(
            "{} still answers after {}: it is not the one this stack's command stops (on the local stack, \
             --stack-dir names the folder scripts/stack.sh keeps it in); it was started again",
            service.name(),
            command(lab, service, Step::Stop)
        );
    }
    Ok(Instant::now())
}

/// Starts `service`, waits until it answers, and says how long it was down.
async fn start(lab: &Lab, service: Service, stopped: Instant) -> anyhow::Result<()> {
    run(lab, service, Step::Start).await?;
    let probe = Probe::of(lab, service);
    wait_ok(&format!("{} to answer again", service.name()), BACK_TIMEOUT, move || {
        let probe = probe.clone();
        async move { if probe.answers().await { Ok(()) } else { Err("it does not answer".to_owned()) } }
    })
    .await?;
    lab.controls.set_stopped_service(None);
    let name = service.name();
    let label = match service {
        Service::Postgres => "Postgres back",
        Service::Broker => "broker back",
    };
    lab.observed.mark(
        format!(
            "{} is back ({}): it answers again, {:.1} s after it stopped",
            capitalised(name),
            command(lab, service, Step::Start),
            stopped.elapsed().as_secs_f64()
        ),
        label,
    );
    Ok(())
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The command a step runs, as a person would type it.
fn command(lab: &Lab, service: Service, step: Step) -> String {
    let (compose_service, stop, start) = service.commands();
    match (&lab.compose, step) {
        (Some(compose), Step::Stop) => format!("{} stop {compose_service}", compose.name()),
        (Some(compose), Step::Start) => format!("{} start {compose_service}", compose.name()),
        (None, Step::Stop) => format!("scripts/stack.sh {stop}"),
        (None, Step::Start) => format!("scripts/stack.sh {start}"),
    }
}

/// Runs a step: `docker compose stop|start SERVICE`, or `scripts/stack.sh COMMAND` with the stack's folder.
async fn run(lab: &Lab, service: Service, step: Step) -> anyhow::Result<()> {
    let (compose_service, stop, start) = service.commands();
    let verb = if step == Step::Stop { "stop" } else { "start" };
    match &lab.compose {
        Some(compose) => compose.run(&[verb, compose_service]).await,
        None => {
            let scripts = Scripts {
                root: lab.scripts.root.clone(),
                env: vec![("LOCAL_DIR".into(), lab.stack_dir.display().to_string())],
            };
            let command = if step == Step::Stop { stop } else { start };
            scripts.run("stack.sh", &[command]).await.map(drop)
        }
    }
    .with_context(|| format!("{verb} {}", service.name()))
}

/// A look at whether a service answers, owning what it reads (so that a control's task may wait on it).
#[derive(Clone)]
struct Probe {
    service: Service,
    world: Arc<World>,
    servers: String,
}

impl Probe {
    fn of(lab: &Lab, service: Service) -> Self {
        Self { service, world: lab.world.clone(), servers: lab.settings.bootstrap_servers.clone() }
    }

    /// Whether the service answers now: Postgres runs `SELECT 1`; the broker accepts a connection and gives the
    /// topic's partition count.
    async fn answers(&self) -> bool {
        match self.service {
            Service::Postgres => {
                let ping = sqlx::query("SELECT 1").execute(&self.world.pool);
                tokio::time::timeout(LOOK_TIMEOUT, ping).await.is_ok_and(|r| r.is_ok())
            }
            Service::Broker => {
                if !super::observe::reachable(&self.servers).await {
                    return false;
                }
                let world = self.world.clone();
                let count = tokio::task::spawn_blocking(move || world.partition_count());
                tokio::time::timeout(LOOK_TIMEOUT * 5, count).await.is_ok_and(|r| r.is_ok_and(|c| c.is_ok()))
            }
        }
    }
}
