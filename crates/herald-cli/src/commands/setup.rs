//! `herald migrate`, `herald outbox status` and `herald declare`: preparing and inspecting
//! the database and the broker.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use herald_cli::transport::BrokerArgs;
use herald_db::{Database, DatabaseOptions};
use herald_outbox::{OutboxStore, PartitionStatus, Retention};

#[derive(Debug, clap::Args)]
pub(crate) struct MigrateArgs {
    /// Database URL.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct OutboxArgs {
    #[command(subcommand)]
    command: OutboxCommand,
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

#[derive(Debug, clap::Args)]
pub(crate) struct DeclareArgs {
    #[command(flatten)]
    broker: BrokerArgs,
    /// The consuming service (consumer group).
    #[arg(long)]
    group: String,
    /// Routing-key patterns it subscribes to (repeat the flag for several).
    #[arg(long = "pattern", required = true)]
    patterns: Vec<String>,
}

pub(crate) async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    super::connect(&args.database).await?;
    eprintln!("Migrations applied.");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn outbox(args: OutboxArgs) -> anyhow::Result<ExitCode> {
    let OutboxCommand::Status { database, json } = args.command;
    let db = super::connect(&database).await?;
    let status = OutboxStore::new(db, Retention::default()).status().await?;
    print_status(&status, json)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn declare(args: DeclareArgs) -> anyhow::Result<ExitCode> {
    let DeclareArgs { broker, group, patterns } = args;
    herald_transport::check_name("--group", &group)?;
    let patterns = patterns
        .iter()
        .map(|p| p.parse().with_context(|| format!("--pattern `{p}`")))
        .collect::<anyhow::Result<Vec<herald_transport::Pattern>>>()?;
    let db = Database::connect("sqlite::memory:", &DatabaseOptions::default()).await?;
    let transport = broker.open(&db, 16)?;
    transport.declare_group(&group, &patterns).await?;
    eprintln!("Declared `{group}` on {} ({} patterns).", transport.name, patterns.len());
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: &[PartitionStatus], json: bool) -> anyhow::Result<()> {
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
