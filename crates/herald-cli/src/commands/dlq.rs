//! `herald dlq list | show | replay`: the consuming services' dead letters.

use std::process::ExitCode;

use clap::Subcommand;
use herald_cli::dlq::{self, FilterArgs, ReplayRequest};
use herald_cli::transport::BrokerArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct DlqArgs {
    /// Database URL of the consuming services (where their dead letters are).
    #[arg(long, env = "HERALD_DATABASE_URL", global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// List dead letters (newest failure first).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Include entries already replayed.
        #[arg(long)]
        include_replayed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter: the reasons and the event.
    Show {
        /// The entry's id (from `herald dlq list`).
        id: uuid::Uuid,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters again, each to its own service only.
    Replay {
        /// One entry's id.
        id: Option<uuid::Uuid>,
        #[command(flatten)]
        filter: FilterArgs,
        /// Replay every dead entry (needed when neither an id nor a filter is given).
        #[arg(long)]
        all: bool,
        /// Show what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Leave entries replayed this many times already (the loop guard).
        #[arg(long, default_value_t = 3)]
        max_replays: u32,
        #[command(flatten)]
        broker: BrokerArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let db = super::database_of(args.database).await?;
    match args.command {
        DlqCommand::List { filter, include_replayed, json } => {
            dlq::list(db, &filter, include_replayed, json).await?;
        }
        DlqCommand::Show { id, json } => dlq::show(db, id, json).await?,
        DlqCommand::Replay { id, filter, all, dry_run, max_replays, broker, json } => {
            let request = ReplayRequest { id, filter, all, dry_run, max_replays, json };
            let clean = dlq::replay(db, &broker, &request).await?;
            return Ok(super::exit_code(clean));
        }
    }
    Ok(ExitCode::SUCCESS)
}
