//! `herald chaos`: faults injected into a counted run; the report says whether anything
//! was lost or applied twice.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use herald_bench::workload::{self, RecordOrder, Tracker};
use herald_consumer::{Consumer, ConsumerConfig, Router};
use herald_db::Database;

use herald_cli::chaos::{self, ChaosPlan, ServiceCommands};
use herald_cli::transport::BrokerArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct ChaosArgs {
    /// Database URL: `postgres://…` or `sqlite://FILE` (the workload's tables are
    /// created in it; each run has its own run id).
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    /// The broker to relay through (`amqp://…`, `nats://…`; default: the embedded log).
    /// Its names get the suffix `-chaos`, so a run never touches a deployment's queues.
    #[command(flatten)]
    broker: BrokerArgs,
    /// A scenario to run (repeat it; default: every one the other flags allow):
    /// relay-kill (a relay SIGKILLed), consumer-kill (a consumer process SIGKILLed
    /// mid-handler), slow-consumer (the consumers taking 20 ms an event for the outage),
    /// network-cut (the relays' broker connections closed for the outage; needs
    /// --broker), network-stall (no byte moves between the relays and the broker for the
    /// outage, connections open; needs --broker), broker-restart (the broker stopped for
    /// the outage and started, by --broker-stop-cmd and --broker-start-cmd),
    /// database-restart (the same for the database, by --database-stop-cmd and
    /// --database-start-cmd), disk-full (the filesystem holding an SQLite --database
    /// filled for the outage; put the database on a small filesystem, such as a tmpfs).
    #[arg(long = "scenario", value_parser = clap::builder::PossibleValuesParser::new(chaos::SCENARIOS))]
    scenarios: Vec<String>,
    /// Orders per scenario.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Producer tasks.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    producers: u64,
    /// Orders per second over all producers (default: as fast as they commit). Below the
    /// pipeline's capacity, `max_latency_ms` says how long a fault stopped delivery.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Relay processes; relay-kill kills one at a time, in turn.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    relays: u32,
    /// Consumer processes of the group; consumer-kill kills one at a time, in turn (not on
    /// NATS, whose group members do not keep a key's order).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    consumers: u32,
    /// Faults injected per scenario (kills, cuts, stalls or restarts).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    kills: u32,
    /// Longest wait, in seconds, for every event to be applied after the faults.
    #[arg(long, default_value_t = 300)]
    settle_timeout_secs: u64,
    /// How long, in seconds, each cut, stall or broker stop lasts (a stall longer than
    /// the relay's 10 s publish timeout makes it publish again what it had in flight).
    #[arg(long, default_value_t = 2.0, value_parser = outage_secs)]
    outage_secs: f64,
    /// Shell command that stops the broker, for broker-restart (e.g. `rabbitmqctl
    /// stop_app`); run with `sh -c`, it must return once the broker is down.
    #[arg(long, requires = "broker_start_cmd")]
    broker_stop_cmd: Option<String>,
    /// Shell command that starts the broker again, for broker-restart (e.g. `rabbitmqctl
    /// start_app && rabbitmqctl await_startup`); it must return once the broker serves.
    #[arg(long, requires = "broker_stop_cmd")]
    broker_start_cmd: Option<String>,
    /// Shell command that stops the database, for database-restart (e.g.
    /// `pg_ctlcluster 15 main stop -m fast`); it must return once the database is down.
    #[arg(long, requires = "database_start_cmd")]
    database_stop_cmd: Option<String>,
    /// Shell command that starts the database again, for database-restart (e.g.
    /// `pg_ctlcluster 15 main start`); it must return once the database serves.
    #[arg(long, requires = "database_stop_cmd")]
    database_start_cmd: Option<String>,
    /// Print one JSON object: {"scenarios": [{scenario, committed, delivered, lost, …}]}.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    let commands = |stop: Option<String>, start: Option<String>| match (stop, start) {
        (Some(stop), Some(start)) => Some(ServiceCommands { stop, start }),
        _ => None,
    };
    let broker_commands = commands(args.broker_stop_cmd, args.broker_start_cmd);
    let database_commands = commands(args.database_stop_cmd, args.database_start_cmd);
    // The run's broker names never collide with a deployment's.
    let broker =
        BrokerArgs { namespace: format!("{}-chaos", args.broker.namespace), ..args.broker };
    let plan = ChaosPlan {
        database: args.database,
        broker,
        scenarios: args.scenarios,
        events: args.events,
        producers: args.producers,
        rate: args.rate,
        relays: args.relays,
        consumers: args.consumers,
        kills: args.kills,
        settle_timeout: Duration::from_secs(args.settle_timeout_secs),
        outage: Duration::from_secs_f64(args.outage_secs),
        broker_commands,
        database_commands,
    };
    let reports = chaos::run(&plan).await?;
    if args.json {
        println!("{}", serde_json::json!({ "scenarios": reports }));
    } else {
        for report in &reports {
            println!(
                "{:<16} committed {:>8}  delivered {:>8}  lost {}  duplicates delivered {}  applied twice {}  order violations {}  recovery {} ms  longest wait {} ms  producer retries {}  {}",
                report.scenario,
                report.committed,
                report.delivered,
                report.lost,
                report.duplicates_delivered.map_or("unknown".to_owned(), |n| n.to_string()),
                report.duplicates_applied,
                report.order_violations,
                report.recovery_ms,
                report.max_latency_ms,
                report.producer_retries,
                if report.held() { "held" } else { "BROKEN" }
            );
        }
    }
    let held = reports.iter().all(chaos::ScenarioReport::held);
    Ok(if held { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// An outage of 0.1 to 600 seconds.
fn outage_secs(text: &str) -> Result<f64, String> {
    let seconds: f64 = text.parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if (0.1..=600.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!("{seconds} is outside 0.1 to 600 seconds"))
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShopConsumerArgs {
    /// Database URL holding the log, the inbox and the shop's effects.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    /// This member's name in the consumer group.
    #[arg(long)]
    member: String,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Each handler waits this long inside its transaction, so that a kill lands
    /// mid-handler.
    #[arg(long, default_value_t = 0, hide = true)]
    handler_delay_ms: u64,
}

/// Runs the demo shop's consumer (`shipping`) until stopped: `herald chaos`'s
/// `consumer-kill` runs it as a child process, and so do the crash tests.
pub(crate) async fn run_shop_consumer(args: ShopConsumerArgs) -> anyhow::Result<ExitCode> {
    let db = super::connect(&args.database).await?;
    workload::create_tables(&db, &db).await?;
    let transport = args.broker.open(&db, 16)?;
    let config = ConsumerConfig { member: args.member, ..ConsumerConfig::new("shipping") };
    let tracker = Arc::new(Tracker::new(""));
    let record =
        RecordOrder { tracker, handler_delay: Duration::from_millis(args.handler_delay_ms) };
    let subscriber = transport.subscriber.as_ref();
    match db {
        Database::Postgres(pool) => {
            Consumer::new(config, pool, Router::new().on(record))
                .run(subscriber, super::shutdown_signal())
                .await?;
        }
        Database::Sqlite(sqlite) => {
            Consumer::new(config, sqlite.writer, Router::new().on(record))
                .run(subscriber, super::shutdown_signal())
                .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
