//! Publishing with confirms, every message of a batch in flight at once.

use async_trait::async_trait;
use futures::future::join_all;
use herald_transport::{Message, Publisher, Result, TransportError};
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::Mutex;

use crate::binding::{self, ROUTING_KEY_HEADER};
use crate::topology::{self, RabbitMqConfig, broker_error, long_string, short};

/// Publishes to the events exchange (or to one group's queue) and waits for confirms.
///
/// One connection with one confirming channel; after the connection is lost, the next
/// publish reconnects. Messages of a failed batch are reported as not confirmed.
pub struct AmqpPublisher {
    config: RabbitMqConfig,
    link: Mutex<Option<Link>>,
}

/// An open connection and its confirming channel.
struct Link {
    _connection: Connection,
    channel: Channel,
}

/// Where a batch goes.
enum Destination<'a> {
    /// The events exchange, under each message's routing key.
    Exchange,
    /// One group's queue, through the default exchange.
    Queue(&'a str),
}

impl AmqpPublisher {
    /// A publisher for the broker of `config`; it connects on first use.
    pub fn new(config: RabbitMqConfig) -> AmqpPublisher {
        AmqpPublisher { config, link: Mutex::new(None) }
    }

    /// The confirming channel, reconnecting (and declaring the exchange) if needed.
    async fn channel(&self) -> Result<Channel> {
        let mut link = self.link.lock().await;
        if let Some(open) = link.as_ref()
            && open.channel.status().connected()
        {
            return Ok(open.channel.clone());
        }
        *link = None;
        let connection = topology::connect(&self.config).await?;
        let channel = connection.create_channel().await.map_err(broker_error)?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(broker_error)?;
        topology::declare_exchange(&channel, &self.config).await?;
        *link = Some(Link { _connection: connection, channel: channel.clone() });
        Ok(channel)
    }

    /// Forgets the connection after a failure, so the next publish reconnects.
    async fn drop_link(&self) {
        *self.link.lock().await = None;
    }

    /// Sends every message, then awaits every confirm.
    async fn send(&self, destination: Destination<'_>, messages: &[Message]) -> Vec<Result<()>> {
        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(error) => return messages.iter().map(|_| Err(error.clone())).collect(),
        };
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            pending.push(self.send_one(&channel, &destination, message).await);
        }
        let waits = pending.into_iter().map(|sent| async move {
            let confirm = sent?;
            match tokio::time::timeout(self.config.confirm_timeout, confirm).await {
                Err(_) => Err(TransportError::NotConfirmed("no confirm before the timeout".into())),
                Ok(Err(error)) => Err(broker_error(error)),
                Ok(Ok(Confirmation::Ack(None))) => Ok(()),
                Ok(Ok(Confirmation::Ack(Some(_)))) => Err(TransportError::NotConfirmed(
                    "the broker returned the message: no queue for it".into(),
                )),
                Ok(Ok(other)) => Err(TransportError::NotConfirmed(format!("{other:?}"))),
            }
        });
        let results = join_all(waits).await;
        if results.iter().any(|r| matches!(r, Err(TransportError::Unavailable(_)))) {
            self.drop_link().await;
        }
        results
    }

    /// Hands one message to the channel; the returned future resolves with its confirm.
    async fn send_one(
        &self,
        channel: &Channel,
        destination: &Destination<'_>,
        message: &Message,
    ) -> Result<lapin::PublisherConfirm> {
        let (body, mut properties) = binding::to_amqp(message);
        let (exchange, routing_key, options) = match destination {
            Destination::Exchange => (
                self.config.exchange.clone(),
                message.routing_key.clone(),
                BasicPublishOptions::default(),
            ),
            Destination::Queue(group) => {
                properties = with_header(properties, ROUTING_KEY_HEADER, &message.routing_key);
                let options =
                    BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
                (String::new(), self.config.group_queue(group), options)
            }
        };
        channel
            .basic_publish(short(&exchange), short(&routing_key), options, &body, properties)
            .await
            .map_err(broker_error)
    }
}

/// Adds a text header to a message's properties.
pub(crate) fn with_header(properties: BasicProperties, name: &str, value: &str) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(name.into(), long_string(value));
    properties.with_headers(headers)
}

#[async_trait]
impl Publisher for AmqpPublisher {
    async fn publish(&self, messages: &[Message]) -> Vec<Result<()>> {
        self.send(Destination::Exchange, messages).await
    }

    async fn publish_to_group(&self, group: &str, messages: &[Message]) -> Vec<Result<()>> {
        if let Err(error) = herald_transport::check_name("group", group) {
            return messages.iter().map(|_| Err(error.clone())).collect();
        }
        self.send(Destination::Queue(group), messages).await
    }
}
