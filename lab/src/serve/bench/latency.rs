//! How fast the lab shows a change: from a +1 consumer POSTed to the lab, or an owner SIGKILLed from outside the
//! page, to the coordinator showing the new assignment (described every [`GROUP_POLL`]) and to the lab's event
//! stream showing it (the JSON the page renders).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::consumers::ConsumerEnv;
use harness::consumers::fleet::Fleet;
use harness::world::World;
use serde::Serialize;
use serde_json::json;

use super::page::{Board, Events, Page, Target, group_until};
use super::{Bench, CONSUMERS, PARTITIONS, round};

/// How often the coordinator is asked, beside the lab's own once-a-second look.
pub const GROUP_POLL: Duration = Duration::from_millis(100);
/// How long a +1's new member may take to show.
const ADD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the group may take to settle back to 3 members.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the group must stay settled before a try.
const SETTLED_FOR: Duration = Duration::from_secs(3);
/// How long the reader may stay connected.
const READ_AT_MOST: Duration = Duration::from_secs(40 * 60);

/// One try of one change.
#[derive(Debug, Clone, Serialize)]
pub struct Try {
    /// `add` (+1 consumer, the lab's control) or `kill` (SIGKILL of an owner from outside the page).
    pub change: &'static str,
    pub n: u32,
    /// From the click or the kill to the coordinator showing the new assignment, seconds.
    pub group_s: f64,
    /// From the click or the kill to the lab's stream showing it, seconds.
    pub page_s: f64,
    /// `page_s - group_s`: what the page adds.
    pub extra_s: f64,
}

/// What the tries touch.
struct Setup<'a> {
    page: &'a Page,
    events: &'a Events,
    world: Arc<World>,
    fleet: Fleet,
}

impl Bench {
    /// The tries, on a topic, group and database of their own, with a `lab serve` of their own; records each try
    /// and the medians and worst of each change.
    pub(super) async fn latency(&mut self) -> anyhow::Result<()> {
        let (topic, database) = self.names("latency");
        self.stack.create_topic(&topic, PARTITIONS).await?;
        self.stack.create_topic(&format!("{topic}-dlq"), 1).await?;
        self.stack.create_database(&database).await?.close().await;
        let url = self.stack.url_of(&database);
        let target = Target {
            bootstrap: &self.stack.bootstrap,
            topic: &topic,
            group: &topic,
            database_url: &url,
            session_timeout: Some(self.args.session_timeout),
            count_every: None,
        };
        let local = self.work.join("latency-lab");
        let page = Page::start(&self.repo.root, &target, &local, &self.work.join("latency-lab.log")).await?;
        let fleet = Fleet::local_in(&self.repo, &local, ConsumerEnv::default());
        let world = World::new(&self.stack.bootstrap, &topic, &format!("{topic}-dlq"), &topic, &url);
        let outcome = match (page.events(READ_AT_MOST).await, world) {
            (Ok(events), Ok(world)) => {
                let setup = Setup { page: &page, events: &events, world: Arc::new(world), fleet: fleet.clone() };
                let outcome = self.tries(&setup).await;
                // Nothing left running: the producer and the consumers stopped through the lab, then the lab.
                for (path, body) in [("producer/stop", json!({})), ("consumers/set", json!({"count": 0}))] {
                    if let Err(e) = page.control(&events, path, body).await {
                        eprintln!("warning: {e:#}");
                    }
                }
                let (states, ended) = events.close().await;
                eprintln!(
                    "==> the tries' reader read {states} states{}",
                    ended.map_or_else(String::new, |e| format!(" ({e})"))
                );
                outcome
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        if let Err(e) = page.stop().await {
            eprintln!("warning: {e:#}");
        }
        // Any consumer the lab left (it failed half-way): stopped here, from the same folder.
        if let Err(e) = fleet.scale(0).await {
            eprintln!("warning: {e:#}");
        }
        self.stack.drop_database(&database, Duration::from_secs(30)).await?;
        self.stack.delete_topics(&[&topic, &format!("{topic}-dlq")]).await;
        outcome?;
        self.summarise()
    }

    async fn tries(&mut self, s: &Setup<'_>) -> anyhow::Result<()> {
        s.page.control(s.events, "consumers/set", json!({"count": CONSUMERS})).await?;
        s.page.control(s.events, "producer/start", json!({"rate": self.args.rate})).await?;
        settle(s).await?;
        let tries = self.args.tries;
        for n in 1..=tries {
            eprintln!("==> try {n} of {tries}: +1 consumer, POSTed as the page's button does");
            let t = add_try(s, n).await?;
            self.record(t)?;
            s.page.control(s.events, "consumers/remove", json!({})).await?;
            settle(s).await?;
        }
        for n in 1..=tries {
            eprintln!("==> try {n} of {tries}: an owner SIGKILLed from outside the page");
            let t = kill_try(s, n, self.args.session_timeout).await?;
            self.record(t)?;
            s.page.control(s.events, "consumers/add", json!({})).await?;
            settle(s).await?;
        }
        Ok(())
    }

    fn record(&mut self, t: Try) -> anyhow::Result<()> {
        eprintln!(
            "==> {} try {}: group {:.2} s, page {:.2} s, page - group {:.2} s",
            t.change, t.n, t.group_s, t.page_s, t.extra_s
        );
        let key = |name: &str| format!("{}.try{}.{name}", t.change, t.n);
        self.rec.record(&key("group_s"), format!("{:.2}", t.group_s))?;
        self.rec.record(&key("page_s"), format!("{:.2}", t.page_s))?;
        self.rec.record(&key("extra_s"), format!("{:.2}", t.extra_s))?;
        self.tries.push(t);
        Ok(())
    }

    /// Medians and worst of each change, and the verdict.
    fn summarise(&mut self) -> anyhow::Result<()> {
        let mut met = true;
        for change in ["add", "kill"] {
            let of = |f: fn(&Try) -> f64| self.tries.iter().filter(|t| t.change == change).map(f).collect::<Vec<_>>();
            let (group, page, extra) = (of(|t| t.group_s), of(|t| t.page_s), of(|t| t.extra_s));
            self.rec.record(&format!("{change}.tries"), extra.len())?;
            for (name, values) in [("group", &group), ("page", &page), ("extra", &extra)] {
                let median = super::median(values).context("no try measured")?;
                let worst = super::worst(values).context("no try measured")?;
                self.rec.record(&format!("{change}.{name}_median_s"), format!("{median:.2}"))?;
                self.rec.record(&format!("{change}.{name}_worst_s"), format!("{worst:.2}"))?;
                if name == "extra" {
                    met &= worst <= super::TARGET_EXTRA_S;
                }
            }
        }
        self.rec.record("latency.target_extra_s", super::TARGET_EXTRA_S)?;
        self.rec.record("latency.met", met)?;
        Ok(())
    }
}

/// +1 consumer through the lab's control; the change shows when the group has 4 members, stable, every partition
/// owned (so one idle).
async fn add_try(s: &Setup<'_>, n: u32) -> anyhow::Result<Try> {
    let clicked = Instant::now();
    s.page.post("consumers/add", json!({})).await?;
    let shown = |b: &Board| b.settled(CONSUMERS + 1);
    let group = group_until(&s.world, PARTITIONS, GROUP_POLL, "4 members, 1 idle", ADD_TIMEOUT, shown);
    let page = s
        .events
        .until("4 members, 1 idle", ADD_TIMEOUT, |seen| seen.at > clicked && shown(&Board::from_state(&seen.state)));
    let (group, page) = tokio::join!(group, page);
    Ok(timed("add", n, clicked, group?.0, page?))
}

/// SIGKILL of the owner of partition 0 through the fleet, as `lab scale kill` does; the change shows when the
/// group has 2 members without it, stable, every partition owned.
async fn kill_try(s: &Setup<'_>, n: u32, session_timeout: Duration) -> anyhow::Result<Try> {
    let (_, board) = group_until(&s.world, PARTITIONS, GROUP_POLL, "an owner of partition 0", ADD_TIMEOUT, |b| {
        b.owner_of(0).is_some()
    })
    .await?;
    let victim = board.owner_of(0).context("partition 0 has an owner")?.to_owned();
    let killed = Instant::now();
    s.fleet.kill(&victim).await?;
    let timeout = session_timeout + Duration::from_secs(60);
    let shown = |b: &Board| b.taken_over_from(&victim, CONSUMERS - 1);
    let what = format!("{victim}'s partition taken over");
    let group = group_until(&s.world, PARTITIONS, GROUP_POLL, &what, timeout, shown);
    let page = s.events.until(&what, timeout, |seen| seen.at > killed && shown(&Board::from_state(&seen.state)));
    let (group, page) = tokio::join!(group, page);
    Ok(timed("kill", n, killed, group?.0, page?))
}

fn timed(change: &'static str, n: u32, from: Instant, group: Instant, page: Instant) -> Try {
    let group_s = group.duration_since(from).as_secs_f64();
    let page_s = page.duration_since(from).as_secs_f64();
    Try { change, n, group_s: round(group_s, 3), page_s: round(page_s, 3), extra_s: round(page_s - group_s, 3) }
}

/// Waits until the group, as the coordinator and as the lab show it, has 3 members with one partition each, no
/// control runs, the fleet knows each member's client id (a kill needs it), and it has stayed so for
/// [`SETTLED_FOR`].
async fn settle(s: &Setup<'_>) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut since: Option<Instant> = None;
    loop {
        let settled = |b: &Board| b.settled(CONSUMERS) && b.idle() == 0;
        let (_, board) = group_until(&s.world, PARTITIONS, GROUP_POLL, "3 members", SETTLE_TIMEOUT, |_| true).await?;
        let page = s
            .events
            .latest()
            .is_some_and(|seen| seen.state["busy"].is_null() && settled(&Board::from_state(&seen.state)));
        let known: Vec<String> = s.fleet.running().await?.into_iter().filter_map(|r| r.client_id).collect();
        let fleet = board.members.iter().all(|(id, _)| known.contains(id)) && known.len() == CONSUMERS;
        if settled(&board) && page && fleet {
            let at = *since.get_or_insert_with(Instant::now);
            if at.elapsed() >= SETTLED_FOR {
                return Ok(());
            }
        } else {
            since = None;
        }
        if Instant::now() >= deadline {
            bail!(
                "the group did not settle to 3 members within {SETTLE_TIMEOUT:?}: the group {board}; the lab {}; \
                 the fleet knows {known:?}",
                s.events
                    .latest()
                    .map_or_else(|| "no state".to_owned(), |seen| Board::from_state(&seen.state).to_string())
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
