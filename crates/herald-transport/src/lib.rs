//! The transport seam and the embedded transport.
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
//! - [`SqlLog`]: the embedded transport, a partitioned durable log table in the same
//!   SQLite file (or PostgreSQL database) as the outbox, with consumer groups whose
//!   members share partitions through leases and commit offsets.
//!
//! Architecture invariant: a transport confirms a message only once it is durable; within
//! one partition key, deliveries come in publish order.

mod backoff;
mod error;
mod pattern;
mod seam;
mod sql_log;

pub use backoff::Backoff;
pub use error::{Result, TransportError};
pub use pattern::Pattern;
pub use seam::{
    Delivery, DeliveryTag, Features, Message, Publisher, Subscriber, Subscription,
    SubscriptionSpec, check_name,
};
pub use sql_log::{SqlLog, SqlLogConfig};
