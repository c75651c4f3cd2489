//! `herald up`'s configuration: a TOML file, `HERALD_*` variables and flags, flags
//! winning over variables and variables over the file; and its check, which names every
//! problem at once (`herald config check`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::notify::ProviderArgs;
use crate::transport::BrokerArgs;

/// The default address of `herald up`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The default database of `herald up`: a SQLite file in the working directory.
pub const DEFAULT_DATABASE: &str = "sqlite://herald.db";

/// The flags (and their variables) of `herald up` and `herald config check`.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// A TOML configuration file (keys: listen, database, broker, broker_ca_file,
    /// broker_client_cert, broker_client_key, namespace, partitions, token, read_token,
    /// otlp_endpoint, ledger_retention_days, allowed_hosts, allow_private_endpoints, and a
    /// [notify] table: smtp, smtp_from, smtp_ca_file, webhook_secrets, sms, push).
    #[arg(long, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the dashboard, the admin API, the registry and the probes
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "HERALD_LISTEN")]
    pub listen: Option<String>,
    /// Database URL [default: sqlite://herald.db, in the working directory].
    #[arg(long, env = "HERALD_DATABASE_URL")]
    pub database: Option<String>,
    /// Broker URL (`amqp://…`, `amqps://…`, `nats://…`, `tls://…`) [default: the
    /// embedded log in the database].
    #[arg(long, env = "HERALD_BROKER_URL")]
    pub broker: Option<String>,
    /// A PEM file of CA certificates to trust, besides the system's, when verifying the
    /// broker's TLS certificate (`amqps://`, or NATS, where it makes TLS required).
    #[arg(long, env = "HERALD_BROKER_CA_FILE")]
    pub broker_ca_file: Option<PathBuf>,
    /// NATS: a client certificate (PEM) for a server that verifies its clients (mutual
    /// TLS); with --broker-client-key.
    #[arg(long, env = "HERALD_BROKER_CLIENT_CERT")]
    pub broker_client_cert: Option<PathBuf>,
    /// NATS: the private key (PEM) of --broker-client-cert.
    #[arg(long, env = "HERALD_BROKER_CLIENT_KEY")]
    pub broker_client_key: Option<PathBuf>,
    /// Prefix of the broker's names [default: herald].
    #[arg(long, env = "HERALD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Outbox partitions; every producer and relay must agree [default: 16].
    #[arg(long, env = "HERALD_PARTITIONS")]
    pub partitions: Option<u32>,
    /// The API's tokens (full, and read-only) [default: a full one generated and printed
    /// at start].
    #[command(flatten)]
    pub tokens: crate::credentials::ApiTokenArgs,
    /// Export traces to this OpenTelemetry collector over OTLP/HTTP, e.g.
    /// http://127.0.0.1:4318 [default: no export]. Which spans: HERALD_TRACE (default
    /// info); logs: HERALD_LOG (default warn).
    #[arg(long, env = "HERALD_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Keep the delivery ledger's records (event journeys) this many days [default: 7].
    #[arg(long, env = "HERALD_LEDGER_RETENTION_DAYS")]
    pub ledger_retention_days: Option<u32>,
    /// The notification service's providers (none: the service does not run).
    #[command(flatten)]
    pub providers: ProviderArgs,
    /// The hosts the HTTP API answers to and its limits.
    #[command(flatten)]
    pub http: crate::http::HttpArgs,
}

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database: Option<String>,
    broker: Option<String>,
    broker_ca_file: Option<PathBuf>,
    broker_client_cert: Option<PathBuf>,
    broker_client_key: Option<PathBuf>,
    namespace: Option<String>,
    partitions: Option<u32>,
    #[serde(default)]
    token: Tokens,
    #[serde(default)]
    read_token: Tokens,
    otlp_endpoint: Option<String>,
    ledger_retention_days: Option<u32>,
    #[serde(default)]
    allowed_hosts: Vec<String>,
    #[serde(default)]
    allow_private_endpoints: bool,
    #[serde(default)]
    notify: NotifyFile,
}

/// `token = "…"` or `token = ["old…", "new…"]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Tokens {
    #[default]
    None,
    One(String),
    Several(Vec<String>),
}

impl Tokens {
    fn into_vec(self) -> Vec<String> {
        match self {
            Tokens::None => Vec::new(),
            Tokens::One(token) => vec![token],
            Tokens::Several(tokens) => tokens,
        }
    }
}

/// The `[notify]` table: the notification service's providers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyFile {
    smtp: Option<String>,
    smtp_from: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    #[serde(default)]
    webhook_secrets: Vec<String>,
    #[serde(default)]
    sms: Vec<String>,
    #[serde(default)]
    push: Vec<String>,
}

/// The configuration `herald up` runs with, every value checked.
#[derive(Debug)]
pub struct UpConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The database URL.
    pub database: String,
    /// The broker (or the embedded log) and the namespace.
    pub broker: BrokerArgs,
    /// Outbox partitions.
    pub partitions: u32,
    /// The full-access API tokens (several during a rotation); empty = generate one at
    /// start.
    pub tokens: Vec<String>,
    /// The read-only tokens.
    pub read_tokens: Vec<String>,
    /// The notification service's providers (none = the service does not run).
    pub providers: ProviderArgs,
    /// Where traces are exported over OTLP/HTTP; `None` = not exported.
    pub otlp_endpoint: Option<String>,
    /// How long the delivery ledger keeps an event's record.
    pub ledger_retention: std::time::Duration,
    /// The hosts the HTTP API answers to and its limits.
    pub http: crate::http::HttpArgs,
    /// Whether push subscriptions and webhooks may reach private endpoints (from the
    /// providers' flag or the file).
    pub allow_private_endpoints: bool,
}

impl UpConfig {
    /// The push subscriptions' settings.
    pub fn subscriptions(&self) -> herald_push::SubscriptionStoreConfig {
        herald_push::SubscriptionStoreConfig {
            allow_private_endpoints: self.allow_private_endpoints,
            ..herald_push::SubscriptionStoreConfig::default()
        }
    }
}

impl UpArgs {
    /// Merges the file, the variables and the flags, and checks every value. The error
    /// lists each problem, naming the setting, the value (never a secret) and what is
    /// expected.
    pub fn resolve(&self) -> Result<UpConfig, Vec<String>> {
        let file = match &self.config {
            None => Ok(FileConfig::default()),
            Some(path) => std::fs::read(path)
                .map_err(|error| format!("config: cannot read `{}`: {error}", path.display()))
                .and_then(|contents| parse_file(path, &contents)),
        };
        self.resolve_with(file)
    }

    /// Like [`UpArgs::resolve`], with the configuration file's `contents` given rather
    /// than read from [`UpArgs::config`]; `path` names the file in messages. Contents that
    /// are not a valid file are one of the problems listed, never a panic.
    pub fn resolve_contents(
        &self,
        path: &std::path::Path,
        contents: &[u8],
    ) -> Result<UpConfig, Vec<String>> {
        self.resolve_with(parse_file(path, contents))
    }

    /// Merges `file` (or its problem), the variables and the flags, and checks every value.
    fn resolve_with(&self, file: Result<FileConfig, String>) -> Result<UpConfig, Vec<String>> {
        let mut problems = Vec::new();
        let file = file.unwrap_or_else(|problem| {
            problems.push(problem);
            FileConfig::default()
        });
        let listen_text =
            self.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
            problems.push(format!(
                "listen: `{listen_text}` is not HOST:PORT with an IP address, e.g. 127.0.0.1:8080"
            ))
        });
        let database =
            self.database.clone().or(file.database).unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        if !(database.starts_with("sqlite:")
            || database.starts_with("postgres://")
            || database.starts_with("postgresql://"))
        {
            problems.push(format!(
                "database: `{}` is neither `sqlite://FILE` nor `postgres://…`",
                redact(&database)
            ));
        }
        let broker = BrokerArgs {
            broker: self.broker.clone().or(file.broker).filter(|url| !url.is_empty()),
            namespace: self.namespace.clone().or(file.namespace).unwrap_or_else(|| "herald".into()),
            broker_ca_file: self.broker_ca_file.clone().or(file.broker_ca_file),
            broker_client_cert: self.broker_client_cert.clone().or(file.broker_client_cert),
            broker_client_key: self.broker_client_key.clone().or(file.broker_client_key),
        };
        if let Err(error) = broker.check() {
            problems.push(format!("{error:#}"));
        }
        let partitions = self.partitions.or(file.partitions).unwrap_or(16);
        if !(1..=4096).contains(&partitions) {
            problems.push(format!("partitions: {partitions} is not between 1 and 4096"));
        }
        let or_file = |given: &Vec<String>, from_file: Tokens| {
            if given.is_empty() { from_file.into_vec() } else { given.clone() }
        };
        let tokens = or_file(&self.tokens.tokens, file.token);
        let read_tokens = or_file(&self.tokens.read_tokens, file.read_token);
        problems.extend(crate::credentials::token_problem("token", &tokens));
        problems.extend(crate::credentials::token_problem("read_token", &read_tokens));
        let otlp_endpoint =
            self.otlp_endpoint.clone().or(file.otlp_endpoint).filter(|url| !url.is_empty());
        if let Some(endpoint) = &otlp_endpoint
            && let Err(error) = herald_telemetry::check_endpoint(endpoint)
        {
            problems.push(error.to_string());
        }
        let ledger_days = self.ledger_retention_days.or(file.ledger_retention_days).unwrap_or(7);
        if !(1..=3650).contains(&ledger_days) {
            problems.push(format!(
                "ledger_retention_days: {ledger_days} is not between 1 and 3650 (days)"
            ));
        }
        let ledger_retention = std::time::Duration::from_secs(u64::from(ledger_days) * 86_400);
        let mut providers = self.providers_with(file.notify);
        providers.allow_private_endpoints |= file.allow_private_endpoints;
        let allow_private_endpoints = providers.allow_private_endpoints;
        if let Err(error) = providers.channels() {
            problems.push(format!("notify: {error:#}"));
        }
        let mut http = self.http.clone();
        if http.allowed_hosts.is_empty() {
            http.allowed_hosts = file.allowed_hosts;
        }
        if let Err(error) = http.tls() {
            problems.push(format!("{error:#}"));
        }
        match listen {
            Ok(listen) if problems.is_empty() => Ok(UpConfig {
                listen,
                database,
                broker,
                partitions,
                tokens,
                read_tokens,
                providers,
                otlp_endpoint,
                ledger_retention,
                http,
                allow_private_endpoints,
            }),
            _ => Err(problems),
        }
    }

    /// The flags' providers, completed by the file's where the flags give none.
    fn providers_with(&self, file: NotifyFile) -> ProviderArgs {
        let mut providers = self.providers.clone();
        if providers.smtp.is_none() {
            providers.smtp = file.smtp;
        }
        if providers.smtp_ca_file.is_none() {
            providers.smtp_ca_file = file.smtp_ca_file;
        }
        if let Some(from) = file.smtp_from.filter(|_| providers.smtp_from == "herald@localhost") {
            providers.smtp_from = from;
        }
        for (given, from_file) in [
            (&mut providers.webhook_secrets, file.webhook_secrets),
            (&mut providers.sms, file.sms),
            (&mut providers.push, file.push),
        ] {
            if given.is_empty() {
                *given = from_file;
            }
        }
        providers
    }
}

/// Parses the configuration file's `contents` (UTF-8 TOML); `path` names it in messages.
fn parse_file(path: &std::path::Path, contents: &[u8]) -> Result<FileConfig, String> {
    let text = std::str::from_utf8(contents)
        .map_err(|error| format!("config: `{}` is not UTF-8 text: {error}", path.display()))?;
    toml::from_str(text)
        .map_err(|error| format!("config: `{}`: {}", path.display(), error.to_string().trim_end()))
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
