//! Consuming a group's quorum queue, acknowledging with `multiple`, retrying through
//! delay queues.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use herald_transport::{
    Delivery, DeliveryTag, Features, Message, Publisher, Result, Subscriber, Subscription,
    SubscriptionSpec, TransportError,
};
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, Consumer};

use crate::AmqpPublisher;
use crate::binding::{
    self, ATTEMPT_HEADER, FIRST_FAILED_HEADER, LAST_ERROR_HEADER, ROUTING_KEY_HEADER,
};
use crate::publisher::with_header;
use crate::topology::{self, RabbitMqConfig, broker_error, short};

/// The RabbitMQ transport: publisher and subscriber over one configuration.
pub struct RabbitMq {
    config: RabbitMqConfig,
    publisher: Arc<AmqpPublisher>,
}

impl RabbitMq {
    /// The transport for the broker of `config`; connections open on first use.
    pub fn new(config: RabbitMqConfig) -> RabbitMq {
        let publisher = Arc::new(AmqpPublisher::new(config.clone()));
        RabbitMq { config, publisher }
    }

    /// The configuration.
    pub fn config(&self) -> &RabbitMqConfig {
        &self.config
    }

    /// Declares the exchange, a group's queue and its bindings, without consuming:
    /// topology from configuration, idempotent.
    pub async fn declare_group(&self, spec: &SubscriptionSpec) -> Result<()> {
        spec.validate()?;
        let connection = topology::connect(&self.config).await?;
        let channel = connection.create_channel().await.map_err(broker_error)?;
        topology::declare_exchange(&channel, &self.config).await?;
        topology::declare_group_queue(&channel, &self.config, &spec.group, &spec.patterns).await?;
        let _ = connection.close(200, "declared".into()).await;
        Ok(())
    }
}

impl RabbitMq {
    /// Deletes the queues of `groups` (with their delay queues) and the exchange: for
    /// tests and teardown. Missing ones are skipped.
    pub async fn delete_topology(&self, groups: &[&str]) -> Result<()> {
        let connection = topology::connect(&self.config).await?;
        let mut queues = Vec::new();
        for group in groups {
            queues.push(self.config.group_queue(group));
            queues.extend((1..=16).map(|attempt| self.config.retry_queue(group, attempt)));
        }
        for queue in queues {
            // A failed delete closes its channel, so each gets its own.
            let channel = connection.create_channel().await.map_err(broker_error)?;
            let _ = channel.queue_delete(short(&queue), QueueDeleteOptions::default()).await;
        }
        let channel = connection.create_channel().await.map_err(broker_error)?;
        let _ = channel
            .exchange_delete(short(&self.config.exchange), ExchangeDeleteOptions::default())
            .await;
        let _ = connection.close(200, "cleaned up".into()).await;
        Ok(())
    }
}

#[async_trait]
impl Publisher for RabbitMq {
    async fn publish(&self, messages: &[Message]) -> Vec<Result<()>> {
        self.publisher.publish(messages).await
    }

    async fn send(&self, messages: &[Message]) -> herald_transport::PendingConfirms {
        self.publisher.send(messages).await
    }

    async fn publish_to_group(&self, group: &str, messages: &[Message]) -> Vec<Result<()>> {
        self.publisher.publish_to_group(group, messages).await
    }
}

#[async_trait]
impl Subscriber for RabbitMq {
    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Box<dyn Subscription>> {
        spec.validate()?;
        let mut subscription = AmqpSubscription {
            config: self.config.clone(),
            spec,
            link: None,
            generation: 0,
            tracker: AckTracker::default(),
            retry_queues: HashSet::new(),
        };
        subscription.link().await?;
        Ok(Box::new(subscription))
    }

    fn features(&self) -> Features {
        Features {
            name: "RabbitMQ",
            retry_keeps_order: false,
            durable_retry_delay: true,
            members_keep_key_order: true,
        }
    }
}

/// A consuming connection: its channel (also confirming, for retry publishes) and stream.
struct ConsumeLink {
    connection: Connection,
    channel: Channel,
    consumer: Consumer,
}

/// One member consuming its group's queue.
struct AmqpSubscription {
    config: RabbitMqConfig,
    spec: SubscriptionSpec,
    link: Option<ConsumeLink>,
    /// Counts connections: delivery tags of an older one are void.
    generation: u32,
    tracker: AckTracker,
    retry_queues: HashSet<u32>,
}

impl AmqpSubscription {
    /// The open link, connecting and declaring the topology if needed.
    async fn link(&mut self) -> Result<&mut ConsumeLink> {
        if self.link.as_ref().is_some_and(|link| !link.channel.status().connected()) {
            self.link = None;
        }
        if self.link.is_none() {
            let link = self.connect().await?;
            self.generation += 1;
            self.tracker = AckTracker::default();
            self.retry_queues.clear();
            self.link = Some(link);
        }
        Ok(self.link.as_mut().expect("the link was just opened"))
    }

    async fn connect(&self) -> Result<ConsumeLink> {
        let connection = topology::connect(&self.config).await?;
        let channel = connection.create_channel().await.map_err(broker_error)?;
        channel
            .basic_qos(self.config.prefetch, BasicQosOptions::default())
            .await
            .map_err(broker_error)?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(broker_error)?;
        topology::declare_exchange(&channel, &self.config).await?;
        topology::declare_group_queue(
            &channel,
            &self.config,
            &self.spec.group,
            &self.spec.patterns,
        )
        .await?;
        let consumer = channel
            .basic_consume(
                short(&self.config.group_queue(&self.spec.group)),
                short(&self.spec.member),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(broker_error)?;
        Ok(ConsumeLink { connection, channel, consumer })
    }

    /// Turns a lapin delivery into the seam's.
    fn delivery(&mut self, amqp: lapin::message::Delivery) -> Delivery {
        let lapin::message::Delivery {
            delivery_tag,
            routing_key,
            redelivered,
            properties,
            data,
            ..
        } = amqp;
        let attempt = binding::header_integer(&properties, ATTEMPT_HEADER)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1)
            .max(1)
            .saturating_add(u32::from(redelivered));
        let first_failed_at = binding::header_text(&properties, FIRST_FAILED_HEADER)
            .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
            .map(|time| time.with_timezone(&Utc));
        self.tracker.delivered(delivery_tag);
        Delivery {
            tag: DeliveryTag { partition: self.generation, offset: delivery_tag as i64 },
            message: binding::from_amqp(routing_key.as_str(), &properties, &data),
            attempt,
            first_failed_at,
        }
    }

    /// Settles tags of the current connection; acknowledges the settled prefix at once.
    async fn settle(&mut self, tags: &[DeliveryTag]) -> Result<()> {
        let generation = self.generation;
        let mut upto = None;
        for tag in tags.iter().filter(|tag| tag.partition == generation) {
            upto = self.tracker.settle(tag.offset as u64).or(upto);
        }
        let (Some(upto), Some(link)) = (upto, self.link.as_ref()) else {
            return Ok(());
        };
        link.channel.basic_ack(upto, BasicAckOptions { multiple: true }).await.map_err(broker_error)
    }

    /// Publishes a copy of `delivery` to the delay queue of its attempt and waits for the
    /// broker's confirm.
    async fn publish_retry(
        &mut self,
        delivery: &Delivery,
        delay: Duration,
        error: &str,
    ) -> Result<()> {
        let attempt = delivery.attempt;
        let group = self.spec.group.clone();
        let config = self.config.clone();
        let fresh = !self.retry_queues.contains(&attempt);
        let generation = self.generation;
        self.link().await?;
        if self.generation != generation {
            return Ok(()); // Reconnected: the broker redelivers the original itself.
        }
        let link = self.link.as_ref().expect("the link is open");
        let queue = if fresh {
            topology::declare_retry_queue(&link.channel, &config, &group, attempt).await?
        } else {
            config.retry_queue(&group, attempt)
        };
        let (body, properties) = binding::to_amqp(&delivery.message);
        let properties = retry_properties(properties, delivery, delay, error);
        let confirm = link
            .channel
            .basic_publish(
                short(""),
                short(&queue),
                BasicPublishOptions::default(),
                &body,
                properties,
            )
            .await
            .map_err(broker_error)?;
        let confirmed = tokio::time::timeout(config.confirm_timeout, confirm)
            .await
            .map_err(|_| TransportError::NotConfirmed("no confirm for a retry".into()))?;
        match confirmed.map_err(broker_error)? {
            Confirmation::Ack(_) => {}
            other => return Err(TransportError::NotConfirmed(format!("retry publish: {other:?}"))),
        }
        self.retry_queues.insert(attempt);
        Ok(())
    }

    /// Closes the connection; unacknowledged deliveries go back to the queue.
    async fn drop_link(&mut self) {
        if let Some(link) = self.link.take() {
            let _ = link.connection.close(200, "retry failed".into()).await;
        }
    }
}

/// The headers of a delayed retry: where it came from, which attempt is next, why.
fn retry_properties(
    properties: BasicProperties,
    delivery: &Delivery,
    delay: Duration,
    error: &str,
) -> BasicProperties {
    let first_failed_at = delivery.first_failed_at.unwrap_or_else(Utc::now);
    let error: String = error.chars().take(1000).collect();
    let properties = with_header(properties, ROUTING_KEY_HEADER, &delivery.message.routing_key);
    let properties = with_header(properties, FIRST_FAILED_HEADER, &first_failed_at.to_rfc3339());
    let properties = with_header(properties, LAST_ERROR_HEADER, &error);
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(
        ATTEMPT_HEADER.into(),
        lapin::types::AMQPValue::LongLongInt(i64::from(delivery.attempt) + 1),
    );
    properties.with_headers(headers).with_expiration(delay.as_millis().to_string().into())
}

#[async_trait]
impl Subscription for AmqpSubscription {
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
        let link = self.link().await?;
        let first = match tokio::time::timeout(wait, link.consumer.next()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(Some(Ok(delivery))) => delivery,
            Ok(Some(Err(error))) => {
                self.link = None;
                return Err(broker_error(error));
            }
            Ok(None) => {
                self.link = None;
                return Err(TransportError::Unavailable(
                    "the broker cancelled the consumer".into(),
                ));
            }
        };
        let mut raw = vec![first];
        while raw.len() < max {
            match link.consumer.next().now_or_never() {
                Some(Some(Ok(delivery))) => raw.push(delivery),
                _ => break,
            }
        }
        Ok(raw.into_iter().map(|amqp| self.delivery(amqp)).collect())
    }

    async fn ack(&mut self, tags: &[DeliveryTag]) -> Result<()> {
        self.settle(tags).await
    }

    async fn retry(&mut self, delivery: &Delivery, delay: Duration, error: &str) -> Result<()> {
        if delivery.tag.partition != self.generation {
            return Ok(()); // From a lost connection: the broker redelivers it anyway.
        }
        if let Err(failure) = self.publish_retry(delivery, delay, error).await {
            // Unsettled, the delivery would hold back every later acknowledgement (they
            // ack a prefix): drop the connection so that the broker redelivers them all.
            self.drop_link().await;
            return Err(failure);
        }
        if delivery.tag.partition != self.generation {
            return Ok(()); // Reconnected meanwhile: the broker redelivers the original.
        }
        self.settle(&[delivery.tag]).await
    }

    async fn close(&mut self) -> Result<()> {
        if let Some(link) = self.link.take() {
            let _ = link.channel.close(200, "closing".into()).await;
            let _ = link.connection.close(200, "closing".into()).await;
        }
        Ok(())
    }
}

/// Tracks delivery tags so that out-of-order settlement acknowledges only a settled
/// prefix, with one `multiple` acknowledgement.
#[derive(Debug, Default)]
struct AckTracker {
    outstanding: BTreeSet<u64>,
    settled: BTreeSet<u64>,
}

impl AckTracker {
    fn delivered(&mut self, tag: u64) {
        self.outstanding.insert(tag);
    }

    /// Records `tag` as settled; returns the new end of the settled prefix, if it moved.
    fn settle(&mut self, tag: u64) -> Option<u64> {
        if !self.outstanding.contains(&tag) {
            return None;
        }
        self.settled.insert(tag);
        let mut upto = None;
        while let Some(&first) = self.outstanding.first() {
            if !self.settled.remove(&first) {
                break;
            }
            self.outstanding.pop_first();
            upto = Some(first);
        }
        upto
    }
}

#[cfg(test)]
mod tests {
    use super::AckTracker;

    #[test]
    fn only_a_settled_prefix_is_acknowledged() {
        let mut tracker = AckTracker::default();
        for tag in 1..=5 {
            tracker.delivered(tag);
        }
        assert_eq!(tracker.settle(2), None, "1 is still out");
        assert_eq!(tracker.settle(3), None);
        assert_eq!(tracker.settle(1), Some(3), "1..=3 settle together");
        assert_eq!(tracker.settle(9), None, "unknown tags are ignored");
        assert_eq!(tracker.settle(5), None);
        assert_eq!(tracker.settle(4), Some(5));
        assert!(tracker.outstanding.is_empty() && tracker.settled.is_empty());
    }
}
