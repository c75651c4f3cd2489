//! `herald bench`: drive the whole path and report what happened.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_consumer::ConsumerStats;
use herald_relay::RelayStats;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::pipeline::{Pipeline, PipelineDatabases, PipelineOptions};
use crate::run_space::{RunSchema, run_namespace};
use crate::workload::{self, ProducerApi, ProducerPlan, Verification};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Orders to produce.
    pub events: u64,
    /// Orders per second; 0 = as fast as possible.
    pub rate: u64,
    /// Database URL; `None` = a fresh SQLite file in the temporary directory.
    pub database: Option<String>,
    /// Producer tasks; `None` = the default of [`BenchOptions::producer_tasks`].
    pub producers: Option<u64>,
    /// How producers write on SQLite.
    pub producer_api: ProducerApi,
    /// Customers (partition keys).
    pub customers: u64,
    /// Outbox and log partitions.
    pub partitions: u32,
    /// Give up waiting for deliveries after this long without progress.
    pub stall_timeout: Duration,
    /// How the run shows itself while it goes.
    pub view: View,
    /// The transport between relay and consumer.
    pub broker: crate::pipeline::Broker,
    /// Events (orders) per business transaction.
    pub events_per_tx: u64,
    /// Whether the relay records the delivery ledger.
    pub ledger: bool,
    /// Relays sharing the outbox's partitions (each with its own transport connection).
    pub relays: usize,
    /// Members of the consumer group (each with its own transport connection).
    pub consumers: usize,
}

impl BenchOptions {
    /// Producer tasks: as given, or 32 on PostgreSQL (commits wait for the WAL flush, so
    /// throughput comes from many in flight), 8 on SQLite's writer thread (their
    /// transactions share commits), 1 on SQLite through sqlx (one writer at a time).
    pub fn producer_tasks(&self, is_postgres: bool) -> u64 {
        let default = match (is_postgres, self.producer_api) {
            (true, _) => 32,
            (false, ProducerApi::Rusqlite) => 8,
            (false, ProducerApi::Sqlx) => 1,
        };
        self.producers.unwrap_or(default).max(1)
    }
}

/// How a run shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// A progress line on stderr, refreshed every second.
    Progress,
    /// Nothing until the summary.
    Quiet,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Worst.
    pub max: f64,
}

impl LatencyMs {
    /// The percentiles of a histogram of microseconds.
    pub fn of_micros(histogram: &hdrhistogram::Histogram<u64>) -> LatencyMs {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let quantile = |q: f64| ms(histogram.value_at_quantile(q));
        LatencyMs {
            p50: quantile(0.50),
            p90: quantile(0.90),
            p99: quantile(0.99),
            p999: quantile(0.999),
            max: ms(histogram.max()),
        }
    }
}

/// How the relay and the consumer batched the run's work: the figures that explain a
/// throughput (every batch and round costs round trips whatever its size).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stages {
    /// Batches the relay published.
    pub relay_batches: u64,
    /// Rows per relay batch, on average.
    pub events_per_relay_batch: f64,
    /// Windows of deliveries the consumer received.
    pub consumer_rounds: u64,
    /// Deliveries per consumer round, on average.
    pub events_per_consumer_round: f64,
    /// Database transactions the consumer committed or rolled back.
    pub consumer_transactions: u64,
}

/// The resident memory of the benchmark's process (producers, relay and consumer
/// together), sampled every second, in MiB: flat from the first sample to the last means
/// nothing grows with the events that passed.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RssMb {
    /// One second into the run.
    pub first: f64,
    /// The largest sample.
    pub max: f64,
    /// The last sample, when the last event was handled.
    pub last: f64,
}

impl RssMb {
    fn sample(&mut self) {
        let Some(stats) = memory_stats::memory_stats() else { return };
        let mb = stats.physical_mem as f64 / (1024.0 * 1024.0);
        if self.first == 0.0 {
            self.first = mb;
        }
        self.max = self.max.max(mb);
        self.last = mb;
    }
}

/// The final summary (`--json` prints exactly this).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Orders committed with their events.
    pub produced: i64,
    /// Distinct events whose effect the consumer committed.
    pub delivered: i64,
    /// Committed events never applied (must be 0).
    pub lost: i64,
    /// Redeliveries the consumer's inbox recognised and skipped.
    pub duplicates_suppressed: u64,
    /// Effects applied twice (must be 0).
    pub applied_twice: i64,
    /// Events of one customer applied out of commit order (must be 0).
    pub order_violations: i64,
    /// Delivered events per second, first commit to last delivery.
    pub throughput_eps: f64,
    /// Commit (as scheduled) to handler latency.
    pub latency_ms: LatencyMs,
    /// Commit to the broker's confirm of the relay's publish (the relay's share of the
    /// latency, from each row's commit time).
    pub commit_to_publish_ms: LatencyMs,
    /// How the relay and the consumer batched.
    pub stages: Stages,
    /// The process's resident memory over the run.
    pub rss_mb: RssMb,
    /// Relays that shared the outbox.
    pub relays: usize,
    /// Members of the consumer group.
    pub consumers: usize,
    /// Requested rate (0 = as fast as possible).
    pub rate: u64,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// How the producers wrote: `rusqlite` (SQLite's writer thread) or `sqlx`.
    pub producer_api: &'static str,
    /// `embedded log`, `RabbitMQ` or `NATS JetStream`.
    pub transport: String,
    /// Events per business transaction.
    pub events_per_tx: u64,
    /// Seconds from the first commit to the last delivery.
    pub elapsed_s: f64,
}

impl Summary {
    /// Whether the run kept every guarantee.
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.applied_twice == 0 && self.order_violations == 0
    }

    /// The summary for a person.
    pub fn render(&self) -> String {
        let verdict = |n: i64| if n == 0 { "ok" } else { "VIOLATED" };
        format!(
            "Herald bench — {database} (producers on {api}), {transport}, rate {rate}, {per_tx} per transaction\n\
             \x20 produced               {produced}\n\
             \x20 delivered              {delivered}\n\
             \x20 lost                   {lost} ({lost_verdict})\n\
             \x20 duplicates suppressed  {duplicates}\n\
             \x20 applied twice          {twice} ({twice_verdict})\n\
             \x20 order violations       {order} ({order_verdict})\n\
             \x20 throughput             {throughput:.0} events/s over {elapsed:.2} s\n\
             \x20 latency commit→handler p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms, max {max:.2} ms\n\
             \x20 latency commit→publish p50 {publish_p50:.2} ms, p99 {publish_p99:.2} ms, max {publish_max:.2} ms\n\
             \x20 relays ({relays})             {relay_batches} batches, {per_batch:.1} events each\n\
             \x20 consumers ({consumers})          {rounds} rounds, {per_round:.1} events each, {consumer_tx} transactions\n\
             \x20 memory (RSS)           {rss_first:.0} MiB after 1 s, {rss_max:.0} MiB at most, {rss_last:.0} MiB at the end",
            database = self.database,
            api = self.producer_api,
            transport = self.transport,
            per_tx = match self.events_per_tx {
                1 => "1 event".to_owned(),
                n => format!("{n} events"),
            },
            rate = if self.rate == 0 { "unlimited".to_owned() } else { format!("{}/s", self.rate) },
            produced = self.produced,
            delivered = self.delivered,
            lost = self.lost,
            lost_verdict = verdict(self.lost),
            duplicates = self.duplicates_suppressed,
            twice = self.applied_twice,
            twice_verdict = verdict(self.applied_twice),
            order = self.order_violations,
            order_verdict = verdict(self.order_violations),
            throughput = self.throughput_eps,
            elapsed = self.elapsed_s,
            p50 = self.latency_ms.p50,
            p90 = self.latency_ms.p90,
            p99 = self.latency_ms.p99,
            p999 = self.latency_ms.p999,
            max = self.latency_ms.max,
            publish_p50 = self.commit_to_publish_ms.p50,
            publish_p99 = self.commit_to_publish_ms.p99,
            publish_max = self.commit_to_publish_ms.max,
            relay_batches = self.stages.relay_batches,
            per_batch = self.stages.events_per_relay_batch,
            rounds = self.stages.consumer_rounds,
            relays = self.relays,
            consumers = self.consumers,
            rss_first = self.rss_mb.first,
            rss_max = self.rss_mb.max,
            rss_last = self.rss_mb.last,
            per_round = self.stages.events_per_consumer_round,
            consumer_tx = self.stages.consumer_transactions,
        )
    }
}

/// What the database alone does: the producers' transactions with nothing relaying or
/// consuming, the yardstick the pipeline's throughput is compared with.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// Business transactions (order + outbox row) committed.
    pub committed: u64,
    /// Committed per second.
    pub throughput_eps: f64,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// How the producers wrote: `rusqlite` (SQLite's writer thread) or `sqlx`.
    pub producer_api: &'static str,
}

/// Runs only the producers, on a fresh database like [`run`]'s.
pub async fn baseline(options: &BenchOptions) -> anyhow::Result<Baseline> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (url, _temp) = database_url(options, &run);
    let space = RunSchema::create(&url, &run).await?;
    let url = space.url.clone();
    let is_postgres = !url.starts_with("sqlite:");
    let producers = options.producer_tasks(is_postgres);
    let db_options = herald_db::DatabaseOptions {
        max_connections: producers as u32 + 2,
        ..herald_db::DatabaseOptions::default()
    };
    let db = herald_db::Database::connect(&url, &db_options).await?;
    let producer_api = options.producer_api.on(&db).name();
    workload::create_tables(&db, &db).await?;
    let outbox = herald_outbox::Outbox::new(herald_outbox::OutboxConfig {
        partitions: options.partitions,
        ..herald_outbox::OutboxConfig::default()
    })?;
    let produced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let tasks = spawn_producers(options, &run, producers, &db, &outbox, &produced);
    let mut committed = 0;
    for task in tasks {
        committed += task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    db.close().await;
    space.drop().await?;
    Ok(Baseline {
        committed,
        throughput_eps: committed as f64 / elapsed,
        database: if is_postgres { "postgres" } else { "sqlite" }.to_owned(),
        producer_api,
    })
}

/// Starts `producers` tasks sharing the orders of the run between them.
pub(crate) fn spawn_producers(
    options: &BenchOptions,
    run: &str,
    producers: u64,
    db: &herald_db::Database,
    outbox: &herald_outbox::Outbox,
    produced: &Arc<std::sync::atomic::AtomicU64>,
) -> Vec<tokio::task::JoinHandle<anyhow::Result<u64>>> {
    (0..producers)
        .map(|producer| {
            let plan = ProducerPlan {
                run: run.to_owned(),
                events: options.events,
                rate: options.rate,
                customers: options.customers.max(1),
                producers,
                producer,
                events_per_tx: options.events_per_tx,
                api: options.producer_api,
                retry: workload::ProducerRetry::default(),
            };
            let (db, outbox, produced) = (db.clone(), outbox.clone(), Arc::clone(produced));
            tokio::spawn(async move { workload::produce(db, outbox, plan, &produced).await })
        })
        .collect()
}

/// The database URL of a run: the one given, or fresh temporary SQLite files.
pub(crate) fn database_url(options: &BenchOptions, run: &str) -> (String, Option<TempFiles>) {
    match &options.database {
        Some(url) => (url.clone(), None),
        None => {
            let path = std::env::temp_dir().join(format!("herald-bench-{run}.db"));
            let consumer = std::env::temp_dir().join(format!("herald-bench-{run}-consumer.db"));
            (format!("sqlite://{}", path.display()), Some(TempFiles(vec![path, consumer])))
        }
    }
}

/// A temporary SQLite file set, removed when dropped.
pub(crate) struct TempFiles(Vec<std::path::PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// Runs the benchmark and returns its summary.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Summary> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (url, _temp) = database_url(options, &run);
    let space = RunSchema::create(&url, &run).await?;
    let databases = PipelineDatabases::from_url(&space.url);
    let is_postgres = !databases.producer_url.starts_with("sqlite:");
    let producers = options.producer_tasks(is_postgres);
    let mut broker = options.broker.clone();
    if broker.url.is_some() {
        herald::check_namespace(&broker.namespace)?;
        broker.namespace = run_namespace(&broker.namespace, "h", &run);
    }
    let pipeline = Pipeline::start(&PipelineOptions {
        databases,
        run: run.clone(),
        partitions: options.partitions,
        producers,
        broker,
        ledger: options.ledger,
        relays: options.relays.max(1),
        consumers: options.consumers.max(1),
    })
    .await;
    let pipeline = match pipeline {
        Ok(pipeline) => pipeline,
        Err(error) => {
            space.drop().await?;
            return Err(error);
        }
    };
    let producer_api = options.producer_api.on(&pipeline.producer_db).name();
    let started = Instant::now();
    let producer_tasks = spawn_producers(
        options,
        &run,
        producers,
        &pipeline.producer_db,
        &pipeline.outbox,
        &pipeline.produced,
    );
    let (finished_at, rss_mb) = watch_progress(&pipeline, options, started).await;
    for task in producer_tasks {
        task.await??;
    }
    let tracker = Arc::clone(&pipeline.tracker);
    let pipeline_transport = pipeline.transport;
    // Counted once the relays and consumers stopped: the tracker sees an event when its
    // handler runs, the consumer's counters only when its round settled.
    let (relay_stats, consumer_stats) =
        (pipeline.relay_stats.clone(), pipeline.consumer_stats.clone());
    let (producer_db, consumer_db) = pipeline.stop_and_delete_topology().await?;
    let duplicates = consumer_stats
        .iter()
        .map(|stats| stats.duplicates_suppressed.load(Ordering::Relaxed))
        .sum();
    let stages = stages(&relay_stats, &consumer_stats);
    let commit_to_publish = commit_to_publish(&relay_stats);
    let verification = workload::verify(&producer_db, &consumer_db, &run).await?;
    producer_db.close().await;
    consumer_db.close().await;
    space.drop().await?;
    let transport = pipeline_transport;
    let mut summary = summarize(
        options,
        is_postgres,
        transport,
        verification,
        duplicates,
        &tracker,
        finished_at - started,
    );
    summary.stages = stages;
    summary.producer_api = producer_api;
    summary.rss_mb = rss_mb;
    summary.relays = options.relays.max(1);
    summary.consumers = options.consumers.max(1);
    if let Some(histogram) = commit_to_publish {
        summary.commit_to_publish_ms = LatencyMs::of_micros(&histogram);
    }
    Ok(summary)
}

/// The relays' and the consumers' batching, from their counters.
fn stages(relay_stats: &[Arc<RelayStats>], consumer_stats: &[Arc<ConsumerStats>]) -> Stages {
    let sum = |counter: fn(&RelayStats) -> &AtomicU64| -> u64 {
        relay_stats.iter().map(|stats| counter(stats).load(Ordering::Relaxed)).sum()
    };
    let consumed = |counter: fn(&ConsumerStats) -> &AtomicU64| -> u64 {
        consumer_stats.iter().map(|stats| counter(stats).load(Ordering::Relaxed)).sum()
    };
    let relay_batches = sum(|stats| &stats.batches);
    let relayed = sum(|stats| &stats.published);
    let consumer_rounds = consumed(|stats| &stats.rounds);
    let handled =
        consumed(|stats| &stats.processed) + consumed(|stats| &stats.duplicates_suppressed);
    let per = |events: u64, batches: u64| events as f64 / batches.max(1) as f64;
    Stages {
        relay_batches,
        events_per_relay_batch: per(relayed, relay_batches),
        consumer_rounds,
        events_per_consumer_round: per(handled, consumer_rounds),
        consumer_transactions: consumed(|stats| &stats.transactions),
    }
}

/// Every relay's commit→confirm histogram, merged.
fn commit_to_publish(relay_stats: &[Arc<RelayStats>]) -> Option<hdrhistogram::Histogram<u64>> {
    let mut histograms = relay_stats.iter().filter_map(|stats| stats.commit_to_confirm());
    let mut merged = histograms.next()?;
    for histogram in histograms {
        let _ = merged.add(&histogram);
    }
    Some(merged)
}

fn summarize(
    options: &BenchOptions,
    is_postgres: bool,
    transport: &str,
    verification: Verification,
    duplicates: u64,
    tracker: &workload::Tracker,
    elapsed: Duration,
) -> Summary {
    let elapsed_s = elapsed.as_secs_f64().max(1e-9);
    Summary {
        produced: verification.produced,
        delivered: verification.delivered,
        lost: verification.lost,
        duplicates_suppressed: duplicates,
        applied_twice: verification.applied_twice,
        order_violations: verification.order_violations,
        throughput_eps: verification.delivered as f64 / elapsed_s,
        latency_ms: tracker.latency(),
        rate: options.rate,
        database: if is_postgres { "postgres" } else { "sqlite" }.to_owned(),
        producer_api: "sqlx",
        transport: transport.to_owned(),
        events_per_tx: options.events_per_tx,
        elapsed_s,
        commit_to_publish_ms: LatencyMs::default(),
        stages: Stages::default(),
        rss_mb: RssMb::default(),
        relays: 1,
        consumers: 1,
    }
}

/// Shows progress until every event was handled, or nothing moved for the stall timeout.
/// Returns when the last event was handled.
async fn watch_progress(
    pipeline: &Pipeline,
    options: &BenchOptions,
    started: Instant,
) -> (Instant, RssMb) {
    let interval = Duration::from_secs(1);
    let mut rss = RssMb::default();
    let mut last_progress = Instant::now();
    let mut last_handled = 0;
    let mut last_tick = (Instant::now(), 0_u64);
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let mut next_report = Instant::now() + interval;
    loop {
        ticker.tick().await;
        let handled = pipeline.tracker.handled.load(Ordering::Relaxed);
        if handled != last_handled {
            last_handled = handled;
            last_progress = Instant::now();
        }
        if handled >= options.events {
            break;
        }
        if last_progress.elapsed() > options.stall_timeout {
            eprintln!("\nNo event was handled for {:?}; stopping.", options.stall_timeout);
            break;
        }
        if Instant::now() >= next_report {
            next_report += interval;
            let rate = (handled - last_tick.1) as f64 / last_tick.0.elapsed().as_secs_f64();
            last_tick = (Instant::now(), handled);
            rss.sample();
            report(pipeline, options, started, handled, rate);
        }
    }
    rss.sample();
    if options.view != View::Quiet {
        report(pipeline, options, started, last_handled, 0.0);
        eprintln!();
    }
    (last_progress, rss)
}

fn report(pipeline: &Pipeline, options: &BenchOptions, started: Instant, handled: u64, rate: f64) {
    let produced = pipeline.produced.load(Ordering::Relaxed);
    let lag = produced.saturating_sub(handled);
    let p99 = pipeline.tracker.latency_ms(0.99);
    match options.view {
        View::Quiet => {}
        View::Progress => {
            let relayed: u64 = pipeline
                .relay_stats
                .iter()
                .map(|stats| stats.published.load(Ordering::Relaxed))
                .sum();
            let line = format!(
                "[{:>6.1}s] produced {produced:>9}  relayed {relayed:>9}  handled {handled:>9}  rate {rate:>8.0}/s  lag {lag:>7}  p99 {p99:>7.2} ms",
                started.elapsed().as_secs_f64()
            );
            if std::io::stderr().is_terminal() {
                eprint!("\r{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }
    let _ = std::io::stderr().flush();
}
