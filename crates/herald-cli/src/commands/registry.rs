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

pub(crate) async fn run(args: RegistryArgs) -> anyhow::Result<ExitCode> {
    use herald_http::Credentials;
    use herald_registry::api::router;
    let credentials = Credentials { token: args.token, basic: args.user.zip(args.password) };
    if credentials.token.is_none() && credentials.basic.is_none() {
        eprintln!("note: no --token or --user/--password: the registry is read-only");
    }
    let store = herald_registry::SchemaStore::new(super::connect(&args.database).await?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!("Schema registry on http://{}", listener.local_addr()?);
    axum::serve(listener, router(store, &credentials))
        .with_graceful_shutdown(super::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}
