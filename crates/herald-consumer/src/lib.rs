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
//! A batch of deliveries runs in one database transaction with one inbox statement for
//! the whole batch. If a handler fails, that transaction is rolled back and the batch is
//! run again with one savepoint per event: the failing event alone is rolled back and
//! retried (with backoff) before anything later of its partition, so a failure never
//! reorders a key's events, and the events before it are applied.

mod consumer;
mod handler;
mod inbox;

pub use consumer::{Consumer, ConsumerConfig, ConsumerError, ConsumerStats};
pub use handler::{Handler, HandlerContext, HandlerError, Router};
pub use inbox::InboxBackend;
