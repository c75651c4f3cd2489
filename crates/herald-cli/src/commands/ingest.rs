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
    /// Token for --registry's lookups (a read token is enough; unused without --registry).
    #[arg(long, env = "HERALD_REGISTRY_TOKEN", hide_env_values = true)]
    registry_token: Option<String>,
    /// The registry's public URL, for `dataschema` when validating against --database.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    registry_public_url: String,
    /// Bearer token that publishing requires (at least 16 characters; repeat it, or
    /// separate by commas, to accept two during a rotation).
    #[arg(
        long = "token",
        env = "HERALD_INGEST_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    tokens: Vec<String>,
    /// HTTP Basic user that publishing accepts (with --password).
    #[arg(long, env = "HERALD_INGEST_USER", requires = "password")]
    user: Option<String>,
    /// HTTP Basic password of --user.
    #[arg(long, env = "HERALD_INGEST_PASSWORD", requires = "user", hide_env_values = true)]
    password: Option<String>,
    /// Outbox partitions; all producers and relays must agree.
    #[arg(long, default_value_t = 16)]
    partitions: u32,
    /// Most events in one batch request.
    #[arg(long, default_value_t = herald_ingest::DEFAULT_MAX_BATCH_EVENTS)]
    max_batch_events: usize,
    #[command(flatten)]
    http: herald_cli::http::HttpArgs,
}

pub(crate) async fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    use herald_schema::{LocalRegistry, Registration, Schemas};
    let credentials = herald_cli::credentials::credentials(
        ("--token", args.tokens),
        ("--read-token", Vec::new()),
        args.user.zip(args.password),
    )
    .map_err(anyhow::Error::msg)?;
    if credentials.is_empty() {
        anyhow::bail!(
            "no --token or --user/--password (or HERALD_INGEST_TOKEN): ingest changes the outbox, so it needs credentials"
        );
    }
    let db = super::connect(&args.database).await?;
    let schemas = match &args.registry {
        Some(url) => {
            let credentials = match args.registry_token {
                Some(token) => herald_schema::Credentials::Bearer(token),
                None => herald_schema::Credentials::None,
            };
            let client = herald_schema::RegistryClient::new(url, credentials);
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
        .with_max_body_bytes(args.http.max_body_bytes_usize())
        .with_max_batch_events(args.max_batch_events);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("CloudEvents ingest on {}://{}/events", args.http.scheme(), listener.local_addr()?);
    let app = args.http.harden(herald_ingest::router(ingest).into_router(), args.listen);
    args.http.serve(listener, app, super::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
