//! `herald up`: one process running the relay, the schema registry, CloudEvents ingest
//! (`POST /events`), the notification service (when a channel has a provider), the
//! admin API, `/metrics`, the probes and the dashboard, on one address; it stops
//! gracefully on SIGTERM or Ctrl-C.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use herald_admin::AdminConfig;
use herald_db::{Database, DatabaseOptions};
use herald_http::{Api, Credentials};
use herald_ingest::Ingest;
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_push::{SubscriptionStore, SubscriptionStoreConfig};
use herald_registry::SchemaStore;
use herald_relay::{Relay, RelayConfig};

use herald_log::{SqlLog, SqlLogConfig};
use tokio::sync::watch;

use crate::config::UpConfig;

/// Replays of one dead letter beyond this are refused (a loop guard).
const MAX_REPLAYS: u32 = 5;

/// Runs everything until `shutdown` completes, then stops each part in turn.
pub async fn run(
    config: UpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let prometheus = match herald_admin::metrics::install() {
        Ok(handle) => Some(handle),
        Err(error) => {
            tracing::warn!(%error, "Metrics are off.");
            None
        }
    };
    let options = DatabaseOptions { max_connections: 16, ..DatabaseOptions::default() };
    let db = Database::connect(&config.database, &options).await.context("opening the database")?;
    let transport = config.broker.open(&db, config.partitions)?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();

    let relay = Relay::new(
        OutboxStore::new(db.clone(), Retention::Keep(Duration::from_secs(3600)))
            .with_ledger_retention(config.ledger_retention),
        Arc::clone(&transport.publisher),
        RelayConfig { partitions: config.partitions, ..RelayConfig::default() },
    );
    let relay_stats = relay.stats();
    let until = until(stopped.clone());
    tasks.push(tokio::spawn(async move { Ok(relay.run(until).await?) }));

    let channels = config.providers.channels()?;
    let notify = if channels.is_empty() {
        None
    } else {
        let service =
            crate::notify::start_service(&db, &transport, channels, 5, stopped.clone()).await?;
        tasks.extend(service.tasks);
        Some(service.channels)
    };

    let (tokens, generated) = if config.tokens.is_empty() {
        (vec![random_token()], true)
    } else {
        (config.tokens.clone(), false)
    };
    let credentials = Credentials {
        tokens: tokens.clone(),
        read_tokens: config.read_tokens.clone(),
        basic: None,
    };
    let embedded_log = (transport.name == "embedded log").then(|| {
        SqlLog::new(
            db.clone(),
            SqlLogConfig { partitions: config.partitions, ..SqlLogConfig::default() },
        )
    });
    let admin = AdminConfig {
        db: db.clone(),
        credentials: credentials.clone(),
        publisher: Some(Arc::clone(&transport.publisher)),
        relay: Some(relay_stats),
        embedded_log,
        transport: transport.name.to_owned(),
        prometheus,
        max_replays: MAX_REPLAYS,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let address = format!("{}://{}", config.http.scheme(), listener.local_addr()?);
    let ingest = ingest(&db, &credentials, &format!("{address}/registry"), config.partitions)?
        .with_max_body_bytes(config.http.max_body_bytes_usize());
    let app: Router = config.http.harden(
        api(&db, &credentials, admin, config.subscriptions(), ingest)?.into_router(),
        config.listen,
    );
    announce(&address, transport.name, notify.as_deref(), generated.then_some(tokens[0].as_str()));
    config.http.serve(listener, app, shutdown).await?;
    eprintln!("Stopping: the relay finishes its batch, the notification service its round.");
    stop.send_replace(true);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .context("a part did not stop within 30 s")???;
    }
    db.close().await;
    eprintln!("Stopped.");
    Ok(())
}

/// CloudEvents ingest into the outbox of `db` (`partitions` as the relay's), checking
/// payloads against the registry `herald up` serves at `registry_url`, which names the
/// events' `dataschema`; the same credentials as every write.
pub fn ingest(
    db: &Database,
    credentials: &Credentials,
    registry_url: &str,
    partitions: u32,
) -> anyhow::Result<Ingest> {
    use herald_schema::{LocalRegistry, Registration, Schemas};
    let registry = LocalRegistry::new(SchemaStore::new(db.clone()), registry_url);
    let schemas = Schemas::new(registry, Registration::LookUp);
    let outbox = Outbox::new(OutboxConfig { partitions, ..OutboxConfig::default() })?;
    Ok(Ingest::new(db.clone(), Arc::new(schemas), outbox, credentials.clone()))
}

/// Every HTTP route `herald up` serves: the admin API and dashboard (`admin`), push
/// subscriptions, CloudEvents ingest (`POST /events`), the notification API under `/api`
/// and the registry under `/registry`, each declared with the access it needs.
pub fn api(
    db: &Database,
    credentials: &Credentials,
    admin: AdminConfig,
    subscriptions: SubscriptionStoreConfig,
    ingest: Ingest,
) -> anyhow::Result<Api> {
    let subscriptions = SubscriptionStore::new(db.clone(), subscriptions)?;
    let registry = herald_registry::api::router(SchemaStore::new(db.clone()), credentials)
        .map_router(|router| {
            router.layer(axum::middleware::from_fn(|request, next| {
                herald_admin::metrics::count_requests("registry", request, next)
            }))
        });
    Ok(herald_admin::router(admin)
        .merge(herald_push::router(subscriptions, credentials)?)
        .merge(herald_ingest::router(ingest))
        .nest("/api", herald_notify::api::router(db.clone(), credentials))
        .nest("/registry", registry))
}

async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// What runs where, for the person who started it.
fn announce(
    address: &str,
    transport: &str,
    notify: Option<&[String]>,
    generated_token: Option<&str>,
) {
    eprintln!("Herald is up on {address}");
    eprintln!("  dashboard      {address}/");
    eprintln!("  admin API      {address}/api/overview (changes need the token)");
    eprintln!("  registry       {address}/registry (Confluent Schema Registry API)");
    eprintln!("  ingest         {address}/events (CloudEvents over HTTP, POST with the token)");
    eprintln!("  metrics        {address}/metrics · probes /healthz /readyz");
    let transport = if transport == "embedded log" { "the embedded log" } else { transport };
    eprintln!("  relay          publishing the outbox to {transport}");
    match notify {
        Some(channels) => eprintln!("  notifications  delivering by {}", channels.join(", ")),
        None => eprintln!(
            "  notifications  off: give --smtp, --webhook-secret, --sms or --push to deliver"
        ),
    }
    if let Some(token) = generated_token {
        eprintln!(
            "  API token      {token} (generated for this run; set --token or HERALD_API_TOKEN to choose one)"
        );
    }
}

/// 32 hex digits from the operating system's random source.
fn random_token() -> String {
    rand::random::<[u8; 16]>().iter().map(|byte| format!("{byte:02x}")).collect()
}
