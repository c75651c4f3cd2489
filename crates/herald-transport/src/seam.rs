//! The traits every transport implements.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Pattern, Result, TransportError};

/// An encoded event on its way to the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// `<kind>.<type>.v<version>`.
    pub routing_key: String,
    /// Events with one key keep their order.
    pub partition_key: String,
    /// The encoded event (CloudEvents structured JSON).
    pub payload: Vec<u8>,
}

/// Where a delivery sits in its transport, for acknowledging it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryTag {
    /// The transport's partition (or channel) of the delivery.
    pub partition: u32,
    /// The delivery's position in that partition.
    pub offset: i64,
}

/// A message handed to a consumer.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// What to acknowledge.
    pub tag: DeliveryTag,
    /// The message.
    pub message: Message,
    /// 1 on the first delivery; each redelivery and delayed retry adds one.
    pub attempt: u32,
    /// When the event first failed, where the transport carries it (a retry header).
    pub first_failed_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// A first delivery.
    pub fn first(tag: DeliveryTag, message: Message) -> Delivery {
        Delivery { tag, message, attempt: 1, first_failed_at: None }
    }
}

/// What a transport does differently from the others; the consumer and the conformance
/// suite adapt to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// The transport's name, for logs.
    pub name: &'static str,
    /// A retried delivery holds back the later deliveries of its partition, so per-key
    /// order survives failures. Where false, a retried event is handled after later
    /// events of its key (the broker keeps it in a delay queue meanwhile).
    pub retry_keeps_order: bool,
    /// Delayed retries wait in the broker, so they survive a consumer restart.
    pub durable_retry_delay: bool,
    /// Per-key order holds with several members in a group: they share partitions
    /// (embedded log) or one is active while the others stand by (RabbitMQ). Where
    /// false, members compete for messages, and per-key order needs a single member.
    pub members_keep_key_order: bool,
}

/// The confirms of messages handed to a transport: one result per message, in order,
/// once the transport has confirmed (or refused) each.
pub type PendingConfirms = Pin<Box<dyn Future<Output = Vec<Result<()>>> + Send + 'static>>;

/// Publishes messages and reports, for each, whether the transport confirmed it.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes `messages` (pipelined: all may be in flight at once) and returns one
    /// result per message, in order. `Ok` means the message is durable in the transport.
    async fn publish(&self, messages: &[Message]) -> Vec<Result<()>>;

    /// Hands `messages` to the transport in order and returns as soon as they are on
    /// their way, with their confirms still pending, so that the caller can send the next
    /// batch while the transport confirms this one. Messages of a later `send` follow
    /// those of an earlier one. The default publishes and waits for the confirms first:
    /// correct for every transport, without the overlap.
    async fn send(&self, messages: &[Message]) -> PendingConfirms {
        let results = self.publish(messages).await;
        Box::pin(std::future::ready(results))
    }

    /// Periodic upkeep the publishing side owns (the relay calls it about once a second),
    /// such as trimming a log every consumer group has read. Returns how many entries it
    /// removed.
    async fn housekeeping(&self) -> Result<u64> {
        Ok(0)
    }

    /// Publishes `messages` to one consumer group only (dead-letter replay), with the
    /// same confirmation rule as [`Publisher::publish`]. The group receives them under
    /// their own routing keys, whatever its patterns.
    async fn publish_to_group(&self, group: &str, messages: &[Message]) -> Vec<Result<()>>;
}

/// What a consumer group wants to receive.
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    /// The consumer group: its members share the work and one position.
    pub group: String,
    /// This member's unique name within the group.
    pub member: String,
    /// Routing-key patterns; a message matching any of them is delivered.
    pub patterns: Vec<Pattern>,
}

impl SubscriptionSpec {
    /// Whether a routing key is wanted.
    pub fn wants(&self, routing_key: &str) -> bool {
        self.patterns.iter().any(|pattern| pattern.matches(routing_key))
    }

    /// Checks the group and member names: 1 to 64 of `a-z`, `0-9`, `_` and `-`, so that
    /// every broker accepts them in queue, consumer and subject names.
    pub fn validate(&self) -> Result<()> {
        check_name("group", &self.group)?;
        check_name("member", &self.member)
    }
}

/// Checks a name used in broker queue, consumer and subject names.
pub fn check_name(field: &'static str, name: &str) -> Result<()> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        return Ok(());
    }
    Err(TransportError::InvalidName {
        field,
        value: name.to_owned(),
        expected: "1 to 64 characters of a-z, 0-9, `_` and `-`",
    })
}

/// Opens subscriptions.
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// Joins the group of `spec` and starts receiving.
    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Box<dyn Subscription>>;

    /// What this transport does differently.
    fn features(&self) -> Features;
}

/// One member's stream of deliveries.
///
/// Deliveries of one partition come in order. Whatever a member has not acknowledged is
/// delivered again (to it, or to the member that takes its partition over).
#[async_trait]
pub trait Subscription: Send {
    /// Returns up to `max` deliveries, waiting up to `wait` for the first.
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>>;
    /// Acknowledges deliveries: they will not come again to this group.
    async fn ack(&mut self, tags: &[DeliveryTag]) -> Result<()>;
    /// Delivers `delivery` again after `delay`, with its attempt counted up, and settles
    /// this copy. Where [`Features::retry_keeps_order`], the later deliveries of its
    /// partition come again after it; the caller must not acknowledge them.
    async fn retry(&mut self, delivery: &Delivery, delay: Duration, error: &str) -> Result<()>;
    /// Leaves the group, handing its partitions to the other members at once.
    async fn close(&mut self) -> Result<()>;
}
