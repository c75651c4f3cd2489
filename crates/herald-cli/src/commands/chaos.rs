//! `herald chaos`: faults injected into a counted run; the report says whether anything
//! was lost or applied twice.

use std::process::ExitCode;
use std::time::Duration;

use herald_cli::chaos::{self, ChaosPlan};
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
    /// A scenario to run (repeat it; default: all): relay-kill (the relay SIGKILLed),
    /// network-cut (the relay's broker connections cut for 2 s; needs --broker).
    #[arg(long = "scenario", value_parser = clap::builder::PossibleValuesParser::new(chaos::SCENARIOS))]
    scenarios: Vec<String>,
    /// Orders per scenario.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Producer tasks.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    producers: u64,
    /// Faults injected per scenario (kills, or cuts).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    kills: u32,
    /// Longest wait, in seconds, for every event to be applied after the faults.
    #[arg(long, default_value_t = 300)]
    settle_timeout_secs: u64,
    /// Print one JSON object: {"scenarios": [{scenario, committed, delivered, lost, …}]}.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: ChaosArgs) -> anyhow::Result<ExitCode> {
    let scenarios = if args.scenarios.is_empty() {
        chaos::SCENARIOS.iter().map(|s| (*s).to_owned()).collect()
    } else {
        args.scenarios
    };
    // The run's broker names never collide with a deployment's.
    let broker =
        BrokerArgs { namespace: format!("{}-chaos", args.broker.namespace), ..args.broker };
    let plan = ChaosPlan {
        database: args.database,
        broker,
        scenarios,
        events: args.events,
        producers: args.producers,
        kills: args.kills,
        settle_timeout: Duration::from_secs(args.settle_timeout_secs),
    };
    let reports = chaos::run(&plan).await?;
    if args.json {
        println!("{}", serde_json::json!({ "scenarios": reports }));
    } else {
        for report in &reports {
            println!(
                "{:<12} committed {:>8}  delivered {:>8}  lost {}  duplicates delivered {}  applied twice {}  order violations {}  recovery {} ms  {}",
                report.scenario,
                report.committed,
                report.delivered,
                report.lost,
                report.duplicates_delivered,
                report.duplicates_applied,
                report.order_violations,
                report.recovery_ms,
                if report.held() { "held" } else { "BROKEN" }
            );
        }
    }
    let held = reports.iter().all(chaos::ScenarioReport::held);
    Ok(if held { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
