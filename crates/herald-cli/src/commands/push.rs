//! `herald push`: events delivered to push subscriptions' HTTP endpoints, signed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use herald_cli::transport::BrokerArgs;
use herald_consumer::RetryPolicy;
use herald_db::{Database, DatabaseOptions};

#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// Database URL holding the subscriptions, the inbox and dead letters.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    #[command(flatten)]
    broker: BrokerArgs,
    /// Also serve the subscriptions API (`/api/subscriptions`) on this address.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// The API's tokens (full, and read-only).
    #[command(flatten)]
    tokens: herald_cli::credentials::ApiTokenArgs,
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
    /// Deliver to (and accept subscriptions of) endpoints on loopback, link-local and
    /// private addresses, which are refused by default (SSRF).
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_ENDPOINTS")]
    allow_private_endpoints: bool,
    #[command(flatten)]
    http: herald_cli::http::HttpArgs,
}

pub(crate) async fn run(args: PushArgs) -> anyhow::Result<ExitCode> {
    use herald_push::{PushClient, PushClientConfig, SubscriptionStore, SubscriptionStoreConfig};
    // Each subscription's workers hold a transaction while they POST; the store and the
    // log need connections besides.
    let options = DatabaseOptions { max_connections: 32, ..DatabaseOptions::default() };
    let db = Database::connect(&args.database, &options).await.context("opening the database")?;
    let transport = args.broker.open(&db, 16)?;
    let allow_private_endpoints = args.allow_private_endpoints;
    let store_config =
        SubscriptionStoreConfig { allow_private_endpoints, ..SubscriptionStoreConfig::default() };
    let store = SubscriptionStore::new(db.clone(), store_config)?;
    let client = PushClient::new(&PushClientConfig {
        timeout: Duration::from_millis(args.timeout_ms),
        allow_private_endpoints,
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
            if args.tokens.tokens.is_empty() {
                anyhow::bail!(
                    "--listen needs --token (or HERALD_API_TOKEN): changes to subscriptions require it"
                );
            }
            let credentials = args.tokens.credentials().map_err(anyhow::Error::msg)?;
            let router = herald_push::api::router(store.clone(), &credentials)?.into_router();
            let router = args.http.harden(router, address);
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening on {address}"))?;
            let scheme = args.http.scheme();
            eprintln!(
                "Subscriptions API on {scheme}://{}/api/subscriptions",
                listener.local_addr()?
            );
            let http = args.http.clone();
            Some(tokio::spawn(async move {
                let stopped = async {
                    let _ = api_stopped.await;
                };
                http.serve(listener, router, stopped).await
            }))
        }
        None => None,
    };
    herald_cli::push::run(db, transport, store, client, settings, super::shutdown_signal()).await?;
    let _ = api_stop.send(());
    if let Some(api) = api {
        api.await??;
    }
    Ok(ExitCode::SUCCESS)
}
