//! `herald registry`: the schema registry's server (Confluent Schema Registry's REST API).

use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub(crate) struct RegistryArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: std::net::SocketAddr,
    /// Database URL holding the schemas.
    #[arg(long, env = "HERALD_DATABASE_URL")]
    database: String,
    /// Bearer token that changes require (at least 16 characters; repeat it, or separate
    /// by commas, to accept two during a rotation).
    #[arg(
        long = "token",
        env = "HERALD_REGISTRY_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    tokens: Vec<String>,
    /// Bearer token that may only look schemas up and check compatibility.
    #[arg(
        long = "read-token",
        env = "HERALD_REGISTRY_READ_TOKEN",
        hide_env_values = true,
        value_delimiter = ','
    )]
    read_tokens: Vec<String>,
    /// HTTP Basic user that changes accept (with --password).
    #[arg(long, env = "HERALD_REGISTRY_USER", requires = "password")]
    user: Option<String>,
    /// HTTP Basic password of --user.
    #[arg(long, env = "HERALD_REGISTRY_PASSWORD", requires = "user", hide_env_values = true)]
    password: Option<String>,
    #[command(flatten)]
    http: herald_cli::http::HttpArgs,
}

pub(crate) async fn run(args: RegistryArgs) -> anyhow::Result<ExitCode> {
    use herald_registry::api::router;
    let credentials = herald_cli::credentials::credentials(
        ("--token", args.tokens),
        ("--read-token", args.read_tokens),
        args.user.zip(args.password),
    )
    .map_err(anyhow::Error::msg)?;
    if credentials.is_empty() {
        eprintln!("note: no --token or --user/--password: the registry is read-only");
    }
    let store = herald_registry::SchemaStore::new(super::connect(&args.database).await?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("Schema registry on {}://{}", args.http.scheme(), listener.local_addr()?);
    let app = args.http.harden(router(store, &credentials).into_router(), args.listen);
    args.http.serve(listener, app, super::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
