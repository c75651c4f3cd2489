//! `herald bench`: the whole path measured, or a yardstick (`--baseline`): the database
//! alone or the broker alone.

use std::process::ExitCode;
use std::time::Duration;

use herald_bench::bench::{self, BenchOptions, View};
use herald_bench::broker::BrokerBaseline;
use herald_bench::workload::ProducerApi;
use herald_cli::transport::{self, BrokerArgs};

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Orders to place (each one business transaction with one event).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Orders per second, as an open-loop schedule; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Database URL (`sqlite://file.db` or `postgres://…`); default: a temporary SQLite file.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: Option<String>,
    /// Producer tasks (default: 32 on PostgreSQL; on SQLite 8 with `--producer-api
    /// rusqlite`, 1 with `sqlx`).
    #[arg(long)]
    producers: Option<u64>,
    /// How producers write on SQLite: `rusqlite`, jobs on the database's writer thread
    /// that share commits (the fastest), or `sqlx`, a transaction of their own each.
    #[arg(long, value_enum, default_value_t = ProducerApiArg::Rusqlite)]
    producer_api: ProducerApiArg,
    /// Customers, i.e. distinct partition keys.
    #[arg(long, default_value_t = 1_000)]
    customers: u64,
    /// Outbox and log partitions.
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Run a yardstick instead of the pipeline: `producers` (the default when the value is
    /// left out) runs only the producers, what the database alone commits; `broker`
    /// publishes the same messages with confirms straight to `--broker` and consumes
    /// them, with no database; `naive` runs a hand-written relay (writers, a `FOR UPDATE
    /// SKIP LOCKED` poller, a consumer without inbox) on a PostgreSQL `--database` and
    /// `--broker`.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "producers")]
    baseline: Option<BaselineKind>,
    /// Run Herald, then every yardstick that applies (the producers alone; with
    /// `--broker`, the broker alone; with PostgreSQL and a broker, the naive relay), back
    /// to back with the same options, and print the ratios.
    #[arg(long, conflicts_with = "baseline")]
    compare: bool,
    /// Measure the relay alone: the producers commit `--events` orders first, then the
    /// relays drain the outbox to the transport, timed until the last row is marked sent;
    /// a consumer then counts every event. With `--compare`, the broker alone runs next
    /// with the same messages, and the ratio is printed.
    #[arg(long, conflicts_with = "baseline")]
    drain: bool,
    /// With `--drain`: rows already sent written into the outbox first (its history), to
    /// see whether a long history slows the relay.
    #[arg(long, default_value_t = 0, requires = "drain")]
    history: u64,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Relays sharing the outbox's partitions through leases, each with a broker
    /// connection of its own (in this process).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    relays: u64,
    /// Members of the consumer group, each with a broker connection of its own (in this
    /// process).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    consumers: u64,
    /// Events per business transaction (each order and its event; all due together).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    events_per_tx: u64,
    /// Relay without recording the delivery ledger, to measure what the ledger costs.
    #[arg(long)]
    without_ledger: bool,
}

/// `--producer-api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProducerApiArg {
    /// `rusqlite` jobs on the writer thread, committed in groups.
    Rusqlite,
    /// A sqlx transaction each.
    Sqlx,
}

/// What `--baseline` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BaselineKind {
    /// The producers' transactions alone.
    Producers,
    /// The broker alone.
    Broker,
    /// A naive relay written by hand.
    Naive,
}

impl BenchArgs {
    fn options(self) -> anyhow::Result<BenchOptions> {
        Ok(BenchOptions {
            events: self.events,
            rate: self.rate,
            database: self.database,
            producers: self.producers,
            producer_api: match self.producer_api {
                ProducerApiArg::Rusqlite => ProducerApi::Rusqlite,
                ProducerApiArg::Sqlx => ProducerApi::Sqlx,
            },
            customers: self.customers,
            partitions: self.partitions,
            stall_timeout: Duration::from_secs(30),
            view: if self.json { View::Quiet } else { View::Progress },
            broker: self.broker.try_into()?,
            events_per_tx: self.events_per_tx,
            ledger: !self.without_ledger,
            relays: usize::try_from(self.relays).unwrap_or(1),
            consumers: usize::try_from(self.consumers).unwrap_or(1),
        })
    }
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let sqlite_given = args.database.as_deref().is_some_and(|url| url.starts_with("sqlite:"));
    if args.without_ledger && sqlite_given {
        anyhow::bail!(
            "--without-ledger drops SQLite's ledger triggers, so it runs only on the \
             benchmark's own temporary database: leave out --database"
        );
    }
    let (json, baseline, compare) = (args.json, args.baseline, args.compare);
    let (drain, history) = (args.drain, args.history);
    let options = args.options()?;
    match baseline {
        None if drain => run_drain(&options, history, compare, json).await,
        None if compare => run_compare(&options, json).await,
        None => run_bench(&options, json).await,
        Some(BaselineKind::Producers) => run_baseline(&options, json).await,
        Some(BaselineKind::Broker) => {
            let result = herald_bench::broker::broker_baseline(&options).await;
            print_yardstick("the broker alone", &result.map_err(transport::name_broker_flag)?, json)
        }
        Some(BaselineKind::Naive) => {
            let result = herald_bench::naive::naive_baseline(&options).await;
            print_yardstick("a naive relay", &result.map_err(transport::name_broker_flag)?, json)
        }
    }
}

async fn run_bench(options: &BenchOptions, json: bool) -> anyhow::Result<ExitCode> {
    let summary = bench::run(options).await.map_err(transport::name_broker_flag)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.render());
    }
    Ok(super::exit_code(summary.is_clean()))
}

async fn run_compare(options: &BenchOptions, json: bool) -> anyhow::Result<ExitCode> {
    let progress = |name: &str| {
        if !json {
            eprintln!("— running {name}");
        }
    };
    let comparison = herald_bench::compare::compare(options, progress)
        .await
        .map_err(transport::name_broker_flag)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        println!("{}", comparison.render());
    }
    Ok(super::exit_code(comparison.is_clean()))
}

async fn run_drain(
    options: &BenchOptions,
    history: u64,
    compare: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if compare && options.broker.url.is_none() {
        anyhow::bail!("--drain --compare compares the relay with the broker alone: give --broker");
    }
    let summary =
        herald_bench::drain::drain(options, history).await.map_err(transport::name_broker_flag)?;
    let broker = match compare {
        true => {
            if !json {
                eprintln!("— running the broker alone");
            }
            let result = herald_bench::broker::broker_baseline(options).await;
            Some(result.map_err(transport::name_broker_flag)?)
        }
        false => None,
    };
    let ratio =
        broker.as_ref().map(|b| summary.throughput_eps / b.throughput_eps.max(f64::MIN_POSITIVE));
    if json {
        let mut value = serde_json::to_value(&summary)?;
        if let (Some(broker), Some(ratio)) = (&broker, ratio) {
            value["baselines"] = serde_json::json!({
                "broker": { "throughput_eps": broker.throughput_eps, "ratio": ratio, "lost": broker.lost }
            });
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{}", summary.render());
        if let (Some(broker), Some(ratio)) = (&broker, ratio) {
            println!(
                "  compared in the same run: the broker alone {:.0}/s → ratio {ratio:.2}",
                broker.throughput_eps
            );
        }
    }
    let clean = summary.is_clean() && broker.is_none_or(|b| b.lost == 0);
    Ok(super::exit_code(clean))
}

async fn run_baseline(options: &BenchOptions, json: bool) -> anyhow::Result<ExitCode> {
    let result = bench::baseline(options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!(
            "Baseline — {} (producers on {}): {} business transactions (order + outbox row) at {:.0}/s; nothing relayed",
            result.database, result.producer_api, result.committed, result.throughput_eps
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a yardstick's result; `what` says what ran (`the broker alone`, …).
fn print_yardstick(what: &str, result: &BrokerBaseline, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(result)?);
    } else {
        println!(
            "Baseline — {what} ({}): {} published with confirms, {} delivered ({} lost, {} \
             duplicates) at {:.0}/s; latency due→received p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            result.transport,
            result.published,
            result.delivered,
            result.lost,
            result.duplicates_delivered,
            result.throughput_eps,
            result.latency_ms.p50,
            result.latency_ms.p99,
            result.latency_ms.max
        );
    }
    Ok(super::exit_code(result.lost == 0))
}
