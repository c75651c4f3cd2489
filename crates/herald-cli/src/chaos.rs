//! `herald chaos`: a counted workload against a database (and a broker) while faults are
//! injected, every event counted end to end.
//!
//! Producers commit orders with their events into the outbox; `herald relay` runs as a
//! child process; a consumer with an inbox runs in this process and applies each order's
//! effect. A scenario injects its fault while the producers run, then everything settles
//! and the databases are counted: `committed` orders, `delivered` (distinct effects),
//! `lost` (committed without an effect, must be 0), `duplicates_delivered` (redeliveries
//! the inbox absorbed), `duplicates_applied` (effects applied twice, must be 0) and
//! `recovery_ms` (the longest time from the end of a fault to the delivery of the first
//! event committed after it, or of the last event when the producers had finished).
//!
//! Scenarios: `relay-kill` (the relay SIGKILLed and started again, `--kills` times) and,
//! with a broker, `network-cut` (the relay reaches the broker through a TCP proxy on
//! loopback that resets every connection and refuses new ones for 2 s, `--kills` times).

mod proxy;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_bench::workload::{self, OrderPlaced, ProducerApi, ProducerPlan, RecordOrder, Tracker};
use herald_consumer::{Consumer, ConsumerConfig, ConsumerStats, Router};
use herald_db::{Database, DatabaseOptions};
use herald_envelope::Event;
use herald_outbox::{Outbox, OutboxConfig};
use serde::Serialize;
use tokio::sync::watch;

use crate::transport::BrokerArgs;

/// The scenarios `herald chaos` knows.
pub const SCENARIOS: &[&str] = &["relay-kill", "network-cut"];

/// How long `network-cut` keeps the relay from the broker each time.
const CUT: Duration = Duration::from_secs(2);

/// What one run injects and how much work it does.
#[derive(Clone, Debug)]
pub struct ChaosPlan {
    /// The database URL (PostgreSQL or an SQLite file).
    pub database: String,
    /// The broker; none is the embedded log. The run declares (and deletes at its end)
    /// its own consumer group `shipping` under the namespace: give one no deployment uses.
    pub broker: BrokerArgs,
    /// Scenario names from [`SCENARIOS`].
    pub scenarios: Vec<String>,
    /// Orders per scenario.
    pub events: u64,
    /// Producer tasks.
    pub producers: u64,
    /// Faults per scenario.
    pub kills: u32,
    /// Longest wait for everything to be applied after the faults.
    pub settle_timeout: Duration,
}

/// One scenario's counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScenarioReport {
    /// The scenario.
    pub scenario: String,
    /// Faults injected.
    pub faults: u32,
    /// Orders committed with their events.
    pub committed: i64,
    /// Distinct orders whose effect the consumer committed.
    pub delivered: i64,
    /// Committed orders without an effect (must be 0).
    pub lost: i64,
    /// Redeliveries the inbox recognised and did not apply again.
    pub duplicates_delivered: u64,
    /// Effects applied more than once (must be 0).
    pub duplicates_applied: i64,
    /// Effects of a customer applied out of commit order (must be 0).
    pub order_violations: i64,
    /// The longest time from a fault's end to the delivery of the first event committed
    /// after it (or of the last event, when the producers had finished), in milliseconds.
    pub recovery_ms: u64,
}

impl ScenarioReport {
    /// Whether the guarantees held: nothing lost, nothing applied twice, order kept.
    pub fn held(&self) -> bool {
        self.lost == 0 && self.duplicates_applied == 0 && self.order_violations == 0
    }
}

/// Runs every scenario of the plan, one after the other, each with its own run id.
pub async fn run(plan: &ChaosPlan) -> anyhow::Result<Vec<ScenarioReport>> {
    for scenario in &plan.scenarios {
        if !SCENARIOS.contains(&scenario.as_str()) {
            bail!("--scenario: `{scenario}` is not one of {}", SCENARIOS.join(", "));
        }
    }
    let options = DatabaseOptions { max_connections: 16, ..DatabaseOptions::default() };
    let db = Database::connect(&plan.database, &options).await.context("--database")?;
    db.migrate().await.context("applying Herald's migrations")?;
    workload::create_tables(&db, &db).await.context("creating the workload's tables")?;
    let mut reports = Vec::new();
    for scenario in &plan.scenarios {
        eprintln!("chaos: {scenario}: {} events, {} faults …", plan.events, plan.kills);
        if scenario == "network-cut" && plan.broker.broker.is_none() {
            eprintln!(
                "chaos: network-cut needs --broker (the embedded log has no network); skipped"
            );
            continue;
        }
        let report = inject(plan, &db, scenario).await?;
        eprintln!(
            "chaos: {scenario}: committed {}, delivered {}, lost {}, applied twice {}, recovery {} ms",
            report.committed,
            report.delivered,
            report.lost,
            report.duplicates_applied,
            report.recovery_ms
        );
        reports.push(report);
    }
    db.close().await;
    Ok(reports)
}

/// Injects the scenario's fault `plan.kills` times while the producers commit.
async fn inject(plan: &ChaosPlan, db: &Database, scenario: &str) -> anyhow::Result<ScenarioReport> {
    let run = format!("chaos-{}", uuid::Uuid::now_v7().simple());
    let transport = plan.broker.open(db, OutboxConfig::default().partitions)?;
    let pattern = OrderPlaced::routing_key().parse().context("the orders' routing key")?;
    transport.declare_group("shipping", &[pattern]).await.context("declaring the consumer")?;
    let consumer = ChaosConsumer::start(db, &run, Arc::clone(&transport.subscriber));
    let proxy = match (&plan.broker.broker, scenario) {
        (Some(url), "network-cut") => Some(proxy::Proxy::start(upstream(url)?).await?),
        _ => None,
    };
    let relay_broker = match (&plan.broker.broker, &proxy) {
        (Some(url), Some(proxy)) => Some(through(url, proxy.address)?),
        (url, _) => url.clone(),
    };
    let mut relay = Relay::spawn(plan, relay_broker.as_deref())?;
    let produced = Arc::new(AtomicU64::new(0));
    let producers = produce(db, &run, plan.events, plan.producers, &produced)?;
    let mut recovery = Duration::ZERO;
    for kill in 1..=plan.kills {
        let threshold = plan.events * u64::from(kill) / (u64::from(plan.kills) + 1);
        while produced.load(Ordering::Relaxed) < threshold {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let handled_before = consumer.tracker.handled.load(Ordering::Relaxed);
        let restarted = match &proxy {
            Some(proxy) => {
                proxy.cut();
                tokio::time::sleep(CUT).await;
                proxy.restore();
                Instant::now()
            }
            None => {
                relay.kill()?;
                relay = Relay::spawn(plan, relay_broker.as_deref())?;
                Instant::now()
            }
        };
        if handled_before < plan.events {
            let took = recovery_after(restarted, &consumer.tracker, &produced, plan.events).await;
            recovery = recovery.max(took);
        }
        // else everything was delivered before the fault: nothing to recover
    }
    producers.await.context("the producers")??;
    let verification = settle(db, &run, plan.settle_timeout).await?;
    relay.kill()?;
    let duplicates_delivered = consumer.stats.duplicates_suppressed.load(Ordering::Relaxed);
    consumer.stop().await?;
    transport.delete_topology(&["shipping"]).await.context("deleting the run's queue")?;
    Ok(ScenarioReport {
        scenario: scenario.to_owned(),
        faults: plan.kills,
        committed: verification.produced,
        delivered: verification.delivered,
        lost: verification.lost,
        duplicates_delivered,
        duplicates_applied: verification.applied_twice,
        order_violations: verification.order_violations,
        recovery_ms: u64::try_from(recovery.as_millis()).unwrap_or(u64::MAX),
    })
}

/// How long after a fault's end (`ended`) an event committed after it was delivered (or,
/// when the producers had finished, the last of the `events`); at most 60 s.
async fn recovery_after(
    ended: Instant,
    tracker: &Tracker,
    produced: &AtomicU64,
    events: u64,
) -> Duration {
    let ended_us = workload::now_us();
    let recovered = || {
        tracker.newest_due_at_us.load(Ordering::Relaxed) > ended_us
            || produced.load(Ordering::Relaxed) >= events
                && tracker.handled.load(Ordering::Relaxed) >= events
    };
    let deadline = ended + Duration::from_secs(60);
    while !recovered() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    ended.elapsed()
}

/// `herald relay` as a child process of this one.
struct Relay(Child);

impl Relay {
    fn spawn(plan: &ChaosPlan, broker: Option<&str>) -> anyhow::Result<Relay> {
        let mut command = Command::new(std::env::current_exe().context("finding herald")?);
        command
            .args(["relay", "--database", &plan.database, "--poll-interval-ms", "100"])
            .args(["--namespace", &plan.broker.namespace])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(broker) = broker {
            command.args(["--broker", broker]);
        }
        Ok(Relay(command.spawn().context("starting herald relay")?))
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.0.kill().context("SIGKILL the relay")?;
        self.0.wait().context("reaping the relay")?;
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `host:port` a broker URL names.
fn upstream(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).context("--broker is not a URL")?;
    let host = parsed.host_str().context("--broker has no host")?;
    let port = parsed.port().unwrap_or(if parsed.scheme() == "nats" { 4222 } else { 5672 });
    Ok(format!("{host}:{port}"))
}

/// The broker URL with its host and port replaced by the proxy's.
fn through(url: &str, proxy: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url).context("--broker is not a URL")?;
    let host = proxy.ip().to_string();
    parsed.set_host(Some(&host)).ok().context("the broker URL takes no host")?;
    parsed.set_port(Some(proxy.port())).ok().context("the broker URL takes no port")?;
    Ok(parsed.to_string())
}

/// The consuming service `shipping`, with its inbox, in this process.
struct ChaosConsumer {
    stats: Arc<ConsumerStats>,
    tracker: Arc<Tracker>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl ChaosConsumer {
    fn start(db: &Database, run: &str, subscriber: Arc<dyn herald_transport::Subscriber>) -> Self {
        let tracker = Arc::new(Tracker::new(run));
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let config = ConsumerConfig::new("shipping");
        let (stats, task) = match db.clone() {
            Database::Postgres(pool) => {
                let consumer = Consumer::new(
                    config,
                    pool,
                    Router::new().on(RecordOrder::new(Arc::clone(&tracker))),
                );
                let stats = consumer.stats();
                let task = tokio::spawn(async move {
                    consumer.run(subscriber.as_ref(), shutdown).await.context("the consumer")
                });
                (stats, task)
            }
            Database::Sqlite(sqlite) => {
                let consumer = Consumer::new(
                    config,
                    sqlite.writer,
                    Router::new().on(RecordOrder::new(Arc::clone(&tracker))),
                );
                let stats = consumer.stats();
                let task = tokio::spawn(async move {
                    consumer.run(subscriber.as_ref(), shutdown).await.context("the consumer")
                });
                (stats, task)
            }
        };
        ChaosConsumer { stats, tracker, stop, task }
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        self.task.await.context("the consumer task")?
    }
}

/// `events` orders from `producers` tasks, as fast as they commit (shared with the
/// end-to-end tests).
pub fn produce(
    db: &Database,
    run: &str,
    events: u64,
    producers: u64,
    produced: &Arc<AtomicU64>,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<u64>>> {
    let mut outbox = Outbox::new(OutboxConfig::default())?;
    if let Database::Postgres(pool) = db {
        outbox = outbox.with_wakeup(herald_db::Wakeup::for_postgres(pool.clone()));
    }
    let tasks: Vec<_> = (0..producers)
        .map(|producer| {
            let plan = ProducerPlan {
                run: run.into(),
                events,
                rate: 0,
                customers: 200,
                producers,
                producer,
                events_per_tx: 1,
                api: ProducerApi::default(),
            };
            let (db, outbox, produced) = (db.clone(), outbox.clone(), Arc::clone(produced));
            tokio::spawn(async move { workload::produce(db, outbox, plan, &produced).await })
        })
        .collect();
    Ok(tokio::spawn(async move {
        let mut total = 0;
        for task in tasks {
            total += task.await.context("a producer task")?.context("a producer")?;
        }
        Ok(total)
    }))
}

/// Waits until every committed order was applied (or `timeout`), then counts (shared
/// with the end-to-end tests).
pub async fn settle(
    db: &Database,
    run: &str,
    timeout: Duration,
) -> anyhow::Result<workload::Verification> {
    let deadline = Instant::now() + timeout;
    loop {
        let verification = workload::verify(db, db, run).await.context("counting")?;
        if verification.lost == 0 || Instant::now() >= deadline {
            return Ok(verification);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
