//! `herald chaos`: a counted workload against a database (and a broker) while faults are
//! injected, every event counted end to end.
//!
//! Producers commit orders with their events into the outbox; `herald relay` runs as a
//! child process; a consumer with an inbox runs in this process (in a child process for
//! `consumer-kill`) and applies each order's effect. A scenario injects its fault while the producers run, then everything settles
//! and the databases are counted: `committed` orders, `delivered` (distinct effects),
//! `lost` (committed without an effect, must be 0), `duplicates_delivered` (redeliveries
//! the inbox absorbed), `duplicates_applied` (effects applied twice, must be 0) and
//! `recovery_ms` (the longest time from the end of a fault to the delivery of the first
//! event committed after it, or of the last event when the producers had finished).
//!
//! Scenarios, each fault injected `--kills` times: `relay-kill` (a relay SIGKILLed and
//! started again), `consumer-kill` (a consumer, a child process whose handlers take
//! 1 ms inside their transactions, SIGKILLed and started again), `slow-consumer` (the
//! consumers replaced, for the outage, by ones whose handlers take 20 ms: the backlog
//! grows in the broker, not in any process's memory), `database-restart` (the operator's
//! commands stop the database and, after the outage, start it again: producers, relays
//! and consumers ride it out), `disk-full` (the filesystem holding an SQLite database
//! filled for the outage, so that every write fails) and, with a broker, `network-cut`
//! (the relays reach the broker through a TCP proxy on loopback that resets every
//! connection and refuses new ones for the outage), `network-stall` (the proxy holds
//! every byte, connections open, for the outage) and `broker-restart` (the operator's
//! commands stop the broker and, after the outage, start it again).
//!
//! With `--relays` and `--consumers` above 1, one process of the kind is killed at a
//! time while the others go on: `max_latency_ms` then says how long delivery of any
//! event stopped (run with `--rate` below the pipeline's capacity, so that a backlog
//! does not add to it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use herald_bench::workload::{
    self, OrderPlaced, ProducerApi, ProducerPlan, ProducerRetry, RecordOrder, Tracker,
};
use herald_consumer::{Consumer, ConsumerConfig, ConsumerStats, Router};
use herald_db::{Database, DatabaseOptions};
use herald_envelope::Event;
use herald_faults::Proxy;
use herald_outbox::{Outbox, OutboxConfig};
use serde::Serialize;
use tokio::sync::watch;

use crate::transport::BrokerArgs;

/// The scenarios `herald chaos` knows.
pub const SCENARIOS: &[&str] = &[
    "relay-kill",
    "consumer-kill",
    "slow-consumer",
    "network-cut",
    "network-stall",
    "broker-restart",
    "database-restart",
    "disk-full",
];

/// How long a producer tries a failed transaction again before the run fails: longer
/// than any outage a scenario injects.
const PRODUCER_RETRY_FOR: Duration = Duration::from_secs(660);

/// The most free space `disk-full` fills: beyond it, the database is on a filesystem
/// too big to fill safely.
const MOST_BALLAST_BYTES: u64 = 2 << 30;

/// How long `network-cut` holds every byte before it closes the connections: what the
/// relay wrote meanwhile is lost with them, while what it writes next waits in its
/// client for the reconnection.
const SILENCE_BEFORE_CUT: Duration = Duration::from_millis(300);

/// How long each handler of `slow-consumer`'s slowed consumer takes, inside its
/// transaction: far slower than the producers.
const SLOW_HANDLER: &str = "20";

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
    /// Orders per second over all producers; 0 = as fast as they commit.
    pub rate: u64,
    /// Relay processes.
    pub relays: u32,
    /// Consumer processes of the group (1: the consumer runs in this process, except
    /// for the scenarios that stop it).
    pub consumers: u32,
    /// Faults per scenario.
    pub kills: u32,
    /// Longest wait for everything to be applied after the faults.
    pub settle_timeout: Duration,
    /// How long a cut, a stall or a stopped broker lasts each time.
    pub outage: Duration,
    /// Shell commands that stop and start the broker (`broker-restart`).
    pub broker_commands: Option<ServiceCommands>,
    /// Shell commands that stop and start the database (`database-restart`).
    pub database_commands: Option<ServiceCommands>,
}

/// How the operator stops and starts a server (the broker, the database), run with
/// `sh -c`; `stop` returns once it is down, `start` once it serves again (e.g.
/// `rabbitmqctl start_app && rabbitmqctl await_startup`).
#[derive(Clone, Debug)]
pub struct ServiceCommands {
    /// Stops the server.
    pub stop: String,
    /// Starts it again.
    pub start: String,
}

impl ChaosPlan {
    /// Why `scenario` cannot run with this plan, if it cannot.
    pub fn cannot_run(&self, scenario: &str) -> Option<&'static str> {
        let networked = ["network-cut", "network-stall", "broker-restart"].contains(&scenario);
        if networked && self.broker.broker.is_none() {
            return Some("needs --broker (the embedded log has no network)");
        }
        if scenario == "broker-restart" && self.broker_commands.is_none() {
            return Some("needs --broker-stop-cmd and --broker-start-cmd");
        }
        if scenario == "database-restart" && self.database_commands.is_none() {
            return Some("needs --database-stop-cmd and --database-start-cmd");
        }
        if scenario == "disk-full" && !self.database.starts_with("sqlite:") {
            return Some("needs an SQLite --database (on a small filesystem, such as a tmpfs)");
        }
        None
    }

    /// Whether the consumers run as processes of their own (so that they can be stopped).
    fn consumer_processes(&self, scenario: &str) -> bool {
        self.consumers > 1 || ["consumer-kill", "slow-consumer"].contains(&scenario)
    }

    /// The scenarios asked for, or, when none was, every one this plan can run.
    fn chosen(&self) -> anyhow::Result<Vec<String>> {
        let nats = self.broker.broker.as_deref().is_some_and(is_nats);
        if nats && self.consumers > 1 {
            bail!(
                "--consumers {}: NATS JetStream's group members do not keep a key's order; \
                 run one consumer",
                self.consumers
            );
        }
        if self.scenarios.is_empty() {
            let runnable = SCENARIOS.iter().filter(|s| self.cannot_run(s).is_none());
            return Ok(runnable.map(|s| (*s).to_owned()).collect());
        }
        for scenario in &self.scenarios {
            if !SCENARIOS.contains(&scenario.as_str()) {
                bail!("--scenario: `{scenario}` is not one of {}", SCENARIOS.join(", "));
            }
            if let Some(reason) = self.cannot_run(scenario) {
                bail!("--scenario {scenario} {reason}");
            }
        }
        Ok(self.scenarios.clone())
    }
}

/// One scenario's counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScenarioReport {
    /// The scenario.
    pub scenario: String,
    /// Faults injected.
    pub faults: u32,
    /// Relay processes.
    pub relays: u32,
    /// Consumer processes (0: the consumer ran inside `herald chaos`).
    pub consumer_processes: u32,
    /// Orders committed with their events.
    pub committed: i64,
    /// Distinct orders whose effect the consumer committed.
    pub delivered: i64,
    /// Committed orders without an effect (must be 0).
    pub lost: i64,
    /// Redeliveries the inbox recognised and did not apply again; `null` after
    /// `consumer-kill`, whose killed processes take their counts with them.
    pub duplicates_delivered: Option<u64>,
    /// Effects applied more than once (must be 0).
    pub duplicates_applied: i64,
    /// Effects of a customer applied out of commit order (must be 0).
    pub order_violations: i64,
    /// The longest time from a fault's end to the delivery of the first event committed
    /// after it (or of the last event, when the producers had finished), in milliseconds.
    pub recovery_ms: u64,
    /// The longest time an event waited, from its commit (or its due time, with
    /// `--rate`) to its effect, in milliseconds.
    pub max_latency_ms: i64,
    /// Producer transactions that failed and were tried again (a database away, a disk
    /// full): at least one shows the fault reached the producers.
    pub producer_retries: u64,
    /// The most events committed and not yet applied at the end of a fault.
    pub peak_backlog: u64,
    /// The highest resident memory of the relay processes, in MiB (`VmHWM`).
    pub relay_peak_rss_mib: u64,
    /// The same of the consumer processes, where the consumer runs as one (`null` when
    /// it runs inside `herald chaos`).
    pub consumer_peak_rss_mib: Option<u64>,
}

impl ScenarioReport {
    /// Whether the guarantees held: nothing lost, nothing applied twice, order kept.
    pub fn held(&self) -> bool {
        self.lost == 0 && self.duplicates_applied == 0 && self.order_violations == 0
    }
}

/// Runs every scenario of the plan, one after the other, each with its own run id.
pub async fn run(plan: &ChaosPlan) -> anyhow::Result<Vec<ScenarioReport>> {
    let scenarios = plan.chosen()?;
    let options = DatabaseOptions { max_connections: 16, ..DatabaseOptions::default() };
    let db = Database::connect(&plan.database, &options).await.context("--database")?;
    db.migrate().await.context("applying Herald's migrations")?;
    workload::create_tables(&db, &db).await.context("creating the workload's tables")?;
    let mut reports = Vec::new();
    for scenario in &scenarios {
        eprintln!("chaos: {scenario}: {} events, {} faults …", plan.events, plan.kills);
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
    let mut shipping = if plan.consumer_processes(scenario) {
        let consumers =
            (1..=plan.consumers.max(1)).map(|member| Process::consumer(plan, member, "1"));
        Shipping::Processes(consumers.collect::<anyhow::Result<_>>()?)
    } else {
        Shipping::InProcess(ChaosConsumer::start(db, &run, Arc::clone(&transport.subscriber)))
    };
    let proxy = match (&plan.broker.broker, scenario) {
        (Some(url), "network-cut" | "network-stall") => Some(Proxy::start(upstream(url)?).await?),
        _ => None,
    };
    let relay_broker = match (&plan.broker.broker, &proxy) {
        (Some(url), Some(proxy)) => Some(through(url, proxy.address)?),
        (url, _) => url.clone(),
    };
    let relay_broker = relay_broker.as_deref();
    let mut relays = (0..plan.relays.max(1))
        .map(|_| Process::relay(plan, relay_broker))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let produced = Arc::new(AtomicU64::new(0));
    let workload = Workload {
        run: run.clone(),
        events: plan.events,
        producers: plan.producers,
        rate: plan.rate,
        retry: ProducerRetry { retry_for: PRODUCER_RETRY_FOR, ..ProducerRetry::default() },
    };
    let producers = spawn_producers(db, &workload, &produced)?;
    let mut recovery = Duration::ZERO;
    let mut peaks = Peaks::default();
    for kill in 1..=plan.kills {
        let threshold = plan.events * u64::from(kill) / (u64::from(plan.kills) + 1);
        while produced.load(Ordering::Relaxed) < threshold {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let applied_before = shipping.applied(db, &run).await?;
        // One process of the kind at a time, in turn, while the others go on.
        let victim = (kill - 1) as usize;
        match (scenario, &proxy) {
            ("relay-kill", _) => {
                let count = relays.len();
                let relay = &mut relays[victim % count];
                relay.kill(&mut peaks)?;
                *relay = Process::relay(plan, relay_broker)?;
            }
            ("consumer-kill", _) => {
                shipping.replace(plan, Some(victim), Stop::Kill, "1", &mut peaks)?
            }
            ("slow-consumer", _) => {
                shipping.replace(plan, None, Stop::Terminate, SLOW_HANDLER, &mut peaks)?;
                tokio::time::sleep(plan.outage).await;
                shipping.replace(plan, None, Stop::Terminate, "1", &mut peaks)?;
            }
            ("broker-restart", _) => {
                let commands =
                    plan.broker_commands.as_ref().context("--broker-stop-cmd is missing")?;
                restart(commands, "--broker", plan.outage).await?;
            }
            ("database-restart", _) => {
                let commands =
                    plan.database_commands.as_ref().context("--database-stop-cmd is missing")?;
                restart(commands, "--database", plan.outage).await?;
            }
            ("disk-full", _) => {
                let ballast = Ballast::fill(&plan.database, &run).await?;
                tokio::time::sleep(plan.outage).await;
                drop(ballast);
            }
            (_, Some(proxy)) => {
                proxy.stall();
                if scenario == "network-cut" {
                    // As networks fail: first silence, then the connections reset.
                    tokio::time::sleep(SILENCE_BEFORE_CUT).await;
                    proxy.cut();
                }
                tokio::time::sleep(plan.outage).await;
                proxy.restore();
            }
            (_, None) => bail!("chaos: the scenario `{scenario}` has no proxy"),
        }
        let ended = Progress {
            at: Instant::now(),
            at_us: workload::now_us(),
            applied: shipping.applied(db, &run).await?,
        };
        let backlog = produced.load(Ordering::Relaxed).saturating_sub(ended.applied);
        peaks.backlog = peaks.backlog.max(backlog);
        if applied_before < plan.events {
            let took = recovery_after(&ended, &shipping, db, &run, &produced, plan.events).await?;
            recovery = recovery.max(took);
        }
        // else everything was delivered before the fault: nothing to recover
    }
    producers.await.context("the producers")??;
    let verification = settle(db, &run, plan.settle_timeout).await?;
    for relay in &mut relays {
        relay.kill(&mut peaks)?;
    }
    let shipping_processes = match &shipping {
        Shipping::Processes(processes) => u32::try_from(processes.len()).unwrap_or(u32::MAX),
        Shipping::InProcess(_) => 0,
    };
    let duplicates_delivered = shipping.stop(&mut peaks).await?;
    transport.delete_topology(&["shipping"]).await.context("deleting the run's queue")?;
    Ok(ScenarioReport {
        scenario: scenario.to_owned(),
        faults: plan.kills,
        relays: plan.relays.max(1),
        consumer_processes: shipping_processes,
        committed: verification.produced,
        delivered: verification.delivered,
        lost: verification.lost,
        duplicates_delivered,
        duplicates_applied: verification.applied_twice,
        order_violations: verification.order_violations,
        recovery_ms: u64::try_from(recovery.as_millis()).unwrap_or(u64::MAX),
        max_latency_ms: verification.max_latency_ms,
        producer_retries: workload.retry.failed_attempts.load(Ordering::Relaxed),
        peak_backlog: peaks.backlog,
        relay_peak_rss_mib: peaks.relay_rss_kib / 1024,
        consumer_peak_rss_mib: peaks.consumer_rss_kib.map(|kib| kib / 1024),
    })
}

/// The highest backlog and memory seen in a scenario.
#[derive(Default)]
struct Peaks {
    backlog: u64,
    relay_rss_kib: u64,
    consumer_rss_kib: Option<u64>,
}

impl Peaks {
    /// Takes in the peak memory of a process about to stop.
    fn observe(&mut self, process: &Process) {
        let Some(kib) = process.peak_rss_kib() else { return };
        match process.role {
            Role::Relay => self.relay_rss_kib = self.relay_rss_kib.max(kib),
            Role::Consumer => {
                self.consumer_rss_kib = Some(self.consumer_rss_kib.unwrap_or(0).max(kib));
            }
        }
    }
}

/// Stops a server with the operator's command, waits out the outage, and starts it;
/// `flag` (`--broker`, `--database`) names the commands in errors.
async fn restart(commands: &ServiceCommands, flag: &str, outage: Duration) -> anyhow::Result<()> {
    shell(&format!("{flag}-stop-cmd"), &commands.stop).await?;
    tokio::time::sleep(outage).await;
    shell(&format!("{flag}-start-cmd"), &commands.start).await
}

/// A file that fills the filesystem holding an SQLite database, so that every write
/// to the database fails for want of space; removed when dropped.
struct Ballast {
    path: PathBuf,
}

impl Ballast {
    /// Fills the filesystem of the database file in `database_url`; refuses one with
    /// more than [`MOST_BALLAST_BYTES`] free.
    async fn fill(database_url: &str, run: &str) -> anyhow::Result<Ballast> {
        let file = sqlite_file(database_url)?;
        let directory = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stats = rustix::fs::statvfs(&directory).with_context(|| {
            format!("disk-full: reading the free space of {}", directory.display())
        })?;
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if free > MOST_BALLAST_BYTES {
            bail!(
                "disk-full fills the filesystem holding {}, which has {} MiB free: put the \
                 database on a small one (at most {} MiB free), such as a tmpfs: `mount -t tmpfs \
                 -o size=256m tmpfs /mnt/chaos`, then --database sqlite:///mnt/chaos/herald.db",
                file.display(),
                free >> 20,
                MOST_BALLAST_BYTES >> 20
            );
        }
        let ballast = Ballast { path: directory.join(format!(".{run}.ballast")) };
        let path = ballast.path.clone();
        tokio::task::spawn_blocking(move || write_until_full(&path))
            .await
            .context("disk-full: the filling task")??;
        Ok(ballast)
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes zeros to a new file at `path` until the filesystem has no block left.
fn write_until_full(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)
        .with_context(|| format!("disk-full: creating {}", path.display()))?;
    let zeros = vec![0u8; 1 << 20];
    for chunk in [1 << 20, 4096, 512] {
        loop {
            match file.write_all(&zeros[..chunk]) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("disk-full: writing {}", path.display()));
                }
            }
        }
    }
    // What the page cache still holds must take its blocks too; a full disk may refuse
    // the last of them, which is the point.
    let _ = file.sync_all();
    Ok(())
}

/// The file an `sqlite:` database URL names.
fn sqlite_file(database_url: &str) -> anyhow::Result<PathBuf> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(database_url)
        .with_context(|| format!("--database `{database_url}` is not an SQLite URL"))?;
    Ok(options.get_filename().to_path_buf())
}

/// Runs `command` with `sh -c`; a failure names the flag and shows what it printed.
async fn shell(flag: &str, command: &str) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .await
        .with_context(|| format!("{flag}: cannot run `sh -c {command}`"))?;
    if !output.status.success() {
        bail!(
            "{flag}: `{command}` failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Where the run stood when a fault ended.
struct Progress {
    at: Instant,
    at_us: i64,
    /// Effects applied by then.
    applied: u64,
}

/// How long after a fault's end an event committed after it was delivered (or, when the
/// producers had finished, the last of the `events`); for a killed consumer, how long
/// until its successor applied an event; at most 60 s.
async fn recovery_after(
    ended: &Progress,
    shipping: &Shipping,
    db: &Database,
    run: &str,
    produced: &AtomicU64,
    events: u64,
) -> anyhow::Result<Duration> {
    let deadline = ended.at + Duration::from_secs(60);
    while Instant::now() < deadline {
        let applied = shipping.applied(db, run).await?;
        let all_done = produced.load(Ordering::Relaxed) >= events && applied >= events;
        let delivered_since = match shipping {
            Shipping::InProcess(consumer) => {
                consumer.tracker.newest_due_at_us.load(Ordering::Relaxed) > ended.at_us
            }
            Shipping::Processes(_) => applied > ended.applied,
        };
        if all_done || delivered_since {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(ended.at.elapsed())
}

/// The consuming service `shipping`: in this process, or, for `consumer-kill`,
/// `slow-consumer` and several consumers, child processes that the scenario replaces.
enum Shipping {
    InProcess(ChaosConsumer),
    Processes(Vec<Process>),
}

impl Shipping {
    /// Effects applied so far: counted live in this process, or from the database.
    async fn applied(&self, db: &Database, run: &str) -> anyhow::Result<u64> {
        match self {
            Shipping::InProcess(consumer) => Ok(consumer.tracker.handled.load(Ordering::Relaxed)),
            Shipping::Processes(_) => {
                const APPLIED: &str = "SELECT count(*) FROM shop_effects WHERE run = $1";
                let applied: i64 = read_again(|| async {
                    match db {
                        Database::Postgres(pool) => {
                            sqlx::query_scalar(APPLIED).bind(run).fetch_one(pool).await
                        }
                        Database::Sqlite(sqlite) => {
                            sqlx::query_scalar(APPLIED).bind(run).fetch_one(&sqlite.reader).await
                        }
                    }
                })
                .await
                .context("counting the effects applied")?;
                Ok(u64::try_from(applied).unwrap_or(0))
            }
        }
    }

    /// Stops consumer process number `victim` (taken in turn; every one when `None`) as
    /// `how` says and starts a new one whose handlers take `handler_delay_ms`.
    fn replace(
        &mut self,
        plan: &ChaosPlan,
        victim: Option<usize>,
        how: Stop,
        handler_delay_ms: &str,
        peaks: &mut Peaks,
    ) -> anyhow::Result<()> {
        let Shipping::Processes(processes) = self else {
            bail!("chaos: this scenario needs the consumers in processes of their own");
        };
        let count = processes.len();
        for (index, process) in processes.iter_mut().enumerate() {
            if victim.is_some_and(|victim| victim % count != index) {
                continue;
            }
            process.stop(how, peaks)?;
            let member = u32::try_from(index + 1).unwrap_or(u32::MAX);
            *process = Process::consumer(plan, member, handler_delay_ms)?;
        }
        Ok(())
    }

    /// Stops the consumer; the redeliveries its inbox absorbed, when they are known (a
    /// killed process's counters die with it).
    async fn stop(self, peaks: &mut Peaks) -> anyhow::Result<Option<u64>> {
        match self {
            Shipping::InProcess(consumer) => {
                let duplicates = consumer.stats.duplicates_suppressed.load(Ordering::Relaxed);
                consumer.stop().await?;
                Ok(Some(duplicates))
            }
            Shipping::Processes(mut processes) => {
                for process in &mut processes {
                    process.kill(peaks)?;
                }
                Ok(None)
            }
        }
    }
}

/// A `herald` child process: the relay, or the consumer of `consumer-kill` and
/// `slow-consumer`.
struct Process {
    child: Child,
    role: Role,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Relay,
    Consumer,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Relay => "relay",
            Role::Consumer => "consumer",
        })
    }
}

/// How a process is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// SIGKILL: a crash.
    Kill,
    /// SIGTERM: it finishes what it holds and exits.
    Terminate,
}

impl Process {
    /// `herald relay`, publishing to `broker` (the proxy's address, when there is one).
    fn relay(plan: &ChaosPlan, broker: Option<&str>) -> anyhow::Result<Process> {
        let mut command = Command::new(std::env::current_exe().context("finding herald")?);
        command
            .args(["relay", "--database", &plan.database, "--poll-interval-ms", "100"])
            .args(["--namespace", &plan.broker.namespace]);
        if let Some(broker) = broker {
            command.args(["--broker", broker]).args(tls_flags(&plan.broker));
        }
        Process::spawn(command, Role::Relay)
    }

    /// `herald shop-consumer`, member `member` of the group `shipping`, each handler
    /// taking `handler_delay_ms` inside its transaction (so that kills land mid-handler).
    fn consumer(plan: &ChaosPlan, member: u32, handler_delay_ms: &str) -> anyhow::Result<Process> {
        let mut command = Command::new(std::env::current_exe().context("finding herald")?);
        let member = format!("chaos-{member}");
        command
            .args(["shop-consumer", "--database", &plan.database, "--member", &member])
            .args(["--handler-delay-ms", handler_delay_ms])
            .args(["--namespace", &plan.broker.namespace]);
        if let Some(broker) = &plan.broker.broker {
            command.args(["--broker", broker]).args(tls_flags(&plan.broker));
        }
        Process::spawn(command, Role::Consumer)
    }

    fn spawn(mut command: Command, role: Role) -> anyhow::Result<Process> {
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let child = command.spawn().with_context(|| format!("starting the {role}"))?;
        Ok(Process { child, role })
    }

    /// The process's highest resident memory so far (`VmHWM`), in KiB.
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// SIGKILL, then reap; its peak memory goes into `peaks` first.
    fn kill(&mut self, peaks: &mut Peaks) -> anyhow::Result<()> {
        self.stop(Stop::Kill, peaks)
    }

    /// Stops the process as `how` says and reaps it.
    fn stop(&mut self, how: Stop, peaks: &mut Peaks) -> anyhow::Result<()> {
        peaks.observe(self);
        match how {
            Stop::Kill => {
                self.child.kill().with_context(|| format!("SIGKILL the {}", self.role))?
            }
            Stop::Terminate => {
                let pid = self.child.id().to_string();
                let sent = Command::new("kill").args(["-TERM", &pid]).status();
                if !sent.is_ok_and(|status| status.success()) {
                    self.child.kill().with_context(|| format!("stopping the {}", self.role))?;
                }
            }
        }
        self.child.wait().with_context(|| format!("reaping the {}", self.role))?;
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a broker URL names NATS (`nats://`, or `tls://` for NATS over TLS).
fn is_nats(url: &str) -> bool {
    url.starts_with("nats://") || url.starts_with("tls://")
}

/// The broker's TLS flags, passed on to a child process.
fn tls_flags(broker: &BrokerArgs) -> Vec<std::ffi::OsString> {
    let files = [
        ("--broker-ca-file", &broker.broker_ca_file),
        ("--broker-client-cert", &broker.broker_client_cert),
        ("--broker-client-key", &broker.broker_client_key),
    ];
    let given = files.into_iter().filter_map(|(flag, file)| Some((flag, file.as_ref()?)));
    given.flat_map(|(flag, file)| [flag.into(), file.clone().into_os_string()]).collect()
}

/// The `host:port` a broker URL names.
fn upstream(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).context("--broker is not a URL")?;
    let host = parsed.host_str().context("--broker has no host")?;
    let port = parsed.port().unwrap_or(if is_nats(url) { 4222 } else { 5672 });
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
    let workload = Workload {
        run: run.to_owned(),
        events,
        producers,
        rate: 0,
        retry: ProducerRetry::default(),
    };
    spawn_producers(db, &workload, produced)
}

/// The orders a run commits, and how.
struct Workload {
    run: String,
    events: u64,
    producers: u64,
    /// Orders per second over all producers; 0 = as fast as they commit.
    rate: u64,
    retry: ProducerRetry,
}

/// Starts the workload's producer tasks; the task returned ends when they all have.
fn spawn_producers(
    db: &Database,
    workload: &Workload,
    produced: &Arc<AtomicU64>,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<u64>>> {
    let producers = workload.producers;
    let mut outbox = Outbox::new(OutboxConfig::default())?;
    if let Database::Postgres(pool) = db {
        outbox = outbox.with_wakeup(herald_db::Wakeup::for_postgres(pool.clone()));
    }
    let tasks: Vec<_> = (0..producers)
        .map(|producer| {
            let plan = ProducerPlan {
                run: workload.run.clone(),
                events: workload.events,
                rate: workload.rate,
                customers: 200,
                producers,
                producer,
                events_per_tx: 1,
                api: ProducerApi::default(),
                retry: workload.retry.clone(),
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
        let verification =
            read_again(|| workload::verify(db, db, run)).await.context("counting")?;
        if verification.lost == 0 || Instant::now() >= deadline {
            return Ok(verification);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs one of the tool's own reads, again after a failure for up to 30 s: after a
/// database restart, each connection the pool still holds fails once before it is
/// replaced.
async fn read_again<T, F, Fut>(mut read: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match read().await {
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}
