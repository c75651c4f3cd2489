//! `herald demo`: the reference shop end to end.

use std::process::ExitCode;
use std::time::Duration;

use herald_cli::demo::{self, DemoOptions};
use herald_cli::transport::BrokerArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Orders the customers place (`--events` is an alias).
    #[arg(long, alias = "events", default_value_t = 600)]
    orders: u64,
    /// Orders placed per second (0 = as fast as the shop takes them).
    #[arg(long, default_value_t = 60)]
    rate: u64,
    /// Customers placing them.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..))]
    customers: u64,
    /// Database URL (`sqlite://file.db` or `postgres://…`); default: a temporary SQLite
    /// file, removed afterwards.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: Option<String>,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Seconds the services may take to agree after the last command.
    #[arg(long, default_value_t = 30)]
    settle_timeout_secs: u64,
    /// Print the summary as JSON on stdout (no live view).
    #[arg(long)]
    json: bool,
    /// Export the customers' and services' spans to this OpenTelemetry collector over
    /// OTLP/HTTP, e.g. http://127.0.0.1:4318: one trace per customer command.
    #[arg(long, env = "HERALD_OTLP_ENDPOINT")]
    pub(crate) otlp_endpoint: Option<String>,
}

impl DemoArgs {
    fn options(self) -> DemoOptions {
        DemoOptions {
            orders: self.orders,
            rate: self.rate,
            customers: self.customers,
            database: self.database,
            broker: self.broker,
            settle_timeout: Duration::from_secs(self.settle_timeout_secs),
            live: !self.json,
        }
    }
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (json, options) = (args.json, args.options());
    if !json {
        eprintln!("{}", demo::introduction(&options));
    }
    let summary = demo::run(&options).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.render());
    }
    Ok(super::exit_code(summary.consistent))
}
