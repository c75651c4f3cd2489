//! `herald notify`: the notification service, and the operator commands beside it
//! (status, recipients, templates).

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use herald_channels::{
    Channel, ChannelKind, FcmConfig, FcmPushProvider, RateLimit, SmtpConfig, SmtpProvider, SmtpTls,
    TwilioConfig, TwilioSmsProvider, WebhookConfig, WebhookProvider,
};
use herald_db::Database;
use herald_notify::{
    DeliveryFilter, DeliveryStatus, NotificationStore, QuietHours, RecipientStore, TemplateStore,
};
use reqwest::Url;

/// The providers of each channel, from flags or `HERALD_*` variables.
#[derive(Debug, Clone, clap::Args)]
pub struct ProviderArgs {
    /// SMTP server for email: `smtp://[user:password@]host[:port][?tls=none|starttls|tls]`.
    #[arg(long, env = "HERALD_SMTP_URL", hide_env_values = true)]
    pub smtp: Option<String>,
    /// The From address of emails.
    #[arg(long, env = "HERALD_SMTP_FROM", default_value = "herald@localhost")]
    pub smtp_from: String,
    /// Pooled SMTP connections.
    #[arg(long, default_value_t = 4)]
    pub smtp_pool: u32,
    /// A PEM file of CA certificates to trust, besides the built-in Mozilla roots, when
    /// verifying the SMTP server's certificate (`tls=starttls` or `tls=tls`).
    #[arg(long, env = "HERALD_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Standard Webhooks signing secret(s), `whsec_…`; several during a rotation.
    #[arg(
        long = "webhook-secret",
        env = "HERALD_WEBHOOK_SECRETS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub webhook_secrets: Vec<String>,
    /// A Twilio-style SMS API, in failover order: `https://SID:TOKEN@host?from=%2B15550001`.
    #[arg(long = "sms", env = "HERALD_SMS_URLS", value_delimiter = ' ', hide_env_values = true)]
    pub sms: Vec<String>,
    /// An FCM-style push API, in failover order: `https://TOKEN@host?project=PROJECT`.
    #[arg(long = "push", env = "HERALD_PUSH_URLS", value_delimiter = ' ', hide_env_values = true)]
    pub push: Vec<String>,
    /// A rate limit per provider of a channel, in sends per second: `email=50`, `sms=10`.
    #[arg(long = "rate-limit", value_parser = parse_rate)]
    pub rate_limits: Vec<(ChannelKind, NonZeroU32)>,
    /// Send webhooks to (and, for `herald up`, accept push subscriptions of) URLs on
    /// loopback, link-local and private addresses, refused by default (SSRF).
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_ENDPOINTS")]
    pub allow_private_endpoints: bool,
}

fn parse_rate(text: &str) -> Result<(ChannelKind, NonZeroU32), String> {
    let (channel, rate) =
        text.split_once('=').ok_or_else(|| format!("`{text}` is not CHANNEL=PER_SECOND"))?;
    let channel: ChannelKind =
        channel.parse().map_err(|_| format!("`{channel}` is not email, sms, push or webhook"))?;
    let rate = rate
        .parse()
        .map_err(|_| format!("`{rate}` is not a positive number of sends per second"))?;
    Ok((channel, rate))
}

impl ProviderArgs {
    /// The channels with at least one provider; a bad setting is named.
    pub fn channels(&self) -> anyhow::Result<Vec<Channel>> {
        let mut channels = Vec::new();
        if self.smtp.is_none() && self.smtp_ca_file.is_some() {
            bail!("--smtp-ca-file: a CA file for the SMTP server, but no --smtp");
        }
        if let Some(url) = &self.smtp {
            let config = self.smtp_config(url)?;
            let flag = if config.ca_file.is_some() { "--smtp, --smtp-ca-file" } else { "--smtp" };
            let provider = SmtpProvider::new(&config).context(flag)?;
            channels.push(self.channel(ChannelKind::Email, vec![Arc::new(provider)]));
        }
        if !self.webhook_secrets.is_empty() {
            let config = WebhookConfig {
                secrets: self.webhook_secrets.clone(),
                allow_private_endpoints: self.allow_private_endpoints,
                ..WebhookConfig::new("")
            };
            let provider = WebhookProvider::new(&config).context("--webhook-secret")?;
            channels.push(self.channel(ChannelKind::Webhook, vec![Arc::new(provider)]));
        }
        if !self.sms.is_empty() {
            let mut providers: Vec<Arc<dyn herald_channels::Provider>> = Vec::new();
            for url in &self.sms {
                providers
                    .push(Arc::new(TwilioSmsProvider::new(&twilio_config(url)?).context("--sms")?));
            }
            channels.push(self.channel(ChannelKind::Sms, providers));
        }
        if !self.push.is_empty() {
            let mut providers: Vec<Arc<dyn herald_channels::Provider>> = Vec::new();
            for url in &self.push {
                providers
                    .push(Arc::new(FcmPushProvider::new(&fcm_config(url)?).context("--push")?));
            }
            channels.push(self.channel(ChannelKind::Push, providers));
        }
        Ok(channels)
    }

    fn channel(
        &self,
        kind: ChannelKind,
        providers: Vec<Arc<dyn herald_channels::Provider>>,
    ) -> Channel {
        let limit = self
            .rate_limits
            .iter()
            .find(|(channel, _)| *channel == kind)
            .map(|(_, rate)| RateLimit::per_second(*rate));
        providers
            .into_iter()
            .fold(Channel::new(kind), |channel, provider| channel.with_provider(provider, limit))
    }

    fn smtp_config(&self, text: &str) -> anyhow::Result<SmtpConfig> {
        let url = parse_url("--smtp", text, &["smtp"])?;
        let host = url.host_str().context("--smtp needs a host")?;
        let mut config = SmtpConfig::new(host, &self.smtp_from);
        config.port = url.port().unwrap_or(25);
        config.pool_size = self.smtp_pool;
        config.ca_file = self.smtp_ca_file.clone();
        config.tls = match query(&url, "tls").as_deref() {
            None | Some("none") => SmtpTls::None,
            Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some(other) => bail!("--smtp: tls=`{other}` is not none, starttls or tls"),
        };
        if !url.username().is_empty() {
            let password = url.password().unwrap_or_default();
            config.credentials = Some((decode(url.username()), decode(password)));
        }
        Ok(config)
    }
}

fn twilio_config(text: &str) -> anyhow::Result<TwilioConfig> {
    let url = parse_url("--sms", text, &["http", "https"])?;
    let from = query(&url, "from").context("--sms needs ?from=<the sending number>")?;
    let (sid, token) = (decode(url.username()), decode(url.password().unwrap_or_default()));
    let mut config = TwilioConfig::new(sid, token, from);
    config.base_url = base_of(&url);
    config.name = format!("sms:{}", url.host_str().unwrap_or_default());
    Ok(config)
}

fn fcm_config(text: &str) -> anyhow::Result<FcmConfig> {
    let url = parse_url("--push", text, &["http", "https"])?;
    let project = query(&url, "project").context("--push needs ?project=<the project id>")?;
    let mut config = FcmConfig::new(project, decode(url.username()));
    config.base_url = base_of(&url);
    config.name = format!("push:{}", url.host_str().unwrap_or_default());
    Ok(config)
}

fn parse_url(flag: &str, text: &str, schemes: &[&str]) -> anyhow::Result<Url> {
    let url = Url::parse(text).map_err(|error| anyhow::anyhow!("{flag}: not a URL ({error})"))?;
    if !schemes.contains(&url.scheme()) {
        bail!("{flag}: the scheme `{}` is not {}", url.scheme(), schemes.join(" or "));
    }
    Ok(url)
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

fn base_of(url: &Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}", url.scheme(), url.host_str().unwrap_or_default())
}

/// Prints the deliveries by status, and those matching `filter`.
pub async fn status(db: Database, filter: &DeliveryFilter, json: bool) -> anyhow::Result<()> {
    let store = NotificationStore::new(db);
    let counts = store.counts().await?;
    let found = store.list(filter).await?;
    if json {
        let counts: serde_json::Map<String, serde_json::Value> =
            counts.into_iter().map(|(status, count)| (status, count.into())).collect();
        println!("{}", serde_json::json!({ "counts": counts, "notifications": found }));
        return Ok(());
    }
    let line: Vec<String> = DeliveryStatus::ALL
        .iter()
        .map(|status| {
            let count = counts.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            format!("{status} {count}")
        })
        .collect();
    println!("{}", line.join(" · "));
    if found.is_empty() {
        println!("No notifications match.");
        return Ok(());
    }
    println!(
        "{:<36}  {:<9}  {:<10}  {:<3}  {:<24}  LAST ERROR",
        "ID", "CHANNEL", "STATUS", "TRY", "RECIPIENT"
    );
    for delivery in &found {
        println!(
            "{:<36}  {:<9}  {:<10}  {:<3}  {:<24}  {}",
            delivery.id,
            delivery.channel,
            delivery.status.as_str(),
            delivery.attempts,
            delivery.recipient,
            delivery.last_error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// Creates or updates a recipient: profile, contacts (`channel=address`) and opt-outs
/// (`channel:category`, `*` for any).
pub async fn set_recipient(
    db: Database,
    id: &str,
    locale: &str,
    timezone: &str,
    quiet_hours: Option<&str>,
    contacts: &[String],
    opt_outs: &[String],
) -> anyhow::Result<()> {
    let store = RecipientStore::new(db);
    let quiet = quiet_hours.map(QuietHours::parse).transpose()?;
    store.upsert(id, locale, timezone, quiet).await?;
    for contact in contacts {
        let (channel, address) = contact
            .split_once('=')
            .with_context(|| format!("--contact `{contact}` is not CHANNEL=ADDRESS"))?;
        store.set_contact(id, channel, address).await?;
    }
    for opt_out in opt_outs {
        let (channel, category) = opt_out.split_once(':').unwrap_or((opt_out.as_str(), "*"));
        store.set_opt_out(id, channel, category, true).await?;
    }
    let saved = store.get(id).await?.context("the recipient was just saved")?;
    println!("{}", serde_json::to_string_pretty(&saved)?);
    Ok(())
}

/// Saves a template version; prints it.
pub async fn add_template(
    db: Database,
    name: &str,
    channel: &str,
    locale: &str,
    subject: Option<&str>,
    body: &str,
    schema_subject: Option<&str>,
) -> anyhow::Result<()> {
    let template =
        TemplateStore::new(db).save(name, channel, locale, subject, body, schema_subject).await?;
    println!(
        "Saved template `{}` for {} ({}), version {}.",
        template.name, template.channel, template.locale, template.version
    );
    Ok(())
}

/// The notification service started: the consumer planning `notification.#` events
/// (group `notify`) and the dispatcher sending them. Both stop when `stop` turns true.
pub struct RunningService {
    /// The channels with providers.
    pub channels: Vec<String>,
    /// The consumer and the dispatcher.
    pub tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts the notification service on `db`, consuming from `transport`.
pub async fn start_service(
    db: &Database,
    transport: &crate::transport::Transport,
    channels: Vec<Channel>,
    max_attempts: i32,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<RunningService> {
    use herald_consumer::{Consumer, ConsumerConfig, Router};
    use herald_notify::{Dispatcher, DispatcherConfig, NotifyHandler};
    let names: Vec<String> = channels.iter().map(|c| c.kind().to_string()).collect();
    let configured: Vec<&str> = names.iter().map(String::as_str).collect();
    let wake = Arc::new(tokio::sync::Notify::new());
    let handler = NotifyHandler::new(db.clone(), &configured, Arc::clone(&wake));
    let pattern: herald_transport::Pattern = "notification.#".parse()?;
    transport.declare_group("notify", std::slice::from_ref(&pattern)).await?;
    let config =
        DispatcherConfig { max_attempts: max_attempts.max(1), ..DispatcherConfig::default() };
    let dispatcher = channels
        .into_iter()
        .fold(Dispatcher::new(db.clone(), config, wake), Dispatcher::with_channel);
    let until = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let dispatching = {
        let stop = stop.clone();
        tokio::spawn(async move { Ok(dispatcher.run(until(stop)).await?) })
    };
    let consumer_config = ConsumerConfig::new("notify");
    let subscriber = Arc::clone(&transport.subscriber);
    let consuming = match db.clone() {
        Database::Postgres(pool) => {
            let consumer =
                Consumer::new(consumer_config, pool, Router::new().on_pattern(pattern, handler));
            tokio::spawn(async move {
                consumer.run(subscriber.as_ref(), until(stop)).await?;
                Ok(())
            })
        }
        Database::Sqlite(sqlite) => {
            let router = Router::new().on_pattern(pattern, handler);
            let consumer = Consumer::new(consumer_config, sqlite.writer, router);
            tokio::spawn(async move {
                consumer.run(subscriber.as_ref(), until(stop)).await?;
                Ok(())
            })
        }
    };
    Ok(RunningService { channels: names, tasks: vec![consuming, dispatching] })
}
