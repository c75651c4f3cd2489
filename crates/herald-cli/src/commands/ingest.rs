//! `herald ingest`: CloudEvents ingest over HTTP.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub(crate) struct IngestArgs {
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

pub(crate) async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    use herald_http::Credentials;
    use herald_schema::{LocalRegistry, Registration, Schemas};
    let credentials = Credentials { token: args.token, basic: args.user.zip(args.password) };
    if credentials.token.is_none() && credentials.basic.is_none() {
        anyhow::bail!(
            "no --token or --user/--password (or HERALD_INGEST_TOKEN): ingest changes the outbox, so it needs credentials"
        );
    }
    let db = super::connect(&args.database).await?;
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
        .with_graceful_shutdown(super::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}
