//! Names and declarations: the exchange, the group queues, their bindings and delay queues.

use std::path::PathBuf;
use std::time::Duration;

use herald_transport::{Pattern, Result, TransportError};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

/// Settings of the RabbitMQ transport.
#[derive(Debug, Clone)]
pub struct RabbitMqConfig {
    /// The broker's URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`, or `amqps://…`
    /// for TLS (verified against the system's roots and [`RabbitMqConfig::tls_ca_file`]).
    pub url: String,
    /// The topic exchange events are published to.
    pub exchange: String,
    /// The prefix of queue names: `<prefix>.<group>`, `<prefix>.<group>.retry.<n>`.
    pub queue_prefix: String,
    /// Unacknowledged deliveries a subscriber may hold (the prefetch window).
    pub prefetch: u16,
    /// Longest wait for a broker confirmation.
    pub confirm_timeout: Duration,
    /// A PEM file of CA certificates to trust besides the system's roots, for an
    /// `amqps://` broker whose certificate a private CA signed. Default `None`.
    pub tls_ca_file: Option<PathBuf>,
}

impl RabbitMqConfig {
    /// Defaults for the broker at `url`.
    pub fn new(url: impl Into<String>) -> RabbitMqConfig {
        RabbitMqConfig {
            url: url.into(),
            exchange: "herald.events".into(),
            queue_prefix: "herald".into(),
            prefetch: 2048,
            confirm_timeout: Duration::from_secs(10),
            tls_ca_file: None,
        }
    }

    /// The queue of consumer group `group`.
    pub fn group_queue(&self, group: &str) -> String {
        format!("{}.{group}", self.queue_prefix)
    }

    /// The delay queue for the `attempt`-th retry of `group`.
    pub fn retry_queue(&self, group: &str, attempt: u32) -> String {
        format!("{}.{group}.retry.{attempt}", self.queue_prefix)
    }
}

/// Turns a lapin error into the seam's: broker refusals apart from lost connections.
#[allow(clippy::needless_pass_by_value, reason = "called as `.map_err(broker_error)`")]
pub(crate) fn broker_error(error: lapin::Error) -> TransportError {
    let text = error.to_string();
    if text.contains("PRECONDITION_FAILED") || text.contains("ACCESS_REFUSED") {
        TransportError::Refused(text)
    } else {
        TransportError::Unavailable(text)
    }
}

/// Opens a connection, naming the broker (without password) when it fails.
pub(crate) async fn connect(config: &RabbitMqConfig) -> Result<Connection> {
    let unavailable = |error: lapin::Error| {
        TransportError::Unavailable(format!("connecting to RabbitMQ: {error}"))
    };
    let properties = ConnectionProperties::default();
    let Some(ca_file) = &config.tls_ca_file else {
        return Connection::connect(&config.url, properties).await.map_err(unavailable);
    };
    let pem = tokio::fs::read_to_string(ca_file).await.map_err(|error| {
        TransportError::Refused(format!("the CA file `{}`: {error}", ca_file.display()))
    })?;
    let tls = OwnedTLSConfig { identity: None, cert_chain: Some(pem) };
    let runtime = lapin::runtime::default_runtime().map_err(unavailable)?;
    Connection::connect_with_config(&config.url, properties, tls, runtime)
        .await
        .map_err(unavailable)
}

/// Declares the durable topic exchange (idempotent).
pub(crate) async fn declare_exchange(channel: &Channel, config: &RabbitMqConfig) -> Result<()> {
    let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(
            config.exchange.as_str().into(),
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await
        .map_err(broker_error)
}

/// Declares a group's quorum queue with a single active consumer, and binds it by the
/// group's patterns (idempotent: declaring again with the same arguments changes nothing).
pub(crate) async fn declare_group_queue(
    channel: &Channel,
    config: &RabbitMqConfig,
    group: &str,
    patterns: &[Pattern],
) -> Result<()> {
    let queue = config.group_queue(group);
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    let options = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.as_str().into(), options, arguments).await.map_err(broker_error)?;
    for pattern in patterns {
        channel
            .queue_bind(
                queue.as_str().into(),
                config.exchange.as_str().into(),
                pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(broker_error)?;
    }
    Ok(())
}

/// Declares the delay queue of a retry attempt: messages wait there for their own TTL
/// and are then dead-lettered to the group's queue through the default exchange.
pub(crate) async fn declare_retry_queue(
    channel: &Channel,
    config: &RabbitMqConfig,
    group: &str,
    attempt: u32,
) -> Result<String> {
    let queue = config.retry_queue(group, attempt);
    let mut arguments = FieldTable::default();
    arguments.insert("x-dead-letter-exchange".into(), long_string(""));
    arguments.insert("x-dead-letter-routing-key".into(), long_string(&config.group_queue(group)));
    let options = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(queue.as_str().into(), options, arguments).await.map_err(broker_error)?;
    Ok(queue)
}

/// An AMQP long-string value.
pub(crate) fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text.to_owned()))
}

/// A short string from a `&str`.
pub(crate) fn short(text: &str) -> ShortString {
    ShortString::from(text)
}
