//! `herald notify`: the notification service, and its deliveries, recipients and
//! templates.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use herald_cli::notify::{self, ProviderArgs};
use herald_cli::transport::BrokerArgs;
use herald_db::{Database, DatabaseOptions};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct NotifyArgs {
    #[command(subcommand)]
    command: Option<NotifyCommand>,
    #[command(flatten)]
    run: NotifyRunArgs,
}

#[derive(Debug, clap::Args)]
struct NotifyRunArgs {
    /// Database URL: notification tables, recipients, templates (and the embedded log).
    #[arg(long, env = "HERALD_DATABASE_URL", required = true)]
    database: Option<String>,
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(flatten)]
    providers: ProviderArgs,
    /// Also serve the notification API (status, recipients, templates) on this address.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// The API's tokens (full, and read-only).
    #[command(flatten)]
    tokens: herald_cli::credentials::ApiTokenArgs,
    /// Attempts per delivery before it fails.
    #[arg(long, default_value_t = 5)]
    max_attempts: i32,
    #[command(flatten)]
    http: herald_cli::http::HttpArgs,
}

#[derive(Debug, Subcommand)]
enum NotifyCommand {
    /// Deliveries by status, and the notifications matching the filters.
    Status {
        /// Database URL.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: Option<String>,
        /// Of this event.
        #[arg(long)]
        event: Option<uuid::Uuid>,
        /// To this recipient.
        #[arg(long)]
        recipient: Option<String>,
        /// In this status (pending, sending, sent, failed, suppressed, held).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send failed notifications again (those of --event, or all); attempts start over.
    Retry {
        /// Database URL.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: Option<String>,
        /// Only this event's.
        #[arg(long)]
        event: Option<uuid::Uuid>,
        /// Every failed notification (required without --event).
        #[arg(long, conflicts_with = "event")]
        all: bool,
    },
    /// Create or update a recipient: locale, time zone, quiet hours, contacts, opt-outs.
    Recipient {
        /// Database URL.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: Option<String>,
        /// The recipient's id (your user id).
        id: String,
        /// Locale for templates.
        #[arg(long, default_value = "en")]
        locale: String,
        /// IANA time zone.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Quiet hours, local time: `22:00-07:00`.
        #[arg(long)]
        quiet_hours: Option<String>,
        /// A contact: `email=ada@example.com`, `sms=+15550001`, `webhook=https://…`.
        #[arg(long = "contact")]
        contacts: Vec<String>,
        /// An opt-out: `sms` (every category), `email:marketing`, `*:marketing`.
        #[arg(long = "opt-out")]
        opt_outs: Vec<String>,
    },
    /// Save a new version of a template.
    Template {
        /// Database URL.
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: Option<String>,
        /// The template's name.
        name: String,
        /// The channel: email, sms, push or webhook.
        #[arg(long)]
        channel: String,
        /// The locale.
        #[arg(long, default_value = "en")]
        locale: String,
        /// The subject (email) or title (push).
        #[arg(long)]
        subject: Option<String>,
        /// The body (minijinja); `@file` reads a file.
        #[arg(long)]
        body: String,
        /// A registry subject whose schema declares every field the template uses.
        #[arg(long)]
        schema_subject: Option<String>,
    },
}

pub(crate) async fn run(args: NotifyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(NotifyCommand::Status { database, event, recipient, status, limit, json }) => {
            let status = status.as_deref().map(str::parse).transpose()?;
            let filter = herald_notify::DeliveryFilter {
                event_id: event,
                recipient,
                status,
                channel: None,
                limit: Some(limit),
            };
            notify::status(super::database_of(database).await?, &filter, json).await?;
        }
        Some(NotifyCommand::Retry { database, event, all }) => {
            if event.is_none() && !all {
                anyhow::bail!("say which: --event ID, or --all for every failed notification");
            }
            let store = herald_notify::NotificationStore::new(super::database_of(database).await?);
            let count = store.retry_failed(event).await?;
            eprintln!(
                "{count} failed notifications are pending again; a running `herald notify` sends them."
            );
        }
        Some(NotifyCommand::Recipient {
            database,
            id,
            locale,
            timezone,
            quiet_hours,
            contacts,
            opt_outs,
        }) => {
            let db = super::database_of(database).await?;
            let quiet = quiet_hours.as_deref();
            notify::set_recipient(db, &id, &locale, &timezone, quiet, &contacts, &opt_outs).await?;
        }
        Some(NotifyCommand::Template {
            database,
            name,
            channel,
            locale,
            subject,
            body,
            schema_subject,
        }) => {
            let body = match body.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
                }
                None => body,
            };
            let db = super::database_of(database).await?;
            let subject = subject.as_deref();
            let schema = schema_subject.as_deref();
            notify::add_template(db, &name, &channel, &locale, subject, &body, schema).await?;
        }
        None => serve_notify(args.run).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve_notify(args: NotifyRunArgs) -> anyhow::Result<()> {
    let channels = args.providers.channels()?;
    if channels.is_empty() {
        anyhow::bail!(
            "no channel has a provider: give --smtp, --webhook-secret, --sms or --push (or their HERALD_* variables)"
        );
    }
    let options = DatabaseOptions { max_connections: 16, ..DatabaseOptions::default() };
    let url = args.database.context("--database is required")?;
    let db = Database::connect(&url, &options).await.context("opening the database")?;
    let transport = args.broker.open(&db, 16)?;
    if let Some(listen) = args.listen {
        let credentials = args.tokens.credentials().map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!("Notification API on {}://{}", args.http.scheme(), listener.local_addr()?);
        let app = herald_notify::api::router(db.clone(), &credentials).into_router();
        let app = args.http.harden(app, listen);
        let http = args.http.clone();
        tokio::spawn(async move { http.serve(listener, app, std::future::pending()).await });
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let service =
        notify::start_service(&db, &transport, channels, args.max_attempts, stopped).await?;
    eprintln!(
        "Notification service: channels {}; consuming notification.# from {}.",
        service.channels.join(", "),
        transport.name
    );
    super::shutdown_signal().await;
    let _ = stop.send(true);
    for task in service.tasks {
        task.await??;
    }
    Ok(())
}
