//! What a POST may do, each input checked before anything runs, and each run through the experiment's own code:
//! [`Fleet::scale`](harness::consumers::fleet::Fleet::scale) and
//! [`Fleet::kill`](harness::consumers::fleet::Fleet::kill) for consumers,
//! [`Scripts::set_partitions`](harness::scripts::Scripts::set_partitions) (Kafka's `kafka-topics`) for partitions,
//! [`ProducerProcess`] for the producer, [`super::faults`] (`scripts/stack.sh` or `docker compose stop` / `start`)
//! for Postgres and the broker, [`super::autoscale`] (`order-autoscaler`'s own rule) for the autoscaler. One control
//! runs at a time; a control that takes time (stopping a consumer waits for it to commit and leave, an outage lasts
//! its seconds) runs in the background and says when it is done. The autoscaler's on and off take effect at once;
//! its decisions run as controls.

use std::sync::{Arc, Mutex};

use harness::consumers::fleet::Fleet;
use harness::producer::ProducerProcess;

use super::Lab;
use super::faults::{self, MAX_OUTAGE_S, Service};
use super::observe::ProducerState;

/// A request refused, and why, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 400 (bad input), 404 (no such member), 409 (another control is running, or the stack says no).
    pub status: u16,
    pub message: String,
}

impl Refused {
    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self { status: 400, message: message.into() }
    }
}

/// The producer this lab started, and what the stopped ones acknowledged.
#[derive(Default)]
struct Producer {
    running: Option<(ProducerProcess, f64)>,
    acked: u64,
    runs: u64,
}

/// The controls' own state: which one runs, and the producer.
#[derive(Default)]
pub struct Controls {
    busy: Mutex<Option<String>>,
    producer: tokio::sync::Mutex<Producer>,
    /// What the page shows of the producer, kept beside it so that a look never waits for a producer stopping.
    shown: Mutex<ProducerState>,
    /// A service this lab stopped and has not started again.
    stopped: Mutex<Option<Service>>,
}

/// A control, as the routes parse it.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Consumers +1 / -1 / N.
    Consumers(Change),
    /// SIGTERM one member (it writes, commits and leaves), by client id.
    Stop(String),
    /// SIGKILL one member, by client id.
    Kill(String),
    /// Raise the partition count to N.
    Partitions(i32),
    /// Start the producer at this rate, or change its rate (it is restarted).
    ProducerRate(f64),
    ProducerStop,
    /// Stop Postgres for this many seconds (1 to [`MAX_OUTAGE_S`]), then start it again.
    PostgresOutage(u64),
    /// Stop the broker and start it again.
    BrokerRestart,
    /// The autoscaler on with this lag threshold.
    AutoscalerOn(u64),
    AutoscalerOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Remove,
    Set(usize),
}

impl Controls {
    /// The control running now.
    pub fn busy(&self) -> Option<String> {
        self.busy.lock().ok().and_then(|b| b.clone())
    }

    pub fn producer_state(&self) -> ProducerState {
        self.shown.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn show(&self, p: &Producer) {
        if let Ok(mut shown) = self.shown.lock() {
            *shown = ProducerState {
                running: p.running.is_some(),
                rate: p.running.as_ref().map(|r| r.1),
                acked: p.acked,
                runs: p.runs,
            };
        }
    }

    /// Marks the control `what` as the one running, or says which one is (409).
    ///
    /// # Errors
    /// When another control is running.
    pub(super) fn claim(&self, what: &str) -> Result<(), Refused> {
        let Ok(mut busy) = self.busy.lock() else {
            return Err(Refused { status: 409, message: "the controls are unavailable".into() });
        };
        if let Some(other) = busy.as_ref() {
            return Err(Refused { status: 409, message: format!("another control is running ({other}); try again") });
        }
        *busy = Some(what.to_owned());
        Ok(())
    }

    fn release(&self) {
        if let Ok(mut busy) = self.busy.lock() {
            *busy = None;
        }
    }

    /// The service this lab stopped and has not started again.
    pub(super) fn stopped_service(&self) -> Option<Service> {
        self.stopped.lock().ok().and_then(|s| *s)
    }

    pub(super) fn set_stopped_service(&self, service: Option<Service>) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = service;
        }
    }

    /// Stops the producer this lab started, if any (at shutdown).
    pub async fn stop_producer_now(&self, lab: &Lab) {
        let mut p = self.producer.lock().await;
        stop_producer(lab, &mut p).await;
        self.show(&p);
    }
}

/// Checks `control` and, when it may run, starts it in the background; returns what was started, in words.
///
/// # Errors
/// A [`Refused`] saying why, before anything ran.
pub async fn apply(lab: &Arc<Lab>, control: Control) -> Result<String, Refused> {
    let running = lab.fleet.running().await.map_err(|e| Refused { status: 409, message: format!("{e:#}") })?;
    let max = lab.settings.max_consumers;
    let what = match &control {
        Control::Consumers(change) => {
            let target = match change {
                Change::Add => running.len() + 1,
                Change::Remove if running.is_empty() => {
                    return Err(Refused::bad("no consumer runs; nothing to remove"));
                }
                Change::Remove => running.len() - 1,
                Change::Set(n) => *n,
            };
            if target > max {
                return Err(Refused::bad(format!("{target} consumers is more than the lab allows (0 to {max})")));
            }
            format!("consumers: {} -> {target}", running.len())
        }
        Control::Stop(id) | Control::Kill(id) => {
            check_member(lab, &running, id).await?;
            let verb = if matches!(control, Control::Stop(_)) { "stop (SIGTERM)" } else { "kill (SIGKILL)" };
            format!("{verb} {}", super::observe::short(id))
        }
        Control::Partitions(n) => {
            let world = lab.world.clone();
            let current = tokio::task::spawn_blocking(move || world.partition_count())
                .await
                .map_err(|e| Refused { status: 409, message: e.to_string() })?
                .map_err(|e| Refused { status: 409, message: format!("the broker does not answer: {e:#}") })?;
            let topic = &lab.settings.topic;
            if *n < current {
                // Kafka's own refusal (InvalidPartitionsException), said before asking it.
                return Err(Refused::bad(format!(
                    "Kafka cannot remove partitions: topic {topic} currently has {current} partitions, which is \
                     higher than the requested {n} (their records and per-key order would be lost)"
                )));
            }
            if *n == current {
                return Err(Refused::bad(format!("topic {topic} already has {current} partitions")));
            }
            let top = lab.settings.max_partitions;
            if *n > top {
                return Err(Refused::bad(format!("{n} partitions is more than the lab allows (up to {top})")));
            }
            format!("partitions: {current} -> {n}")
        }
        Control::ProducerRate(rate) => {
            let top = lab.settings.max_rate;
            if !rate.is_finite() || *rate <= 0.0 || *rate > top {
                return Err(Refused::bad(format!("a rate is a number of orders per second above 0, up to {top}")));
            }
            format!("producer at {rate} orders/s")
        }
        Control::ProducerStop => {
            if !lab.controls.producer_state().running {
                return Err(Refused::bad("the producer is not running"));
            }
            "producer stop".to_owned()
        }
        Control::PostgresOutage(seconds) => {
            if !(1..=MAX_OUTAGE_S).contains(seconds) {
                return Err(Refused::bad(outage_bounds(&seconds.to_string())));
            }
            refuse_if_down(lab, Service::Postgres)?;
            format!("stop Postgres for {seconds} s")
        }
        Control::BrokerRestart => {
            refuse_if_down(lab, Service::Broker)?;
            "restart the broker".to_owned()
        }
        Control::AutoscalerOn(threshold) => {
            let said = lab.autoscaler.turn_on(&lab.settings, *threshold)?;
            lab.observed.say(format!("control: {said}"));
            return Ok(said);
        }
        Control::AutoscalerOff => {
            let said = lab.autoscaler.turn_off()?;
            lab.observed.say(format!("control: {said}"));
            return Ok(said);
        }
    };
    lab.controls.claim(&what)?;
    lab.observed.say(format!("control: {what}"));
    let lab = lab.clone();
    let said = what.clone();
    tokio::spawn(async move {
        let outcome = run(&lab, control, running.len()).await;
        finish(&lab, &said, outcome);
    });
    Ok(what)
}

/// Ends the control `what` (claimed with [`Controls::claim`]): releases it and says it is done, or why it failed.
pub(super) fn finish(lab: &Lab, what: &str, outcome: anyhow::Result<()>) {
    lab.controls.release();
    match outcome {
        Ok(()) => lab.observed.say(format!("done: {what}")),
        Err(e) => lab.observed.say(format!("failed: {what}: {e:#}")),
    }
}

pub fn outage_bounds(got: &str) -> String {
    format!("seconds: Postgres may be stopped for a whole number of seconds from 1 to {MAX_OUTAGE_S}, got {got}")
}

/// A service the page already sees down cannot be stopped again (409).
fn refuse_if_down(lab: &Lab, service: Service) -> Result<(), Refused> {
    let key = if service == Service::Postgres { "postgres" } else { "broker" };
    if lab.observed.state.borrow().down.contains(&key) {
        return Err(Refused { status: 409, message: format!("{} is already down", service.name()) });
    }
    Ok(())
}

/// `id` is a member of the group now, or (local) a consumer the fleet runs.
async fn check_member(lab: &Lab, running: &[harness::consumers::fleet::Running], id: &str) -> Result<(), Refused> {
    if id.is_empty() || id.len() > 255 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Refused::bad("a member is named by its client id (letters, digits, '-', '_', '.')"));
    }
    let in_fleet = running.iter().any(|r| r.client_id.as_deref() == Some(id));
    let in_group = lab.observed.state.borrow().members.iter().any(|m| m.client_id == id);
    match &lab.fleet {
        Fleet::Local(_) if in_fleet => Ok(()),
        Fleet::Compose(_) if in_group => Ok(()),
        Fleet::Local(_) if in_group => Err(Refused {
            status: 404,
            message: format!("{id} is in the group but is not a consumer this stack's fleet runs"),
        }),
        _ => Err(Refused { status: 404, message: format!("no member with client id {id}") }),
    }
}

async fn run(lab: &Lab, control: Control, running: usize) -> anyhow::Result<()> {
    match control {
        Control::Consumers(Change::Add) => lab.fleet.scale(running + 1).await,
        Control::Consumers(Change::Remove) => lab.fleet.scale(running.saturating_sub(1)).await,
        Control::Consumers(Change::Set(n)) => lab.fleet.scale(n).await,
        Control::Kill(id) => lab.fleet.kill(&id).await,
        Control::Stop(id) => lab.fleet.stop(&id).await,
        Control::Partitions(n) => lab.scripts.set_partitions(&lab.settings.topic, n).await,
        Control::ProducerRate(rate) => {
            let mut p = lab.controls.producer.lock().await;
            stop_producer(lab, &mut p).await;
            let log = lab.dir.join(format!("producer-{}.log", p.runs + 1));
            let started = ProducerProcess::start(&lab.scripts, lab.compose.clone(), rate, &log).await;
            let outcome = match started {
                Ok(process) => {
                    p.running = Some((process, rate));
                    Ok(())
                }
                Err(e) => Err(e),
            };
            lab.controls.show(&p);
            outcome
        }
        Control::ProducerStop => {
            let mut p = lab.controls.producer.lock().await;
            stop_producer(lab, &mut p).await;
            lab.controls.show(&p);
            Ok(())
        }
        Control::PostgresOutage(seconds) => faults::postgres_outage(lab, seconds).await,
        Control::BrokerRestart => faults::broker_restart(lab).await,
        // Applied in `apply`, at once.
        Control::AutoscalerOn(_) | Control::AutoscalerOff => Ok(()),
    }
}

/// Stops the running producer (SIGTERM; it flushes and writes its summary) and adds what it acknowledged.
async fn stop_producer(lab: &Lab, p: &mut Producer) {
    if let Some((process, _)) = p.running.take() {
        p.runs += 1;
        match process.stop().await {
            Ok(summary) => {
                p.acked += summary.acked_new_orders;
                lab.observed.say(format!(
                    "producer stopped: {} new orders acknowledged ({} failed)",
                    summary.acked_new_orders, summary.failed
                ));
            }
            Err(e) => lab.observed.say(format!("producer stopped without a summary: {e:#}")),
        }
    }
}
