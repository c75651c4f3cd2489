//! `herald subscriptions add | list | remove | enable | rotate-secret`: HTTP push
//! subscriptions.

use std::process::ExitCode;

use clap::Subcommand;
use herald_push::{NewSubscription, SubscriptionStore, SubscriptionStoreConfig};

#[derive(Debug, clap::Args)]
pub(crate) struct SubscriptionsArgs {
    /// Database URL holding the subscriptions.
    #[arg(long, env = "HERALD_DATABASE_URL", global = true)]
    database: Option<String>,
    /// Accept endpoints on loopback, link-local and private addresses (refused by default:
    /// a subscription could otherwise send requests into Herald's own network).
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_ENDPOINTS", global = true)]
    allow_private_endpoints: bool,
    #[command(subcommand)]
    command: SubscriptionsCommand,
}

#[derive(Debug, Subcommand)]
enum SubscriptionsCommand {
    /// Add a subscription: events matching PATTERN are POSTed to ENDPOINT. Prints the
    /// signing secret once.
    Add {
        /// The subscribing service.
        #[arg(long)]
        service: String,
        /// Routing-key pattern, e.g. `integration.orders.#`.
        #[arg(long)]
        pattern: String,
        /// A CloudEvents SQL expression the events must also satisfy, e.g.
        /// "source = '/orders' AND eventkind = 'integration'".
        #[arg(long)]
        filter: Option<String>,
        /// The HTTP(S) URL to POST events to.
        #[arg(long)]
        endpoint: String,
        /// A `whsec_…` secret to use instead of a generated one.
        #[arg(long, env = "HERALD_WEBHOOK_SECRET")]
        secret: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List subscriptions (secrets are never shown).
    List {
        /// Only this service's.
        #[arg(long)]
        service: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a subscription.
    Remove {
        /// The subscription's id.
        id: uuid::Uuid,
    },
    /// Enable a subscription disabled after persistent failure.
    Enable {
        /// The subscription's id.
        id: uuid::Uuid,
    },
    /// Issue a new signing secret (the old one keeps signing for 24 h).
    RotateSecret {
        /// The subscription's id.
        id: uuid::Uuid,
    },
}

pub(crate) async fn run(args: SubscriptionsArgs) -> anyhow::Result<ExitCode> {
    let store = SubscriptionStore::new(
        super::database_of(args.database).await?,
        SubscriptionStoreConfig {
            allow_private_endpoints: args.allow_private_endpoints,
            ..SubscriptionStoreConfig::default()
        },
    )?;
    match args.command {
        SubscriptionsCommand::Add { service, pattern, filter, endpoint, secret, json } => {
            let issued = store
                .create(&NewSubscription { service, pattern, filter, endpoint, secret })
                .await?;
            if json {
                let mut value = serde_json::to_value(&issued.subscription)?;
                value["secret"] = issued.secret.expose().into();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                println!("subscription {} added", issued.subscription.id);
                println!("signing secret (shown once): {}", issued.secret.expose());
            }
        }
        SubscriptionsCommand::List { service, json } => {
            let subscriptions = store.list(service.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&subscriptions)?);
            } else if subscriptions.is_empty() {
                println!("No push subscriptions.");
            } else {
                for s in &subscriptions {
                    let state = if s.is_disabled() { "DISABLED" } else { "active" };
                    println!(
                        "{}  {:<16} {:<32} {} ({state}, {} failures in a row)",
                        s.id,
                        s.service,
                        s.pattern,
                        herald_push::shown_endpoint(&s.endpoint),
                        s.consecutive_failures
                    );
                }
            }
        }
        SubscriptionsCommand::Remove { id } => {
            store.delete(id).await?;
            println!("subscription {id} removed");
        }
        SubscriptionsCommand::Enable { id } => {
            store.enable(id).await?;
            println!(
                "subscription {id} enabled; `herald dlq replay --service …` re-sends what it missed"
            );
        }
        SubscriptionsCommand::RotateSecret { id } => {
            let issued = store.rotate_secret(id, None).await?;
            println!("new signing secret (shown once): {}", issued.secret.expose());
        }
    }
    Ok(ExitCode::SUCCESS)
}
