//! `herald bench --drain`: the relay alone. The producers fill the outbox first (nothing
//! relays yet); then the relays drain it to the transport, and the run measures from their
//! start until every row is marked sent, the broker having confirmed it. Afterwards a
//! consumer reads the group's queue and counts every event, so a drain that loses one
//! fails.
//!
//! `--history N` first writes N rows already sent (kept for inspection, as
//! [`Retention::Keep`] does by default), to show whether a long history slows the relay:
//! issue 14 asks that 10 million of them cost at most 10 % of the throughput.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use herald_db::{Database, DatabaseOptions, Statement};
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig, RelayStats};
use serde::Serialize;
use tokio::sync::watch;

use crate::bench::{self, BenchOptions, View};
use crate::broker::{self, RunBroker};
use crate::run_space::RunSchema;
use crate::workload;

/// Sent rows written per statement while filling the history.
const HISTORY_CHUNK: u64 = 500_000;

/// What a drain did (`--drain --json` prints exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct DrainSummary {
    /// Unsent rows the producers committed before the relays started.
    pub rows: u64,
    /// Rows already sent, written before them (the outbox's history).
    pub history: u64,
    /// Rows the relays marked sent.
    pub relayed: u64,
    /// Distinct events the consumer read from the transport afterwards.
    pub delivered: u64,
    /// Rows committed but never delivered (must be 0).
    pub lost: u64,
    /// Events read more than once.
    pub duplicates_delivered: u64,
    /// Rows marked sent per second, from the relays' start to the last mark.
    pub throughput_eps: f64,
    /// Seconds from the relays' start to the last mark.
    pub elapsed_s: f64,
    /// Seconds spent filling the history and the rows.
    pub fill_s: f64,
    /// Batches the relays published.
    pub relay_batches: u64,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// `embedded log`, `RabbitMQ` or `NATS JetStream`.
    pub transport: String,
    /// Relays draining together.
    pub relays: usize,
}

impl DrainSummary {
    /// Whether every row was relayed, and delivered at least once (nothing lost).
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.relayed == self.rows
    }

    /// The summary for a person.
    pub fn render(&self) -> String {
        format!(
            "Herald bench --drain — {database}, {transport}, {relays} relay(s)\n\
             \x20 history (sent rows)   {history}\n\
             \x20 rows to relay         {rows} (filled in {fill:.1} s)\n\
             \x20 relayed               {relayed}\n\
             \x20 delivered             {delivered}\n\
             \x20 lost                  {lost} ({verdict})\n\
             \x20 duplicates delivered  {duplicates}\n\
             \x20 throughput            {throughput:.0} rows/s over {elapsed:.2} s, {batches} batches",
            database = self.database,
            transport = self.transport,
            relays = self.relays,
            history = self.history,
            rows = self.rows,
            fill = self.fill_s,
            relayed = self.relayed,
            delivered = self.delivered,
            lost = self.lost,
            verdict = if self.lost == 0 { "ok" } else { "VIOLATED" },
            duplicates = self.duplicates_delivered,
            throughput = self.throughput_eps,
            elapsed = self.elapsed_s,
            batches = self.relay_batches,
        )
    }
}

/// Fills the outbox with `options.events` unsent rows after `history` sent ones, drains
/// it with `options.relays` relays and counts what arrived. Runs in a schema (PostgreSQL)
/// or a temporary file (SQLite) and a broker namespace of its own, removed afterwards.
pub async fn drain(options: &BenchOptions, history: u64) -> anyhow::Result<DrainSummary> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (url, _temp) = bench::database_url(options, &run);
    let space = RunSchema::create(&url, &run).await?;
    let result = drain_in(options, history, &run, &space.url).await;
    space.drop().await?;
    result
}

async fn drain_in(
    options: &BenchOptions,
    history: u64,
    run: &str,
    url: &str,
) -> anyhow::Result<DrainSummary> {
    let is_postgres = !url.starts_with("sqlite:");
    let producers = options.producer_tasks(is_postgres);
    let db_options =
        DatabaseOptions { max_connections: producers as u32 + 8, ..DatabaseOptions::default() };
    let db = Database::connect(url, &db_options).await?;
    workload::create_tables(&db, &db).await?;
    if !options.ledger {
        // SQLite records the ledger through triggers; the relay's flag covers PostgreSQL.
        herald_outbox::drop_ledger_triggers(&db).await?;
    }
    let (broker, subscription) =
        RunBroker::join(options, options.broker.url.as_deref(), &db, run, "d").await?;
    let filled = Instant::now();
    fill_history(&db, options, run, history).await?;
    fill_rows(&db, options, run, producers).await?;
    let fill_s = filled.elapsed().as_secs_f64();
    let (elapsed, relay_batches) = relay_everything(&db, options, &broker).await?;
    if options.view == View::Progress {
        eprintln!("drained in {:.2} s; counting what the transport holds", elapsed.as_secs_f64());
    }
    let received = broker::consume(subscription, options.events, options.stall_timeout).await?;
    let sent = count_sent(&db).await?;
    let transport = broker.name;
    broker.leave().await?;
    db.close().await;
    let delivered = received.distinct.len() as u64;
    let elapsed_s = elapsed.as_secs_f64().max(1e-9);
    let relayed = sent.saturating_sub(history);
    Ok(DrainSummary {
        rows: options.events,
        history,
        relayed,
        delivered,
        lost: options.events.saturating_sub(delivered),
        duplicates_delivered: received.duplicates,
        throughput_eps: relayed as f64 / elapsed_s,
        elapsed_s,
        fill_s,
        relay_batches,
        database: if is_postgres { "postgres" } else { "sqlite" }.to_owned(),
        transport: transport.to_owned(),
        relays: options.relays.max(1),
    })
}

/// Writes `history` rows already sent (a copy of a real event's payload each), in
/// statements of [`HISTORY_CHUNK`] rows generated by the database itself.
async fn fill_history(
    db: &Database,
    options: &BenchOptions,
    run: &str,
    history: u64,
) -> anyhow::Result<()> {
    if history == 0 {
        return Ok(());
    }
    let sample = broker::message(run, 0, 1, workload::now_us())?;
    let (partitions, customers) = (i64::from(options.partitions), options.customers.max(1) as i64);
    let now = workload::now_us();
    let mut written = 0;
    while written < history {
        let (first, last) = (written as i64 + 1, (written + HISTORY_CHUNK).min(history) as i64);
        let sql = match db {
            Database::Postgres(_) => {
                "INSERT INTO herald_outbox (event_id, partition, partition_key, event_type, \
                     kind, routing_key, payload, created_at, sent_at, attempts) \
                 SELECT gen_random_uuid(), (g % $1)::int, 'customer-' || (g % $2), \
                     'shop.order_placed', 'integration', $3, $4, $5, $5, 1 \
                 FROM generate_series($6::bigint, $7::bigint) AS g"
            }
            Database::Sqlite(_) => {
                "INSERT INTO herald_outbox (event_id, partition, partition_key, event_type, \
                     kind, routing_key, payload, created_at, sent_at, attempts) \
                 WITH RECURSIVE g(n) AS (SELECT $6 UNION ALL SELECT n + 1 FROM g WHERE n < $7) \
                 SELECT randomblob(16), n % $1, 'customer-' || (n % $2), \
                     'shop.order_placed', 'integration', $3, $4, $5, $5, 1 FROM g"
            }
        };
        let statement = Statement::new(sql)
            .bind(partitions)
            .bind(customers)
            .bind(&sample.routing_key)
            .bind(sample.payload.as_slice())
            .bind(now)
            .bind(first)
            .bind(last);
        db.writer().execute(statement).await?;
        written = last as u64;
        if options.view == View::Progress {
            eprintln!("history: {written} of {history} sent rows written");
        }
    }
    Ok(())
}

/// Commits `options.events` orders with their events as fast as the producers go, with
/// no relay running.
async fn fill_rows(
    db: &Database,
    options: &BenchOptions,
    run: &str,
    producers: u64,
) -> anyhow::Result<()> {
    let outbox =
        Outbox::new(OutboxConfig { partitions: options.partitions, ..OutboxConfig::default() })?;
    let unscheduled = BenchOptions { rate: 0, ..options.clone() };
    let produced = Arc::new(AtomicU64::new(0));
    for task in bench::spawn_producers(&unscheduled, run, producers, db, &outbox, &produced) {
        task.await??;
    }
    if options.view == View::Progress {
        eprintln!("outbox: {} unsent rows committed", produced.load(Ordering::Relaxed));
    }
    Ok(())
}

/// Starts the relays, waits until no row is left unsent, stops them. Returns the time from
/// their start to the last mark, and the batches they published.
async fn relay_everything(
    db: &Database,
    options: &BenchOptions,
    broker: &RunBroker,
) -> anyhow::Result<(Duration, u64)> {
    let (shutdown, _) = watch::channel(false);
    let mut stats = Vec::new();
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..options.relays.max(1) {
        let store = OutboxStore::new(db.clone(), Retention::default());
        let relay = Relay::new(
            if options.ledger { store } else { store.without_ledger() },
            broker.connect_publisher(db)?,
            RelayConfig { partitions: options.partitions, ..RelayConfig::default() },
        );
        stats.push(relay.stats());
        let stop = crate::pipeline::stopped(&shutdown);
        tasks.push(tokio::spawn(async move { relay.run(stop).await }));
    }
    let finished = wait_until_drained(db, options, &stats, started).await;
    shutdown.send_replace(true);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task).await???;
    }
    let elapsed = finished? - started;
    let batches = stats.iter().map(|stats| stats.batches.load(Ordering::Relaxed)).sum();
    Ok((elapsed, batches))
}

/// Waits until the relays published every row and no row is left unsent; returns when
/// that was seen. Fails when nothing moved for the stall timeout.
async fn wait_until_drained(
    db: &Database,
    options: &BenchOptions,
    stats: &[Arc<RelayStats>],
    started: Instant,
) -> anyhow::Result<Instant> {
    let published = || -> u64 { stats.iter().map(|s| s.published.load(Ordering::Relaxed)).sum() };
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let (mut last, mut last_progress, mut next_report) = (0, Instant::now(), Instant::now());
    loop {
        ticker.tick().await;
        let now = published();
        if now != last {
            (last, last_progress) = (now, Instant::now());
        }
        if now >= options.events && count_unsent(db).await? == 0 {
            return Ok(Instant::now());
        }
        if last_progress.elapsed() > options.stall_timeout {
            anyhow::bail!(
                "the relays published {now} of {} rows and nothing moved for {:?}",
                options.events,
                options.stall_timeout
            );
        }
        if options.view == View::Progress && Instant::now() >= next_report {
            next_report += Duration::from_secs(1);
            eprintln!(
                "[{:>6.1}s] relayed {now:>9} of {}",
                started.elapsed().as_secs_f64(),
                options.events
            );
        }
    }
}

async fn count_unsent(db: &Database) -> anyhow::Result<u64> {
    count(db, "SELECT count(*) FROM herald_outbox WHERE sent_at IS NULL").await
}

async fn count_sent(db: &Database) -> anyhow::Result<u64> {
    count(db, "SELECT count(*) FROM herald_outbox WHERE sent_at IS NOT NULL").await
}

async fn count(db: &Database, sql: &str) -> anyhow::Result<u64> {
    let count: i64 = match db {
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        Database::Sqlite(sqlite) => sqlx::query_scalar(sql).fetch_one(&sqlite.reader).await?,
    };
    Ok(u64::try_from(count).unwrap_or(0))
}
