//! Choosing the transport from the command line: the embedded log, RabbitMQ or NATS.

use std::sync::Arc;

use anyhow::{Context, bail};
use herald_db::Database;
use herald_nats::{JetStream, NatsConfig};
use herald_rabbitmq::{RabbitMq, RabbitMqConfig};
use herald_transport::{Pattern, Publisher, SqlLog, SqlLogConfig, Subscriber, SubscriptionSpec};

/// Where events travel between services.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Broker URL: `amqp://…` (RabbitMQ) or `nats://…` (NATS JetStream); default: the
    /// embedded log in the database.
    #[arg(long, env = "HERALD_BROKER_URL")]
    pub broker: Option<String>,
    /// Prefix of the broker's names (exchange, queues, stream, subjects), so that several
    /// Herald installations can share one broker.
    #[arg(long, env = "HERALD_NAMESPACE", default_value = "herald")]
    pub namespace: String,
}

impl Default for BrokerArgs {
    /// The embedded log, namespace `herald`.
    fn default() -> Self {
        BrokerArgs { broker: None, namespace: "herald".into() }
    }
}

/// An open transport: both sides, one broker.
#[derive(Clone)]
pub struct Transport {
    /// The publishing side (the relay's, and replays').
    pub publisher: Arc<dyn Publisher>,
    /// The subscribing side (consumers').
    pub subscriber: Arc<dyn Subscriber>,
    rabbit: Option<Arc<RabbitMq>>,
    nats: Option<Arc<JetStream>>,
    /// `embedded log`, `RabbitMQ` or `NATS JetStream`.
    pub name: &'static str,
}

impl BrokerArgs {
    /// Checks the namespace and the URL's scheme, without connecting.
    pub fn check(&self) -> anyhow::Result<()> {
        check_namespace(&self.namespace)?;
        match self.broker.as_deref().filter(|url| !url.is_empty()) {
            None => Ok(()),
            Some(url) if is_amqp(url) || is_nats(url) => Ok(()),
            Some(url) => bail!(
                "--broker: `{}` is neither `amqp://…` (RabbitMQ) nor `nats://…` (NATS JetStream)",
                redact(url)
            ),
        }
    }

    /// Opens the transport; the embedded log lives in `db`.
    pub fn open(&self, db: &Database, partitions: u32) -> anyhow::Result<Transport> {
        self.check()?;
        let Some(url) = self.broker.as_deref().filter(|url| !url.is_empty()) else {
            let log = Arc::new(SqlLog::new(
                db.clone(),
                SqlLogConfig { partitions, ..SqlLogConfig::default() },
            ));
            return Ok(Transport {
                publisher: log.clone(),
                subscriber: log,
                rabbit: None,
                nats: None,
                name: "embedded log",
            });
        };
        let namespace = &self.namespace;
        if is_amqp(url) {
            let mut config = RabbitMqConfig::new(url);
            config.exchange = format!("{namespace}.events");
            config.queue_prefix = namespace.clone();
            let rabbit = Arc::new(RabbitMq::new(config));
            return Ok(Transport {
                publisher: rabbit.clone(),
                subscriber: rabbit.clone(),
                rabbit: Some(rabbit),
                nats: None,
                name: "RabbitMQ",
            });
        }
        if is_nats(url) {
            let mut config = NatsConfig::new(url);
            config.stream = format!("{}_EVENTS", namespace.to_ascii_uppercase().replace('-', "_"));
            config.subject_prefix = namespace.clone();
            let nats = Arc::new(JetStream::new(config));
            return Ok(Transport {
                publisher: nats.clone(),
                subscriber: nats.clone(),
                rabbit: None,
                nats: Some(nats),
                name: "NATS JetStream",
            });
        }
        bail!(
            "--broker: `{}` is neither `amqp://…` (RabbitMQ) nor `nats://…` (NATS JetStream)",
            redact(url)
        )
    }
}

impl Transport {
    /// Declares a consumer group's topology ahead of its consumer (RabbitMQ: its queue
    /// and bindings, so that nothing published before the consumer starts is unrouted).
    /// Other transports keep every event without it.
    pub async fn declare_group(&self, group: &str, patterns: &[Pattern]) -> anyhow::Result<()> {
        if let Some(rabbit) = &self.rabbit {
            let spec = SubscriptionSpec {
                group: group.into(),
                member: "declare".into(),
                patterns: patterns.to_vec(),
            };
            rabbit
                .declare_group(&spec)
                .await
                .with_context(|| format!("declaring the queue of `{group}`"))?;
        }
        Ok(())
    }
}

impl Transport {
    /// The same broker for the reference shop.
    pub fn shop_broker(&self) -> herald_shop::ShopBroker {
        match (&self.rabbit, &self.nats) {
            (Some(rabbit), _) => herald_shop::ShopBroker::RabbitMq(Arc::clone(rabbit)),
            (None, Some(nats)) => herald_shop::ShopBroker::Nats(Arc::clone(nats)),
            (None, None) => herald_shop::ShopBroker::Embedded,
        }
    }

    /// Deletes what the namespace holds on the broker: the queues of `groups` and the
    /// exchange (RabbitMQ) or the stream (NATS). For tests and teardown.
    pub async fn delete_topology(&self, groups: &[&str]) -> anyhow::Result<()> {
        if let Some(rabbit) = &self.rabbit {
            rabbit.delete_topology(groups).await?;
        }
        if let Some(nats) = &self.nats {
            nats.delete_stream().await?;
        }
        Ok(())
    }
}

fn is_amqp(url: &str) -> bool {
    url.starts_with("amqp://") || url.starts_with("amqps://")
}

fn is_nats(url: &str) -> bool {
    url.starts_with("nats://") || url.starts_with("tls://")
}

/// Namespaces become parts of broker names: `a-z`, `0-9`, `-`, starting with a letter.
fn check_namespace(namespace: &str) -> anyhow::Result<()> {
    let valid = namespace.len() <= 48
        && namespace.starts_with(|c: char| c.is_ascii_lowercase())
        && namespace.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "--namespace `{namespace}`: expected 1 to 48 characters of a-z, 0-9 and `-`, starting with a letter"
        );
    }
    Ok(())
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
