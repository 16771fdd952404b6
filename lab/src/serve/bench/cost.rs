//! What the lab costs: pairs of throughput runs, the lab closed and open, the order alternating from pair to pair.

use std::time::{Duration, Instant};

use anyhow::Context;
use harness::consumers::ConsumerEnv;
use harness::world::World;
use serde::Serialize;

use super::page::{Page, Target};
use super::{Bench, CONSUMERS, PARTITIONS, round};

/// How long one run may take to store its orders.
const STORE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long the reader may stay connected to one run's lab.
const READ_AT_MOST: Duration = Duration::from_secs(20 * 60);

/// One throughput run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub label: String,
    pub lab_open: bool,
    /// Rows over the time between the first and the last row (`World::stored_rate`).
    pub rows_per_s: f64,
    /// From the consumers' start to every partition committed to its log end.
    pub wall_s: f64,
    /// The consumers' CPU time together.
    pub consumer_cpu_s: f64,
    /// Open: the lab's own CPU time over the run, and the states its one reader received.
    pub lab_cpu_s: Option<f64>,
    pub states_read: Option<u64>,
}

/// A pair of runs and the ratio of their rates.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub pair: u32,
    /// `closed-open` or `open-closed`.
    pub order: String,
    pub closed: Run,
    pub open: Run,
    /// Open rows/s over closed rows/s.
    pub ratio: f64,
}

impl Bench {
    /// The pairs; records every run, each pair's ratio, their median and the verdict.
    pub(super) async fn costs(&mut self) -> anyhow::Result<()> {
        let pairs = self.args.pairs;
        for pair in 1..=pairs {
            let open_first = pair % 2 == 0;
            let order = if open_first { "open-closed" } else { "closed-open" };
            eprintln!("==> cost, pair {pair} of {pairs} ({order}): {} orders, 3 consumers each", self.args.orders);
            let (first, second) = if open_first {
                (self.cost_run(pair, true).await?, self.cost_run(pair, false).await?)
            } else {
                (self.cost_run(pair, false).await?, self.cost_run(pair, true).await?)
            };
            let (open, closed) = if open_first { (first, second) } else { (second, first) };
            let ratio = open.rows_per_s / closed.rows_per_s;
            self.rec.record(&format!("pair{pair}.order"), order)?;
            self.rec.record(&format!("pair{pair}.ratio"), format!("{ratio:.4}"))?;
            eprintln!(
                "==> pair {pair}: closed {:.0} rows/s, open {:.0} rows/s, open/closed {ratio:.4}",
                closed.rows_per_s, open.rows_per_s
            );
            self.cost.push(Pair { pair, order: order.to_owned(), closed, open, ratio: round(ratio, 4) });
        }
        let ratios: Vec<f64> = self.cost.iter().map(|p| p.ratio).collect();
        let median = super::median(&ratios).context("no pair measured")?;
        self.rec.record("cost.pairs", self.cost.len())?;
        self.rec.record("cost.median_ratio", format!("{median:.4}"))?;
        self.rec.record("cost.target_ratio", super::TARGET_RATIO)?;
        self.rec.record("cost.met", median >= super::TARGET_RATIO)?;
        Ok(())
    }

    /// One run: a topic of its own filled with the orders, then 3 consumers in a group of its own storing them
    /// into a database of its own, with the lab open (serving, one reader on its stream) or closed. The topic and
    /// database are removed after it.
    async fn cost_run(&mut self, pair: u32, open: bool) -> anyhow::Result<Run> {
        let label = format!("p{pair}{}", if open { "open" } else { "closed" });
        let (topic, database) = self.names(&label);
        let orders = self.args.orders;
        self.stack.create_topic(&topic, PARTITIONS).await?;
        let (log, summary) =
            (self.work.join(format!("{label}-producer.log")), self.work.join(format!("{label}-producer.json")));
        let name = format!("the producer of {label}");
        let produced = harness::producer::produce(&self.stack, &name, &topic, (orders, 0), &[], &log, &summary).await;
        let outcome = match produced {
            Ok(_) => self.stored(&label, open, &topic, &database).await,
            Err(e) => Err(e),
        };
        self.stack.drop_database(&database, Duration::from_secs(30)).await?;
        self.stack.delete_topics(&[&topic, &format!("{topic}-dlq")]).await;
        let run = outcome?;
        let key = |name: &str| format!("{label}.{name}");
        self.rec.record(&key("rows_per_s"), format!("{:.0}", run.rows_per_s))?;
        self.rec.record(&key("wall_s"), format!("{:.2}", run.wall_s))?;
        self.rec.record(&key("consumer_cpu_s"), format!("{:.2}", run.consumer_cpu_s))?;
        if let (Some(cpu), Some(states)) = (run.lab_cpu_s, run.states_read) {
            self.rec.record(&key("lab_cpu_s"), format!("{cpu:.2}"))?;
            self.rec.record(&key("states_read"), states)?;
        }
        Ok(run)
    }

    /// The stored part of [`Bench::cost_run`], after the topic is filled; stops what it started either way.
    async fn stored(&self, label: &str, open: bool, topic: &str, database: &str) -> anyhow::Result<Run> {
        self.stack.create_database(database).await?.close().await;
        let url = self.stack.url_of(database);
        let (page, events) = if open {
            let target = Target {
                bootstrap: &self.stack.bootstrap,
                topic,
                group: topic,
                database_url: &url,
                session_timeout: None,
                count_every: self.args.lab_count_every,
            };
            let local = self.work.join(format!("{label}-lab"));
            let page =
                Page::start(&self.repo.root, &target, &local, &self.work.join(format!("{label}-lab.log"))).await?;
            let events = match page.events(READ_AT_MOST).await {
                Ok(events) => events,
                Err(e) => {
                    page.stop().await?;
                    return Err(e);
                }
            };
            // Open as a page is: its first state read before the consumers start.
            let first = events.until("the lab's first state", Duration::from_secs(30), |_| true).await;
            if let Err(e) = first {
                events.close().await;
                page.stop().await?;
                return Err(e);
            }
            (Some(page), Some(events))
        } else {
            (None, None)
        };
        self.stack.checkpoint().await;
        let started = Instant::now();
        let logs = self.work.join(format!("{label}-consumers"));
        let members =
            self.stack.start_consumers(topic, CONSUMERS, topic, database, logs, &ConsumerEnv::default()).await;
        let measured = async {
            let world = World::new(&self.stack.bootstrap, topic, "", topic, &url)?;
            let stored = world.wait_stored(i64::try_from(self.args.orders)?, STORE_TIMEOUT).await;
            let wall_s = started.elapsed().as_secs_f64();
            let rate = match stored {
                Ok(_) => world.stored_rate().await,
                Err(e) => Err(e),
            };
            world.pool.close().await;
            anyhow::Ok((rate?, wall_s))
        };
        let measured = match &members {
            Ok(_) => measured.await,
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        let mut consumer_cpu_s = 0.0;
        if let Ok(mut members) = members {
            members.stop_all().await;
            consumer_cpu_s = members.exits().iter().map(|(_, e)| e.cpu_s).sum();
        }
        let states_read = match events {
            Some(events) => {
                let (states, ended) = events.close().await;
                if let Some(why) = ended {
                    eprintln!("warning: the reader of {label}'s lab: {why}");
                }
                Some(states)
            }
            None => None,
        };
        let lab_cpu_s = match page {
            Some(page) => Some(page.stop().await?.cpu_s),
            None => None,
        };
        let (rows_per_s, wall_s) = measured?;
        Ok(Run {
            label: label.to_owned(),
            lab_open: open,
            rows_per_s: round(rows_per_s, 0),
            wall_s: round(wall_s, 2),
            consumer_cpu_s: round(consumer_cpu_s, 2),
            lab_cpu_s: lab_cpu_s.map(|c| round(c, 2)),
            states_read,
        })
    }
}
