//! The traits every transport implements.

use std::time::Duration;

use async_trait::async_trait;

use crate::{Pattern, Result};

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
}

/// Publishes messages and reports, for each, whether the transport confirmed it.
#[async_trait]
pub trait Publisher: Send + Sync {
    /// Publishes `messages` (pipelined: all may be in flight at once) and returns one
    /// result per message, in order. `Ok` means the message is durable in the transport.
    async fn publish(&self, messages: &[Message]) -> Vec<Result<()>>;

    /// Periodic upkeep the publishing side owns (the relay calls it about once a second),
    /// such as trimming a log every consumer group has read. Returns how many entries it
    /// removed.
    async fn housekeeping(&self) -> Result<u64> {
        Ok(0)
    }
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
}

/// Opens subscriptions.
#[async_trait]
pub trait Subscriber: Send + Sync {
    /// Joins the group of `spec` and starts receiving.
    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<Box<dyn Subscription>>;
}

/// One member's stream of deliveries.
///
/// Deliveries of one partition come in order. A member acknowledges them in that order;
/// whatever it has not acknowledged is delivered again (to it, or to the member that
/// takes its partition over).
#[async_trait]
pub trait Subscription: Send {
    /// Returns up to `max` deliveries, waiting up to `wait` for the first.
    async fn receive(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>>;
    /// Acknowledges deliveries: they will not come again to this group.
    async fn ack(&mut self, tags: &[DeliveryTag]) -> Result<()>;
    /// Refuses a delivery: it and the later deliveries of its partition come again.
    async fn nack(&mut self, tag: DeliveryTag) -> Result<()>;
    /// Leaves the group, handing its partitions to the other members at once.
    async fn close(&mut self) -> Result<()>;
}
