//! The experiment, phase by phase. Each phase waits (with a deadline) for the state it expects, then runs for
//! `--phase` with the producer still running, then records what it measured and checks its expectations.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use harness::compose::Compose;
use harness::consumers::ConsumerEnv;
use harness::consumers::fleet::Fleet;
use harness::group::GroupView;
use harness::producer::ProducerProcess;
use harness::repo::Repo;
use harness::scripts::Scripts;
use harness::stack::Stack;
use tokio::sync::watch;

use harness::sampler::{self, Sample};
use harness::wait::wait_for;
use harness::world::World;

use crate::checks::Check;
use crate::measure;
use crate::timeline::{Event, Phase};
use report::{Efficiency, EfficiencyRun, Reconciliation, Report};
use settings::Settings;

pub mod report;
pub mod settings;

/// Checks that the new partitions receive orders within this long of the increase.
const NEW_PARTITIONS_WITHIN: Duration = Duration::from_secs(15);
/// Margin on top of the session timeout for a killed owner's partitions to move.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(5);

struct Run {
    settings: Settings,
    /// The project's scripts (`partitions.sh`) and the producer's environment.
    scripts: Scripts,
    /// The stack's consumers.
    fleet: Fleet,
    /// The local stack (none on compose): topics and databases are created through it.
    stack: Option<Stack>,
    world: Arc<World>,
    t0: DateTime<Utc>,
    /// When each of `report.events` happened; their stalls are measured once the topic is drained.
    event_times: Vec<DateTime<Utc>>,
    report: Report,
}

/// Runs the whole experiment and writes its report.
///
/// # Errors
/// When the stack is not running, a step cannot be carried out, or a wait runs past its deadline. A broken
/// expectation is not an error: it is a failed check in the report.
pub async fn run(settings: Settings, repo: &Repo) -> anyhow::Result<Report> {
    let settings = settings.effective();
    let root = repo.root.clone();
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let dir = settings.results.clone().unwrap_or_else(|| root.join("results").join(format!("experiment-{stamp}")));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let id = Utc::now().timestamp();

    let compose = if settings.is_compose() { Some(Compose::find(&root, Vec::new())?) } else { None };
    let (topic, dlq_topic, group, database) = if compose.is_some() {
        (
            shared::ORDERS_TOPIC.to_owned(),
            shared::DLQ_TOPIC.to_owned(),
            shared::CONSUMER_GROUP.to_owned(),
            "food_orders".to_owned(),
        )
    } else {
        (format!("exp-{id}"), format!("exp-{id}-dlq"), format!("exp-{id}"), format!("exp_{id}"))
    };
    let database_url = settings.database.url_beside(&database);
    let scripts = Scripts {
        root: root.clone(),
        env: vec![
            ("STACK".into(), settings.stack.clone()),
            ("KAFKA_TOPIC".into(), topic.clone()),
            ("DLQ_TOPIC".into(), dlq_topic.clone()),
            ("CONSUMER_GROUP".into(), group.clone()),
            ("DATABASE_URL".into(), database_url.clone()),
            ("RUST_LOG".into(), "info".into()),
        ],
    };
    let fleet = match &compose {
        Some(compose) => Fleet::Compose(compose.clone()),
        None => {
            let mut env = ConsumerEnv::new(&settings.bootstrap_servers, &topic, &group, &database_url);
            env.dlq_topic = Some(dlq_topic.clone());
            env.session_timeout = Some(settings.session_timeout);
            Fleet::local(repo, env)
        }
    };

    let mut local = None;
    if compose.is_none() {
        fleet.scale(0).await?;
        let stack = Stack::connect(&root, &settings.bootstrap_servers, settings.database.clone()).await?;
        for name in [&topic, &dlq_topic] {
            stack.create_topic(name, 1).await?;
        }
        stack.create_database(&database).await?.close().await;
        local = Some(stack);
    }
    let world = Arc::new(World::new(&settings.bootstrap_servers, &topic, &dlq_topic, &group, &database_url)?);
    if compose.is_some() {
        let partitions = world.partition_count()?;
        let rows = world.row_counts().await.map(|r| r.0).unwrap_or(0);
        if partitions != 1 || rows != 0 {
            bail!(
                "the compose stack is not fresh ({partitions} partitions, {rows} rows): run \
                   'docker compose down -v && docker compose up -d kafka postgres kafka-init' first"
            );
        }
    }

    let t0 = world.now().await?;
    let report = Report::new(dir.clone(), &settings, &topic, &group);
    let mut run = Run { settings, scripts, fleet, stack: local, world, t0, event_times: Vec::new(), report };
    let (stop_sampler, sampler) = run.start_sampler();

    let producer =
        ProducerProcess::start(&run.scripts, compose.clone(), run.settings.rate, &dir.join("producer.log")).await?;
    let outcome = run.phases(producer).await;
    let _ = stop_sampler.send(true);
    run.report.timeline = sampler.await.unwrap_or_default();
    if compose.is_none() {
        run.fleet.scale(0).await?;
    }
    outcome?;
    if !run.settings.skip_efficiency && compose.is_none() {
        run.report.efficiency = Some(run.efficiency(id).await?);
    }
    run.report.write()?;
    Ok(run.report)
}

/// `client-id [partitions]` for each member, as a line.
fn members(view: &GroupView) -> String {
    let all: Vec<String> = view.members.iter().map(|m| format!("{} {:?}", m.client_id, m.partitions)).collect();
    all.join(", ")
}

fn stable(view: &GroupView, members: usize) -> bool {
    view.state == "Stable" && view.members.len() == members
}

/// How many of `partitions` changed owner between two views.
fn moved(before: &GroupView, after: &GroupView, partitions: i32) -> Vec<i32> {
    (0..partitions)
        .filter(|p| before.owner_of(*p).map(|m| &m.client_id) != after.owner_of(*p).map(|m| &m.client_id))
        .collect()
}

impl Run {
    fn seconds(&self, at: DateTime<Utc>) -> f64 {
        (at - self.t0).num_milliseconds() as f64 / 1000.0
    }

    fn check(&mut self, phase: u32, expectation: &str, passed: bool, observed: String) {
        let mark = if passed { "ok  " } else { "FAIL" };
        eprintln!("    [{mark}] {expectation}: {observed}");
        self.report.checks.push(Check { phase, expectation: expectation.into(), passed, observed });
    }

    async fn group_where(
        &self,
        what: &str,
        timeout: Duration,
        ok: impl Fn(&GroupView) -> bool,
    ) -> anyhow::Result<(GroupView, Duration)> {
        let world = Arc::clone(&self.world);
        wait_for(what, timeout, async || world.group().ok().filter(|v| ok(v))).await
    }

    /// Lets the phase run for `--phase`, then records rows per consumer stored during it.
    async fn hold(&mut self, number: u32, name: &str, started: Instant) -> anyhow::Result<Phase> {
        eprintln!("    running {:?} with the producer at {} orders/s", self.settings.phase, self.settings.rate);
        let from = self.world.now().await?;
        tokio::time::sleep(self.settings.phase).await;
        let to = self.world.now().await?;
        let per_consumer = self.world.rows_by_consumer(Some(from), Some(to)).await?;
        let rows: i64 = per_consumer.values().sum();
        let seconds = (to - from).num_milliseconds() as f64 / 1000.0;
        let assignment = self.world.group()?;
        let phase = Phase {
            number,
            name: name.into(),
            from_s: self.seconds(from),
            to_s: self.seconds(to),
            rows,
            rows_per_s: rows as f64 / seconds.max(0.001),
            per_consumer,
            assignment,
            wall_s: started.elapsed().as_secs_f64(),
        };
        self.report.phases.push(phase.clone());
        Ok(phase)
    }

    /// Records a rebalance event: when it happened and the partitions that changed owner.
    fn event(
        &mut self,
        name: &str,
        at: DateTime<Utc>,
        before: &GroupView,
        after: &GroupView,
        takeover_s: Option<f64>,
    ) -> anyhow::Result<()> {
        let moved = moved(before, after, self.world.partition_count()?);
        eprintln!("    event '{name}': partitions moved {moved:?}");
        self.event_times.push(at);
        self.report.events.push(Event {
            name: name.into(),
            at_s: self.seconds(at),
            partitions_moved: moved,
            stalls: BTreeMap::new(),
            longest_stall_moved_s: None,
            longest_stall_others_s: None,
            takeover_s,
        });
        Ok(())
    }

    /// Measures each event's stalls ([`measure::stalls_per_event`]) once the topic is drained, and the longest on the
    /// partitions that moved and on the others.
    async fn measure_stalls(&mut self, end: DateTime<Utc>) -> anyhow::Result<()> {
        let partitions: Vec<i32> = (0..self.world.partition_count()?).collect();
        let per_event = measure::stalls_per_event(&self.world.pool, self.t0, &self.event_times, end).await?;
        for (event, stalls) in self.report.events.iter_mut().zip(per_event) {
            event.stalls = stalls;
            let others: Vec<i32> = partitions.iter().copied().filter(|p| !event.partitions_moved.contains(p)).collect();
            event.longest_stall_moved_s = measure::longest(&event.stalls, &event.partitions_moved);
            event.longest_stall_others_s = measure::longest(&event.stalls, &others);
            eprintln!("    event '{}': stalls per partition {:?}", event.name, event.stalls);
        }
        Ok(())
    }

    async fn phases(&mut self, producer: ProducerProcess) -> anyhow::Result<()> {
        self.one_partition_three_consumers().await?;
        let three = self.partitions_raised().await?;
        let five = self.scale_to_five(three).await?;
        let four = self.kill_an_owner(five).await?;
        self.scale_to_one(four).await?;
        self.drain_and_reconcile(producer).await
    }

    /// Phase 1: one partition, three consumers: one owner stores everything, two are idle.
    async fn one_partition_three_consumers(&mut self) -> anyhow::Result<()> {
        let minute = Duration::from_secs(60);
        eprintln!("\n==> phase 1: 1 partition, 3 consumers");
        let started = Instant::now();
        self.fleet.scale(3).await?;
        let (view, _) = self.group_where("3 members, 1 owner", minute, |v| stable(v, 3) && v.owners() == 1).await?;
        let phase = self.hold(1, "1 partition, 3 consumers", started).await?;
        let owner = view.owner_of(0).map(|m| m.client_id.clone()).unwrap_or_default();
        self.check(
            1,
            "exactly one member owns partition 0, two are idle",
            view.owners() == 1 && view.members.len() == 3,
            members(&view),
        );
        self.check(
            1,
            "the owner alone stores every order",
            phase.per_consumer.keys().eq([&owner]),
            format!("{:?}", phase.per_consumer),
        );
        Ok(())
    }

    /// Phase 2: partitions raised to 3 while the producer runs; returns the group after.
    async fn partitions_raised(&mut self) -> anyhow::Result<GroupView> {
        let minute = Duration::from_secs(60);
        eprintln!("\n==> phase 2: partitions raised to 3 while the producer runs");
        let started = Instant::now();
        let before = self.world.group()?;
        let at = self.world.now().await?;
        self.scripts.set_partitions(&self.world.topic, 3).await?;
        let altered = Instant::now();
        let world = Arc::clone(&self.world);
        let topic = self.world.topic.clone();
        let (_, new_partitions_after) = wait_for("orders on the new partitions", minute, async || {
            world.log_end(&topic, 3).ok().filter(|e| e[1] > 0 && e[2] > 0)
        })
        .await?;
        self.check(
            2,
            "the producer writes to the new partitions within 15 s, without a restart",
            new_partitions_after <= NEW_PARTITIONS_WITHIN,
            format!("{:.1} s", new_partitions_after.as_secs_f64()),
        );
        let (after, _) = self
            .group_where("3 members owning one partition each", minute, |v| {
                stable(v, 3) && v.members.iter().all(|m| m.partitions.len() == 1)
            })
            .await?;
        self.report.new_partitions_seen_s = Some(new_partitions_after.as_secs_f64());
        self.report.rebalance_after_increase_s = Some(altered.elapsed().as_secs_f64());
        self.event("partitions 1 → 3", at, &before, &after, None)?;
        let phase = self.hold(2, "3 partitions, 3 consumers", started).await?;
        self.check(
            2,
            "each consumer owns one partition",
            after.members.iter().all(|m| m.partitions.len() == 1),
            members(&after),
        );
        self.check(
            2,
            "all three consumers store rows",
            phase.per_consumer.len() == 3,
            format!("{:?}", phase.per_consumer),
        );
        Ok(after)
    }

    /// Phase 3: scale to 5 consumers: still 3 owners, 2 idle; returns the group after.
    async fn scale_to_five(&mut self, before: GroupView) -> anyhow::Result<GroupView> {
        let minute = Duration::from_secs(60);
        eprintln!("\n==> phase 3: scale to 5 consumers");
        let started = Instant::now();
        let at = self.world.now().await?;
        self.fleet.scale(5).await?;
        let (after, _) = self.group_where("5 members, 3 owners", minute, |v| stable(v, 5) && v.owners() == 3).await?;
        self.event("scale 3 → 5", at, &before, &after, None)?;
        let phase = self.hold(3, "3 partitions, 5 consumers", started).await?;
        let idle = after.members.iter().filter(|m| m.partitions.is_empty()).count();
        self.check(3, "still 3 owners, 2 idle", after.owners() == 3 && idle == 2, members(&after));
        self.check(
            3,
            "only the 3 owners store rows",
            phase.per_consumer.len() == 3,
            format!("{:?}", phase.per_consumer),
        );
        Ok(after)
    }

    /// Phase 4: an owner SIGKILLed: its partitions are taken over; returns the group after.
    async fn kill_an_owner(&mut self, before: GroupView) -> anyhow::Result<GroupView> {
        let minute = Duration::from_secs(60);
        eprintln!("\n==> phase 4: SIGKILL one owner");
        let started = Instant::now();
        let victim = before.owner_of(0).cloned().context("partition 0 has no owner")?;
        let at = self.world.now().await?;
        let killed = Instant::now();
        self.fleet.kill(&victim.client_id).await?;
        let limit = self.settings.session_timeout + TAKEOVER_MARGIN;
        let (after, _) = self
            .group_where("the victim's partitions taken over", limit + minute, |v| {
                stable(v, 4)
                    && victim.partitions.iter().all(|p| v.owner_of(*p).is_some_and(|m| m.client_id != victim.client_id))
            })
            .await?;
        let takeover = killed.elapsed();
        self.event("SIGKILL an owner", at, &before, &after, Some(takeover.as_secs_f64()))?;
        self.check(
            4,
            "its partitions are taken over within the session timeout plus 5 s",
            takeover <= limit,
            format!(
                "{:.1} s (session timeout {} ms)",
                takeover.as_secs_f64(),
                self.settings.session_timeout.as_millis()
            ),
        );
        self.hold(4, "after SIGKILL: 4 consumers", started).await?;
        Ok(after)
    }

    /// Phase 5: scale down to one consumer, which then owns every partition.
    async fn scale_to_one(&mut self, before: GroupView) -> anyhow::Result<()> {
        let minute = Duration::from_secs(60);
        eprintln!("\n==> phase 5: scale down to 1 consumer");
        let started = Instant::now();
        let at = self.world.now().await?;
        self.fleet.scale(1).await?;
        let (after, _) = self
            .group_where("1 member owning all 3 partitions", minute, |v| {
                stable(v, 1) && v.members[0].partitions == [0, 1, 2]
            })
            .await?;
        self.event("scale 4 → 1", at, &before, &after, None)?;
        let phase = self.hold(5, "3 partitions, 1 consumer", started).await?;
        self.check(
            5,
            "one consumer owns all 3 partitions",
            after.members.len() == 1 && after.members[0].partitions == [0, 1, 2],
            members(&after),
        );
        self.check(5, "it alone stores rows", phase.per_consumer.len() == 1, format!("{:?}", phase.per_consumer));
        Ok(())
    }

    /// Phase 6: the producer stopped, the topic drained, everything reconciled.
    async fn drain_and_reconcile(&mut self, producer: ProducerProcess) -> anyhow::Result<()> {
        eprintln!("\n==> phase 6: stop the producer, drain, reconcile");
        let summary = producer.stop().await?;
        let world = Arc::clone(&self.world);
        let drained = wait_for("committed offsets = log-end offsets", Duration::from_secs(120), async || {
            world.drained().ok().filter(|drained| *drained)
        })
        .await;
        let seen = self.world.reconciliation().await?;
        let order = measure::customer_order(&self.world.pool).await?;
        let produced = summary.acked_new_orders as i64;
        self.check(
            6,
            "rows + dead letters = acked orders",
            seen.accounts_for(produced),
            format!("{} + {} vs {produced} acked ({} failed)", seen.rows, seen.dead_letters, summary.failed),
        );
        self.check(
            6,
            "0 duplicate rows",
            seen.duplicates() == 0,
            format!("{} rows, {} distinct order ids", seen.rows, seen.distinct_orders),
        );
        self.check(
            6,
            "committed offsets = log-end offsets",
            drained.is_ok() && seen.committed_to_end(),
            format!("committed {:?}, log-end {:?}", seen.committed, seen.log_end),
        );
        self.check(
            6,
            "per-customer order holds within each partition, in the order rows were stored",
            order.inversions_within_partitions == 0,
            format!("{} rows stored after a later-numbered row of their customer", order.inversions_within_partitions),
        );
        self.report.reconciliation = Some(Reconciliation {
            acked_new_orders: summary.acked_new_orders,
            failed: summary.failed,
            rows: seen.rows,
            distinct_orders: seen.distinct_orders,
            dead_letters: seen.dead_letters,
            log_end: seen.log_end,
            committed: seen.committed,
            leaders: self.world.leaders()?,
        });
        self.report.customer_order = Some(order);
        eprintln!(
            "    customers on several partitions: {} ({} rows); {} rows stored after a later-numbered row of their customer on another partition",
            order.customers_on_several_partitions, order.rows_of_those_customers, order.inversions_across_partitions
        );
        let end = self.world.now().await?;
        self.measure_stalls(end).await?;
        Ok(())
    }

    fn repo(&self) -> Repo {
        Repo { root: self.scripts.root.clone() }
    }

    fn start_sampler(&self) -> (watch::Sender<bool>, tokio::task::JoinHandle<Vec<Sample>>) {
        sampler::start(Arc::clone(&self.world), self.t0)
    }

    /// Throughput with 1, 2 and 3 consumers on 3 partitions when each order costs `--efficiency-delay-ms`. Each
    /// run gets a fresh topic, group and database; the orders are produced once the group is stable, so the
    /// figure is the group's steady throughput, not its start-up.
    async fn efficiency(&mut self, id: i64) -> anyhow::Result<Efficiency> {
        let (orders, delay) = (self.settings.efficiency_orders, self.settings.efficiency_delay.as_millis() as u64);
        eprintln!("\n==> efficiency: {orders} orders on 3 partitions, {delay} ms of work per order");
        let mut runs = Vec::new();
        for consumers in 1..=3usize {
            let topic = format!("eff-{id}-{consumers}");
            let dlq = format!("{topic}-dlq");
            let stack = self.stack.as_ref().context("the efficiency run needs the local stack")?;
            for (name, partitions) in [(&topic, 3), (&dlq, 1)] {
                stack.create_topic(name, partitions).await?;
            }
            let database = format!("eff_{id}_{consumers}");
            stack.create_database(&database).await?.close().await;
            let url = self.settings.database.url_beside(&database);
            let mut env = ConsumerEnv::new(&self.settings.bootstrap_servers, &topic, &topic, &url);
            env.session_timeout = Some(self.settings.session_timeout);
            env.processing_delay = Some(self.settings.efficiency_delay);
            env.batch_size = Some(20);
            let fleet = Fleet::local(&self.repo(), env);
            let world = World::new(&self.settings.bootstrap_servers, &topic, &dlq, &topic, &url)?;
            fleet.scale(consumers).await?;
            let owners = consumers.min(3);
            wait_for("the group to settle", Duration::from_secs(60), async || {
                world.group().ok().filter(|v| stable(v, consumers) && v.owners() == owners)
            })
            .await?;
            let producer = self.repo().binary("order-producer");
            eprintln!("$ {} --topic {topic} --count {orders} --rate 0", producer.display());
            let status = tokio::process::Command::new(producer)
                .args(["--topic", &topic, "--count", &orders.to_string(), "--rate", "0", "--seed", "11"])
                .env("RUST_LOG", "warn")
                .status()
                .await?;
            if !status.success() {
                bail!("the efficiency producer failed");
            }
            let expected = orders as i64;
            let budget = Duration::from_millis(orders * delay * 2) + Duration::from_secs(60);
            wait_for(&format!("{orders} rows with {consumers} consumer(s)"), budget, async || {
                world.row_counts().await.ok().filter(|(rows, _)| *rows >= expected)
            })
            .await?;
            fleet.scale(0).await?;
            let completion = world.stored_rate().await?;
            let busy = world.busy_rate().await?;
            let per_partition = world.rows_by_partition().await?;
            eprintln!(
                "    {consumers} consumer(s): {busy:.0} orders/s while all work, {completion:.0} orders/s first to last row; orders per partition {per_partition:?}"
            );
            runs.push(EfficiencyRun {
                consumers,
                rows_per_s: busy,
                completion_rows_per_s: completion,
                per_partition,
                efficiency: 0.0,
                completion_efficiency: 0.0,
            });
        }
        let (one, one_completion) = (runs[0].rows_per_s, runs[0].completion_rows_per_s);
        for r in &mut runs {
            r.efficiency = r.rows_per_s / (r.consumers as f64 * one);
            r.completion_efficiency = r.completion_rows_per_s / (r.consumers as f64 * one_completion);
        }
        Ok(Efficiency { delay_ms: delay, orders, batch_size: 20, runs })
    }
}
