//! The `herald` binary.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald_cli::bench::{self, BenchOptions, View};
use herald_db::{Database, DatabaseOptions};
use herald_outbox::{OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig};
use herald_transport::{SqlLog, SqlLogConfig};

/// Herald: every event, reliably and fast, from the transaction that made it to whoever
/// needs it.
#[derive(Debug, Parser)]
#[command(name = "herald", version, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// See events flow end to end on the embedded defaults (no server needed).
    Demo {
        /// Orders to place.
        #[arg(long, default_value_t = 2_000)]
        events: u64,
        /// Orders per second.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Database URL (`sqlite://file.db` or `postgres://…`); default: a temporary SQLite file.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: Option<String>,
    },
    /// Measure the whole path: commit → outbox → relay → transport → consumer.
    Bench(BenchArgs),
    /// Run a relay: publish committed outbox rows to the SQL log transport.
    Relay {
        /// Database URL holding the outbox (and the log).
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: String,
        /// This relay's unique name (default: random).
        #[arg(long)]
        relay_id: Option<String>,
        /// Outbox partitions; all producers and relays must agree.
        #[arg(long, default_value_t = 16)]
        partitions: u32,
        /// Longest wait between polls, in milliseconds (wake-ups come sooner).
        #[arg(long, default_value_t = 500)]
        poll_interval_ms: u64,
        /// Keep sent rows this many seconds before purging (0 = delete when sent).
        #[arg(long, default_value_t = 3600)]
        retention_secs: u64,
        /// Fault injection for crash tests: pause this long between the transport's
        /// confirmation and marking rows sent.
        #[arg(long, default_value_t = 0, hide = true)]
        pause_before_mark_ms: u64,
    },
    /// Run the demo shop's consumer (`shipping`) until stopped; for crash tests.
    #[command(hide = true)]
    ShopConsumer {
        /// Database URL holding the log, the inbox and the shop's effects.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: String,
        /// This member's name in the consumer group.
        #[arg(long)]
        member: String,
    },
    /// Apply Herald's migrations to a database.
    Migrate {
        /// Database URL.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: String,
    },
    /// Inspect the outbox.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Orders to place (each one business transaction with one event).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Orders per second, as an open-loop schedule; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Database URL (`sqlite://file.db` or `postgres://…`); default: a temporary SQLite file.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: Option<String>,
    /// Producer tasks (default: 1 on SQLite, 32 on PostgreSQL).
    #[arg(long)]
    producers: Option<u64>,
    /// Customers, i.e. distinct partition keys.
    #[arg(long, default_value_t = 1_000)]
    customers: u64,
    /// Outbox and log partitions.
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Run only the producers (nothing relays or consumes): what the database alone
    /// commits, the yardstick for the pipeline's throughput.
    #[arg(long)]
    baseline: bool,
}

impl BenchArgs {
    fn options(self) -> BenchOptions {
        BenchOptions {
            events: self.events,
            rate: self.rate,
            database: self.database,
            producers: self.producers,
            customers: self.customers,
            partitions: self.partitions,
            stall_timeout: Duration::from_secs(30),
            view: if self.json { View::Quiet } else { View::Progress },
        }
    }
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Unsent rows and the age of the oldest, per partition.
    Status {
        /// Database URL.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<std::process::ExitCode> {
    match command {
        Command::Demo { events, rate, database } => {
            eprintln!(
                "Herald demo: customers place {events} orders at {rate}/s. Each order is one \
                 database transaction\nthat writes the order and its `shop.order_placed` event \
                 to the outbox; the relay publishes it\nto the log, and the shipping consumer \
                 applies it once, through its inbox.\n"
            );
            let options = BenchOptions {
                events,
                rate,
                database,
                producers: None,
                customers: 100,
                partitions: 16,
                stall_timeout: Duration::from_secs(30),
                view: View::Demo,
            };
            let summary = bench::run(&options).await?;
            println!("{}", summary.render());
            Ok(exit_code(summary.is_clean()))
        }
        Command::Bench(args) => {
            let (json, baseline) = (args.json, args.baseline);
            let options = args.options();
            if baseline {
                run_baseline(&options, json).await
            } else {
                run_bench(&options, json).await
            }
        }
        Command::Relay {
            database,
            relay_id,
            partitions,
            poll_interval_ms,
            retention_secs,
            pause_before_mark_ms,
        } => {
            let config = RelayConfig {
                partitions,
                poll_interval: Duration::from_millis(poll_interval_ms.max(1)),
                pause_before_mark: Duration::from_millis(pause_before_mark_ms),
                relay_id: relay_id.unwrap_or_else(|| RelayConfig::default().relay_id),
                ..RelayConfig::default()
            };
            run_relay(&database, config, retention_secs).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::ShopConsumer { database, member } => {
            run_shop_consumer(&database, member).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Migrate { database } => {
            connect(&database).await?;
            eprintln!("Migrations applied.");
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Outbox { command: OutboxCommand::Status { database, json } } => {
            let db = connect(&database).await?;
            let status = OutboxStore::new(db, Retention::default()).status().await?;
            print_status(&status, json)?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

async fn run_bench(options: &BenchOptions, json: bool) -> anyhow::Result<std::process::ExitCode> {
    let summary = bench::run(options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.render());
    }
    Ok(exit_code(summary.is_clean()))
}

async fn run_baseline(
    options: &BenchOptions,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    let result = bench::baseline(options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!(
            "Baseline — {}: {} business transactions (order + outbox row) at {:.0}/s; nothing relayed",
            result.database, result.committed, result.throughput_eps
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn exit_code(clean: bool) -> std::process::ExitCode {
    if clean { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(2) }
}

async fn connect(url: &str) -> anyhow::Result<Database> {
    Database::connect(url, &DatabaseOptions::default()).await.context("opening the database")
}

async fn run_relay(url: &str, config: RelayConfig, retention_secs: u64) -> anyhow::Result<()> {
    let db = connect(url).await?;
    let retention = match retention_secs {
        0 => Retention::DeleteOnSend,
        secs => Retention::Keep(Duration::from_secs(secs)),
    };
    let log = SqlLog::new(
        db.clone(),
        SqlLogConfig { partitions: config.partitions, ..SqlLogConfig::default() },
    );
    eprintln!("Relay {} running; stop it with Ctrl-C or SIGTERM.", config.relay_id);
    let relay = Relay::new(OutboxStore::new(db, retention), Arc::new(log), config);
    relay.run(shutdown_signal()).await?;
    Ok(())
}

async fn run_shop_consumer(url: &str, member: String) -> anyhow::Result<()> {
    use herald_cli::workload::{self, RecordOrder, Tracker};
    use herald_consumer::{Consumer, ConsumerConfig, Router};
    let db = connect(url).await?;
    workload::create_tables(&db, &db).await?;
    let log = SqlLog::new(db.clone(), SqlLogConfig::default());
    let config = ConsumerConfig { member, ..ConsumerConfig::new("shipping") };
    let record = RecordOrder { tracker: Arc::new(Tracker::new("")) };
    match db {
        Database::Postgres(pool) => {
            Consumer::new(config, pool, Router::new().on(record))
                .run(&log, shutdown_signal())
                .await?;
        }
        Database::Sqlite(sqlite) => {
            Consumer::new(config, sqlite.writer, Router::new().on(record))
                .run(&log, shutdown_signal())
                .await?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn print_status(status: &[herald_outbox::PartitionStatus], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = status
            .iter()
            .map(|p| {
                serde_json::json!({
                    "partition": p.partition,
                    "pending": p.pending,
                    "oldest_age_ms": p.oldest_age.as_millis() as u64,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if status.is_empty() {
        println!("The outbox is empty: every committed event was sent.");
        return Ok(());
    }
    println!("{:>9}  {:>9}  {:>12}", "partition", "pending", "oldest age");
    for p in status {
        println!("{:>9}  {:>9}  {:>10.1} s", p.partition, p.pending, p.oldest_age.as_secs_f64());
    }
    Ok(())
}
