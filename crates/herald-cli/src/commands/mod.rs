//! The `herald` subcommands: one module per command (or per closely related group), each
//! with its clap arguments and its `run`; here the [`Command`] enum, [`dispatch`], and the
//! helpers the commands share.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use herald_db::{Database, DatabaseOptions};

mod bench;
mod chaos;
mod demo;
mod dlq;
mod events;
mod ingest;
mod notify;
mod push;
mod registry;
mod relay;
mod schema;
mod setup;
mod subscriptions;
#[cfg(feature = "testing")]
mod testing;
mod up;

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the reference shop end to end, with a live view and a checked summary.
    ///
    /// Customers place, pay and cancel orders; watch the events flow through orders,
    /// inventory, shipping and the notification service, then read what was produced,
    /// delivered and checked. Needs no server (SQLite and the embedded log); `--database`
    /// and `--broker` switch to PostgreSQL, RabbitMQ or NATS.
    Demo(demo::DemoArgs),
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
    Config(up::ConfigArgs),
    /// Measure the whole path: commit → outbox → relay → transport → consumer.
    Bench(bench::BenchArgs),
    /// Inject faults into a counted run and report what was lost or applied twice.
    ///
    /// Producers commit orders, `herald relay` runs as a child process, a consumer with
    /// an inbox applies each order, while a scenario kills the relay or the consumer,
    /// cuts or stalls the network to the broker, or restarts the broker; the databases
    /// are counted at the end. Exits non-zero if an event was lost, applied twice or out
    /// of order.
    Chaos(chaos::ChaosArgs),
    /// Run a relay: publish committed outbox rows to the transport.
    ///
    /// The transport is the embedded log, RabbitMQ or NATS JetStream; rows are marked
    /// sent only once the broker confirmed them.
    Relay(relay::RelayArgs),
    /// Run the demo shop's consumer (`shipping`) until stopped; for `herald chaos` and
    /// crash tests.
    #[command(hide = true)]
    ShopConsumer(chaos::ShopConsumerArgs),
    /// Apply Herald's migrations to a database.
    Migrate(setup::MigrateArgs),
    /// Inspect the outbox.
    Outbox(setup::OutboxArgs),
    /// Follow events through the delivery ledger.
    ///
    /// `show ID` lists every state an event went through (committed, published, retried,
    /// dead-lettered, replayed, delivered to and processed by each subscriber, notified);
    /// `list` finds events by key, type, subscriber and time.
    Events(events::EventsArgs),
    /// Inspect and replay the dead-letter queues of consuming services.
    Dlq(dlq::DlqArgs),
    /// Manage HTTP push subscriptions (signed webhooks).
    Subscriptions(subscriptions::SubscriptionsArgs),
    /// Serve the schema registry (Confluent Schema Registry's REST API).
    ///
    /// The API is at the root path, so that existing Confluent clients and tools work
    /// unchanged.
    Registry(registry::RegistryArgs),
    /// Register, check, list and show schemas in a registry.
    ///
    /// `check` exits non-zero on a breaking change, so a service's CI can gate on it.
    Schema(schema::SchemaArgs),
    /// Run the notification service, or manage its deliveries, recipients and templates.
    ///
    /// It consumes `notification.#` events and delivers them by email, SMS, push and
    /// signed webhooks (`herald notify --database URL --smtp …`); `status`, `recipient`,
    /// `template` and `retry` manage it.
    Notify(Box<notify::NotifyArgs>),
    /// Serve CloudEvents ingest over HTTP, for services in any language.
    ///
    /// `POST /events` in binary, structured or batch mode, validated against the
    /// registry and enqueued into the outbox.
    Ingest(ingest::IngestArgs),
    /// Declare a consuming service's queue and bindings ahead of its consumer.
    ///
    /// Idempotent; nothing published before the consumer starts is unrouted.
    Declare(setup::DeclareArgs),
    /// Deliver events to push subscriptions' HTTP endpoints, signed.
    ///
    /// Signed per Standard Webhooks, with retries, backoff and dead letters; optionally
    /// serves the subscriptions API.
    Push(push::PushArgs),
}

/// Runs a command; its exit code, or the error `main` prints.
pub(crate) async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo(args) => demo::run(args).await,
        Command::Up(args) => up::run(&args).await,
        Command::Config(args) => up::check(args),
        Command::Bench(args) => bench::run(args).await,
        Command::Chaos(args) => chaos::run(args).await,
        Command::Relay(args) => relay::run(args).await,
        Command::ShopConsumer(args) => chaos::run_shop_consumer(args).await,
        Command::Migrate(args) => setup::migrate(args).await,
        Command::Outbox(args) => setup::outbox(args).await,
        Command::Events(args) => events::run(args).await,
        Command::Dlq(args) => dlq::run(args).await,
        Command::Subscriptions(args) => subscriptions::run(args).await,
        Command::Push(args) => push::run(args).await,
        Command::Registry(args) => registry::run(args).await,
        Command::Schema(args) => schema::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::Notify(args) => notify::run(*args).await,
        Command::Declare(args) => setup::declare(args).await,
    }
}

/// Exit code 0 if a run was clean, 2 if it was not (1 is for errors).
fn exit_code(clean: bool) -> ExitCode {
    if clean { ExitCode::SUCCESS } else { ExitCode::from(2) }
}

async fn connect(url: &str) -> anyhow::Result<Database> {
    Database::connect(url, &DatabaseOptions::default()).await.context("opening the database")
}

/// The database of an operator command, or an error that says how to give it.
async fn database_of(database: Option<String>) -> anyhow::Result<Database> {
    let Some(url) = database else {
        anyhow::bail!("no database: pass --database URL or set HERALD_DATABASE_URL");
    };
    connect(&url).await
}

/// Resolves on Ctrl-C or SIGTERM.
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
