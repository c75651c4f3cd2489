//! The transport seam: what every transport implements (the embedded log in
//! `herald-log`, RabbitMQ in `herald-rabbitmq`, NATS JetStream in `herald-nats`).
//!
//! A transport carries encoded events from the relay to consumers. The relay speaks to a
//! [`Publisher`], which confirms each message; consumers speak to a [`Subscriber`], which
//! hands out [`Delivery`]s of the routing keys a [`SubscriptionSpec`] asks for and forgets
//! them only once they are acknowledged (at-least-once).
//!
//! # Layout
//!
//! - [`Publisher`], [`Subscriber`], [`Subscription`]: the seam every transport implements.
//! - [`Pattern`]: AMQP-style topic patterns over routing keys (`integration.orders.#`).
//! - [`Backoff`]: exponential backoff with jitter, the one formula for retry delays.
//!
//! Architecture invariant: a transport confirms a message only once it is durable; within
//! one partition key, deliveries come in publish order.

mod backoff;
mod error;
pub mod key_order;
mod pattern;
mod seam;

pub use backoff::Backoff;
pub use error::{Result, TransportError};
pub use pattern::Pattern;
pub use seam::{
    Delivery, DeliveryTag, Features, Message, PendingConfirms, Publisher, Subscriber, Subscription,
    SubscriptionSpec, check_name,
};
