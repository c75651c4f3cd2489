//! `herald events show | list`: events through the delivery ledger.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, clap::Args)]
pub(crate) struct EventsArgs {
    /// Database URL (the outbox, the ledger and the consumers' tables).
    #[arg(long, env = "HERALD_DATABASE_URL", global = true)]
    database: Option<String>,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Every state an event went through, in time order.
    Show {
        /// The event's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Events, newest first.
    List {
        /// With this partition key.
        #[arg(long)]
        key: Option<String>,
        /// Of this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Processed by this consuming service.
        #[arg(long)]
        service: Option<String>,
        /// Committed at or after (RFC 3339, e.g. 2026-11-22T08:00:00Z).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Committed before (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let db = super::database_of(args.database).await?;
    match args.command {
        EventsCommand::Show { id, json } => {
            let found = herald_cli::events::show(&db, &id, json).await?;
            Ok(super::exit_code(found))
        }
        EventsCommand::List { key, event_type, service, since, until, limit, json } => {
            let filter = herald_admin::ledger::EventFilter {
                partition_key: key,
                event_type,
                service,
                since,
                until,
                limit: Some(limit.clamp(1, 10_000)),
            };
            herald_cli::events::list(&db, &filter, json).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
