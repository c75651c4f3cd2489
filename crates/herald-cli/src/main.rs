//! The `herald` binary.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald_cli::bench::{self, BenchOptions, View};
use herald_cli::dlq::{self, FilterArgs, ReplayRequest};
use herald_cli::schema::{self, RegistryClientArgs, SchemaFile, VersionArg};
use herald_cli::transport::BrokerArgs;
use herald_consumer::RetryPolicy;
use herald_db::{Database, DatabaseOptions};
use herald_outbox::{OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig};

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
    /// Run the reference shop end to end, with a live view and a checked summary.
    ///
    /// Customers place, pay and cancel orders; watch the events flow through orders,
    /// inventory, shipping and the notification service, then read what was produced,
    /// delivered and checked. Needs no server (SQLite and the embedded log); `--database`
    /// and `--broker` switch to PostgreSQL, RabbitMQ or NATS.
    Demo(DemoArgs),
    /// Run the server: relay, registry, notifications, admin API, metrics and dashboard.
    ///
    /// One process: the relay, the schema registry (at /registry), the notification
    /// service, the admin API (/api), Prometheus metrics (/metrics), probes (/healthz,
    /// /readyz) and the web dashboard (/). With no configuration at all it uses
    /// ./herald.db and the embedded log on 127.0.0.1:8080.
    Up(herald_cli::config::UpArgs),
    /// Check a configuration the way `herald up` reads it, naming every problem.
    ///
    /// The file (`--config`), the HERALD_* variables and the flags, flags winning.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Measure the whole path: commit → outbox → relay → transport → consumer.
    Bench(BenchArgs),
    /// Run a relay: publish committed outbox rows to the transport.
    ///
    /// The transport is the embedded log, RabbitMQ or NATS JetStream; rows are marked
    /// sent only once the broker confirmed them.
    Relay {
        /// Database URL holding the outbox (and the embedded log).
        #[arg(long, env = "HERALD_DATABASE_URL")]
        database: String,
        #[command(flatten)]
        broker: BrokerArgs,
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
        /// Keep the delivery ledger's records (`herald events show`) this many days.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
        ledger_retention_days: u32,
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
        #[command(flatten)]
        broker: BrokerArgs,
        /// Fault injection for crash tests: each handler waits this long inside its
        /// transaction, so that a kill lands mid-handler.
        #[arg(long, default_value_t = 0, hide = true)]
        handler_delay_ms: u64,
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
    /// Follow events through the delivery ledger.
    ///
    /// `show ID` lists every state an event went through (committed, published, retried,
    /// dead-lettered, replayed, delivered to and processed by each subscriber, notified);
    /// `list` finds events by key, type, subscriber and time.
    Events {
        /// Database URL (the outbox, the ledger and the consumers' tables).
        #[arg(long, env = "HERALD_DATABASE_URL", global = true)]
        database: Option<String>,
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Inspect and replay the dead-letter queues of consuming services.
    Dlq {
        /// Database URL of the consuming services (where their dead letters are).
        #[arg(long, env = "HERALD_DATABASE_URL", global = true)]
        database: Option<String>,
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Manage HTTP push subscriptions (signed webhooks).
    Subscriptions {
        /// Database URL holding the subscriptions.
        #[arg(long, env = "HERALD_DATABASE_URL", global = true)]
        database: Option<String>,
        #[command(subcommand)]
        command: SubscriptionsCommand,
    },
    /// Serve the schema registry (Confluent Schema Registry's REST API).
    ///
    /// The API is at the root path, so that existing Confluent clients and tools work
    /// unchanged.
    Registry(RegistryArgs),
    /// Register, check, list and show schemas in a registry.
    ///
    /// `check` exits non-zero on a breaking change, so a service's CI can gate on it.
    Schema {
        #[command(flatten)]
        registry: RegistryClientArgs,
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Run the notification service, or manage its deliveries, recipients and templates.
    ///
    /// It consumes `notification.#` events and delivers them by email, SMS, push and
    /// signed webhooks (`herald notify --database URL --smtp …`); `status`, `recipient`,
    /// `template` and `retry` manage it.
    Notify(Box<NotifyArgs>),
    /// Serve CloudEvents ingest over HTTP, for services in any language.
    ///
    /// `POST /events` in binary, structured or batch mode, validated against the
    /// registry and enqueued into the outbox.
    Ingest(IngestArgs),
    /// Declare a consuming service's queue and bindings ahead of its consumer.
    ///
    /// Idempotent; nothing published before the consumer starts is unrouted.
    Declare {
        #[command(flatten)]
        broker: BrokerArgs,
        /// The consuming service (consumer group).
        #[arg(long)]
        group: String,
        /// Routing-key patterns it subscribes to (repeat the flag for several).
        #[arg(long = "pattern", required = true)]
        patterns: Vec<String>,
    },
    /// Deliver events to push subscriptions' HTTP endpoints, signed.
    ///
    /// Signed per Standard Webhooks, with retries, backoff and dead letters; optionally
    /// serves the subscriptions API.
    Push(PushArgs),
}

#[derive(Debug, clap::Args)]
struct RegistryArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: std::net::SocketAddr,
    /// Database URL holding the schemas.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    /// Bearer token that changes require.
    #[arg(long, env = "HERALD_REGISTRY_TOKEN")]
    token: Option<String>,
    /// HTTP Basic user that changes accept (with --password).
    #[arg(long, env = "HERALD_REGISTRY_USER", requires = "password")]
    user: Option<String>,
    /// HTTP Basic password of --user.
    #[arg(long, env = "HERALD_REGISTRY_PASSWORD", requires = "user")]
    password: Option<String>,
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// Register a schema under a subject (refused if it breaks the subject's compatibility).
    Register {
        #[command(flatten)]
        file: SchemaFile,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a schema against a subject's version at its compatibility level; exits 1 on
    /// a breaking change, listing each difference.
    Check {
        #[command(flatten)]
        file: SchemaFile,
        /// The version to check against (`latest`, or a number).
        #[arg(long, default_value = "latest")]
        version: VersionArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List subjects and their versions.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a version of a subject.
    Show {
        /// The subject.
        subject: String,
        /// The version (`latest`, or a number).
        #[arg(long, default_value = "latest")]
        version: VersionArg,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct NotifyArgs {
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
    providers: herald_cli::notify::ProviderArgs,
    /// Also serve the notification API (status, recipients, templates) on this address.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Bearer token that API changes require.
    #[arg(long, env = "HERALD_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Attempts per delivery before it fails.
    #[arg(long, default_value_t = 5)]
    max_attempts: i32,
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

#[derive(Debug, clap::Args)]
struct IngestArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: std::net::SocketAddr,
    /// Database URL holding the outbox (and, without --registry, the schemas).
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    /// A schema registry to validate against over HTTP; default: the registry tables of
    /// --database.
    #[arg(long, env = "HERALD_REGISTRY_URL")]
    registry: Option<String>,
    /// The registry's public URL, for `dataschema` when validating against --database.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    registry_public_url: String,
    /// Bearer token that publishing requires.
    #[arg(long, env = "HERALD_INGEST_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// HTTP Basic user that publishing accepts (with --password).
    #[arg(long, env = "HERALD_INGEST_USER", requires = "password")]
    user: Option<String>,
    /// HTTP Basic password of --user.
    #[arg(long, env = "HERALD_INGEST_PASSWORD", requires = "user", hide_env_values = true)]
    password: Option<String>,
    /// Outbox partitions; all producers and relays must agree.
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = herald_ingest::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Most events in one batch request.
    #[arg(long, default_value_t = herald_ingest::DEFAULT_MAX_BATCH_EVENTS)]
    max_batch_events: usize,
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

#[derive(Debug, clap::Args)]
struct PushArgs {
    /// Database URL holding the subscriptions, the inbox and dead letters.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Also serve the subscriptions API (`/api/subscriptions`) on this address.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Bearer token the API requires for changes.
    #[arg(long, env = "HERALD_API_TOKEN")]
    token: Option<String>,
    /// Immediate re-sends after a failed delivery.
    #[arg(long, default_value_t = 0)]
    immediate_retries: u32,
    /// Delayed re-sends (exponential backoff with jitter) before the dead letter.
    #[arg(long, default_value_t = 8)]
    delayed_retries: u32,
    /// The first delay, in milliseconds (it doubles each time, up to 10 minutes).
    #[arg(long, default_value_t = 1000)]
    first_delay_ms: u64,
    /// Longest wait for an endpoint's answer, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
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

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Exit 0 if `herald up` would start with this configuration; otherwise list every
    /// problem and exit 1.
    Check(herald_cli::config::UpArgs),
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
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
    otlp_endpoint: Option<String>,
}

impl DemoArgs {
    fn options(self) -> herald_cli::demo::DemoOptions {
        herald_cli::demo::DemoOptions {
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
    #[command(flatten)]
    broker: BrokerArgs,
    /// Events per business transaction (each order and its event; all due together).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    events_per_tx: u64,
    /// Relay without recording the delivery ledger, to measure what the ledger costs.
    #[arg(long)]
    without_ledger: bool,
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
            broker: self.broker,
            events_per_tx: self.events_per_tx,
            ledger: !self.without_ledger,
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
    let cli = Cli::parse();
    let otlp_endpoint = match &cli.command {
        Command::Up(args) => args.resolve().ok().and_then(|config| config.otlp_endpoint),
        Command::Demo(args) => args.otlp_endpoint.clone().filter(|url| !url.is_empty()),
        // The check reports a bad endpoint along with every other problem.
        Command::Config { .. } => None,
        _ => std::env::var("HERALD_OTLP_ENDPOINT").ok().filter(|url| !url.is_empty()),
    };
    // Installed before the runtime starts (the exporter's client is a blocking one), and
    // dropped after it stops, which exports the last spans.
    let _telemetry = match herald_telemetry::Telemetry::install(otlp_endpoint.as_deref(), "herald")
    {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
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
        Command::Demo(args) => {
            let (json, options) = (args.json, args.options());
            if !json {
                eprintln!("{}", herald_cli::demo::introduction(&options));
            }
            let summary = herald_cli::demo::run(&options).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("{}", summary.render());
            }
            Ok(exit_code(summary.consistent))
        }
        Command::Up(args) => {
            let config = match args.resolve() {
                Ok(config) => config,
                Err(problems) => return Ok(report_problems(&problems)),
            };
            herald_cli::up::run(config, shutdown_signal()).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Check(args) } => match args.resolve() {
            Ok(config) => {
                eprintln!(
                    "The configuration is valid: listen {}, database {}, {}, {} partitions, \
                     API token {}, notification channels: {}, traces: {}.",
                    config.listen,
                    if config.database.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" },
                    match &config.broker.broker {
                        Some(_) => "a broker",
                        None => "the embedded log",
                    },
                    config.partitions,
                    if config.token.is_some() { "set" } else { "generated at start" },
                    match config.providers.channels()?.len() {
                        0 => "none".to_owned(),
                        n => n.to_string(),
                    },
                    config
                        .otlp_endpoint
                        .as_deref()
                        .map_or_else(|| "not exported".to_owned(), herald_telemetry::redact),
                );
                Ok(std::process::ExitCode::SUCCESS)
            }
            Err(problems) => Ok(report_problems(&problems)),
        },
        Command::Bench(args) => {
            let sqlite_given =
                args.database.as_deref().is_some_and(|url| url.starts_with("sqlite:"));
            if args.without_ledger && sqlite_given {
                anyhow::bail!(
                    "--without-ledger drops SQLite's ledger triggers, so it runs only on the \
                     benchmark's own temporary database: leave out --database"
                );
            }
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
            broker,
            relay_id,
            partitions,
            poll_interval_ms,
            retention_secs,
            ledger_retention_days,
            pause_before_mark_ms,
        } => {
            let config = RelayConfig {
                partitions,
                poll_interval: Duration::from_millis(poll_interval_ms.max(1)),
                pause_before_mark: Duration::from_millis(pause_before_mark_ms),
                relay_id: relay_id.unwrap_or_else(|| RelayConfig::default().relay_id),
                ..RelayConfig::default()
            };
            let store = |db| {
                OutboxStore::new(db, retention_of(retention_secs))
                    .with_ledger_retention(days(ledger_retention_days))
            };
            run_relay(&database, &broker, config, store).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::ShopConsumer { database, member, broker, handler_delay_ms } => {
            run_shop_consumer(&database, member, &broker, handler_delay_ms).await?;
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
        Command::Dlq { database, command } => run_dlq(database, command).await,
        Command::Events { database, command } => {
            let db = database_of(database).await?;
            match command {
                EventsCommand::Show { id, json } => {
                    let found = herald_cli::events::show(&db, &id, json).await?;
                    Ok(exit_code(found))
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
                    Ok(std::process::ExitCode::SUCCESS)
                }
            }
        }
        Command::Subscriptions { database, command } => run_subscriptions(database, command).await,
        Command::Push(args) => run_push(args).await,
        Command::Registry(args) => run_registry(args).await,
        Command::Schema { registry, command } => run_schema(&registry, command).await,
        Command::Ingest(args) => run_ingest(args).await,
        Command::Notify(args) => run_notify(*args).await,
        Command::Declare { broker, group, patterns } => {
            herald_transport::check_name("--group", &group)?;
            let patterns = patterns
                .iter()
                .map(|p| p.parse().with_context(|| format!("--pattern `{p}`")))
                .collect::<anyhow::Result<Vec<herald_transport::Pattern>>>()?;
            let db = Database::connect("sqlite::memory:", &DatabaseOptions::default()).await?;
            let transport = broker.open(&db, 16)?;
            transport.declare_group(&group, &patterns).await?;
            eprintln!("Declared `{group}` on {} ({} patterns).", transport.name, patterns.len());
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// Lists a configuration's problems on stderr; the exit code of a refused configuration.
fn report_problems(problems: &[String]) -> std::process::ExitCode {
    eprintln!("The configuration has {} problem(s):", problems.len());
    for problem in problems {
        eprintln!("  - {problem}");
    }
    std::process::ExitCode::FAILURE
}

/// The database of an operator command, or an error that says how to give it.
async fn database_of(database: Option<String>) -> anyhow::Result<Database> {
    let Some(url) = database else {
        anyhow::bail!("no database: pass --database URL or set HERALD_DATABASE_URL");
    };
    connect(&url).await
}

async fn run_dlq(
    database: Option<String>,
    command: DlqCommand,
) -> anyhow::Result<std::process::ExitCode> {
    let db = database_of(database).await?;
    match command {
        DlqCommand::List { filter, include_replayed, json } => {
            dlq::list(db, &filter, include_replayed, json).await?
        }
        DlqCommand::Show { id, json } => dlq::show(db, id, json).await?,
        DlqCommand::Replay { id, filter, all, dry_run, max_replays, broker, json } => {
            let request = ReplayRequest { id, filter, all, dry_run, max_replays, json };
            let clean = dlq::replay(db, &broker, &request).await?;
            return Ok(exit_code(clean));
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run_subscriptions(
    database: Option<String>,
    command: SubscriptionsCommand,
) -> anyhow::Result<std::process::ExitCode> {
    use herald_push::{NewSubscription, SubscriptionStore, SubscriptionStoreConfig};
    let store =
        SubscriptionStore::new(database_of(database).await?, SubscriptionStoreConfig::default())?;
    match command {
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
                        s.id, s.service, s.pattern, s.endpoint, s.consecutive_failures
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
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run_registry(args: RegistryArgs) -> anyhow::Result<std::process::ExitCode> {
    use herald_registry::api::{Credentials, router};
    let credentials = Credentials { token: args.token, basic: args.user.zip(args.password) };
    if credentials.token.is_none() && credentials.basic.is_none() {
        eprintln!("note: no --token or --user/--password: the registry is read-only");
    }
    let store = herald_registry::SchemaStore::new(connect(&args.database).await?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("Schema registry on http://{}", listener.local_addr()?);
    axum::serve(listener, router(store, credentials))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run_schema(
    registry: &RegistryClientArgs,
    command: SchemaCommand,
) -> anyhow::Result<std::process::ExitCode> {
    let client = registry.client()?;
    match command {
        SchemaCommand::Register { file, json } => schema::register(&client, &file, json).await?,
        SchemaCommand::Check { file, version, json } => {
            let compatible = schema::check(&client, &file, version.0, json).await?;
            if !compatible {
                return Ok(std::process::ExitCode::FAILURE);
            }
        }
        SchemaCommand::List { json } => schema::list(&client, json).await?,
        SchemaCommand::Show { subject, version, json } => {
            schema::show(&client, &subject, version.0, json).await?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run_notify(args: NotifyArgs) -> anyhow::Result<std::process::ExitCode> {
    use herald_cli::notify;
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
            notify::status(database_of(database).await?, &filter, json).await?;
        }
        Some(NotifyCommand::Retry { database, event, all }) => {
            if event.is_none() && !all {
                anyhow::bail!("say which: --event ID, or --all for every failed notification");
            }
            let store = herald_notify::NotificationStore::new(database_of(database).await?);
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
            let db = database_of(database).await?;
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
            let db = database_of(database).await?;
            let subject = subject.as_deref();
            let schema = schema_subject.as_deref();
            notify::add_template(db, &name, &channel, &locale, subject, &body, schema).await?;
        }
        None => serve_notify(args.run).await?,
    }
    Ok(std::process::ExitCode::SUCCESS)
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
        let credentials = herald_registry::api::Credentials { token: args.token, basic: None };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        eprintln!("Notification API on http://{}", listener.local_addr()?);
        let app = herald_notify::api::router(db.clone(), credentials);
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let service =
        herald_cli::notify::start_service(&db, &transport, channels, args.max_attempts, stopped)
            .await?;
    eprintln!(
        "Notification service: channels {}; consuming notification.# from {}.",
        service.channels.join(", "),
        transport.name
    );
    shutdown_signal().await;
    let _ = stop.send(true);
    for task in service.tasks {
        task.await??;
    }
    Ok(())
}

async fn run_ingest(args: IngestArgs) -> anyhow::Result<std::process::ExitCode> {
    use herald_registry::api::Credentials;
    use herald_schema::{LocalRegistry, Registration, Schemas};
    let credentials = Credentials { token: args.token, basic: args.user.zip(args.password) };
    if credentials.token.is_none() && credentials.basic.is_none() {
        anyhow::bail!(
            "no --token or --user/--password (or HERALD_INGEST_TOKEN): ingest changes the outbox, so it needs credentials"
        );
    }
    let db = connect(&args.database).await?;
    let schemas = match &args.registry {
        Some(url) => {
            let client = herald_schema::RegistryClient::new(url, herald_schema::Credentials::None);
            Schemas::new(client, Registration::LookUp)
        }
        None => {
            let store = herald_registry::SchemaStore::new(db.clone());
            Schemas::new(LocalRegistry::new(store, &args.registry_public_url), Registration::LookUp)
        }
    };
    let outbox = herald_outbox::Outbox::new(herald_outbox::OutboxConfig {
        partitions: args.partitions,
        ..herald_outbox::OutboxConfig::default()
    })?;
    let ingest = herald_ingest::Ingest::new(db, Arc::new(schemas), outbox, credentials)
        .with_max_body_bytes(args.max_body_bytes)
        .with_max_batch_events(args.max_batch_events);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("CloudEvents ingest on http://{}/events", listener.local_addr()?);
    axum::serve(listener, herald_ingest::router(ingest))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn run_push(args: PushArgs) -> anyhow::Result<std::process::ExitCode> {
    use herald_push::{PushClient, PushClientConfig, SubscriptionStore, SubscriptionStoreConfig};
    // Each subscription's workers hold a transaction while they POST; the store and the
    // log need connections besides.
    let options = DatabaseOptions { max_connections: 32, ..DatabaseOptions::default() };
    let db = Database::connect(&args.database, &options).await.context("opening the database")?;
    let transport = args.broker.open(&db, 16)?;
    let store = SubscriptionStore::new(db.clone(), SubscriptionStoreConfig::default())?;
    let client = PushClient::new(&PushClientConfig {
        timeout: Duration::from_millis(args.timeout_ms),
        ..PushClientConfig::default()
    })?;
    let settings = herald_cli::push::PushSettings {
        retry: RetryPolicy {
            immediate: args.immediate_retries,
            delayed: args.delayed_retries,
            first_delay: Duration::from_millis(args.first_delay_ms),
            max_delay: Duration::from_secs(600),
            jitter: 0.2,
        },
    };
    let (api_stop, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = match args.listen {
        Some(address) => {
            let Some(token) = args.token.as_deref() else {
                anyhow::bail!(
                    "--listen needs --token (or HERALD_API_TOKEN): changes to subscriptions require it"
                );
            };
            let router = herald_push::api::router(store.clone(), token)?;
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening on {address}"))?;
            eprintln!("Subscriptions API on http://{}/api/subscriptions", listener.local_addr()?);
            Some(tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = api_stopped.await;
                    })
                    .await
            }))
        }
        None => None,
    };
    herald_cli::push::run(db, transport, store, client, settings, shutdown_signal()).await?;
    let _ = api_stop.send(());
    if let Some(api) = api {
        api.await??;
    }
    Ok(std::process::ExitCode::SUCCESS)
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

async fn run_relay(
    url: &str,
    broker: &BrokerArgs,
    config: RelayConfig,
    store: impl FnOnce(Database) -> OutboxStore,
) -> anyhow::Result<()> {
    let db = connect(url).await?;
    let transport = broker.open(&db, config.partitions)?;
    eprintln!(
        "Relay {} publishing to {}; stop it with Ctrl-C or SIGTERM.",
        config.relay_id, transport.name
    );
    let relay = Relay::new(store(db), transport.publisher, config);
    relay.run(shutdown_signal()).await?;
    Ok(())
}

async fn run_shop_consumer(
    url: &str,
    member: String,
    broker: &BrokerArgs,
    handler_delay_ms: u64,
) -> anyhow::Result<()> {
    use herald_cli::workload::{self, RecordOrder, Tracker};
    use herald_consumer::{Consumer, ConsumerConfig, Router};
    let db = connect(url).await?;
    workload::create_tables(&db, &db).await?;
    let transport = broker.open(&db, 16)?;
    let config = ConsumerConfig { member, ..ConsumerConfig::new("shipping") };
    let tracker = Arc::new(Tracker::new(""));
    let record = RecordOrder { tracker, handler_delay: Duration::from_millis(handler_delay_ms) };
    let subscriber = transport.subscriber.as_ref();
    match db {
        Database::Postgres(pool) => {
            Consumer::new(config, pool, Router::new().on(record))
                .run(subscriber, shutdown_signal())
                .await?;
        }
        Database::Sqlite(sqlite) => {
            Consumer::new(config, sqlite.writer, Router::new().on(record))
                .run(subscriber, shutdown_signal())
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

/// The outbox retention of `--retention-secs`: 0 deletes rows when sent.
fn retention_of(secs: u64) -> Retention {
    match secs {
        0 => Retention::DeleteOnSend,
        secs => Retention::Keep(Duration::from_secs(secs)),
    }
}

fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 24 * 3600)
}
