//! Consumers of events: typed handlers, and the inbox that makes redelivery harmless.
//!
//! A [`Router`] maps each event type and version to a [`Handler`]. A [`Consumer`] receives
//! deliveries from a transport subscription, decodes each envelope, and runs its handler
//! inside the consumer's **own** database transaction, in which it first records the
//! event id in `herald_inbox`. An event whose id is already there was applied before: it
//! is acknowledged and skipped, so at-least-once delivery has exactly-once effects.
//!
//! # Layout
//!
//! - [`Handler`], [`HandlerContext`], [`HandlerError`]: what a service implements.
//! - [`Router`]: handlers by type; its routing-key patterns become the subscription.
//! - [`Consumer`]: the receive → inbox → handle → commit → acknowledge loop.
//! - [`InboxBackend`]: the inbox on PostgreSQL and SQLite.
//!
//! A batch of deliveries runs in one database transaction, one savepoint per event: a
//! failing handler rolls back only its own event, which is then retried (with backoff)
//! before anything later of its partition, so a failure never reorders a key's events.

mod consumer;
mod handler;
mod inbox;

pub use consumer::{Consumer, ConsumerConfig, ConsumerError, ConsumerStats};
pub use handler::{Handler, HandlerContext, HandlerError, Router};
pub use inbox::InboxBackend;
