//! Consumers of events: typed handlers, retries, dead letters, and the inbox that makes
//! redelivery harmless.
//!
//! A [`Router`] maps each event type and version to a [`Handler`] (and patterns to
//! [`EnvelopeHandler`]s). A [`Consumer`] receives a window of deliveries from a transport
//! subscription, hands them to key-hashed workers (one partition key always to the same
//! worker, so concurrency never reorders an aggregate's events), and runs each handler
//! inside the consumer's **own** database transaction, in which it first records the event
//! id in `herald_inbox`. An event already there was applied before: it is acknowledged and
//! skipped, so at-least-once delivery has exactly-once effects.
//!
//! A handler's returned value is its [`Outcome`]: `Ok` acknowledges; a retryable error
//! runs it again at once (`RetryPolicy::immediate`), then later through the transport with
//! exponential backoff and jitter (`RetryPolicy::delayed`; RabbitMQ delay queues, a
//! JetStream delayed nak, a paused partition of the embedded log), then parks it in the
//! service's dead-letter queue (`herald_dead_letters`, written in the same transaction)
//! with the reasons. Undecodable and unhandled events follow [`UnroutablePolicy`]
//! (dead-letter by default). [`DeadLetterStore`] lists, shows and replays dead letters.
//!
//! # Layout
//!
//! - [`Handler`], [`EnvelopeHandler`], [`HandlerContext`], [`HandlerError`], [`Outcome`]:
//!   what a service implements.
//! - [`Router`]: handlers by type; its routing-key patterns become the subscription.
//! - [`HandlerLayer`], [`Next`]: code around every handler call ([`Router::layer`]); the
//!   consumer's own [`TraceLayer`] and [`MetricsLayer`] are layers too.
//! - [`Consumer`], [`ConsumerConfig`], [`RetryPolicy`]: the receive → inbox → handle →
//!   commit → settle loop.
//! - [`InboxBackend`]: the inbox and dead-letter writes on PostgreSQL and SQLite.
//! - [`DeadLetterStore`]: dead-letter operations (list, depth, replay with a loop guard).
//! - [`cesql_filter`]: a CloudEvents SQL expression as a consumer's event filter.

mod consumer;
mod dead_letter;
mod filter;
mod handler;
mod inbox;
mod layer;
mod upcast;

pub use consumer::{
    Consumer, ConsumerConfig, ConsumerError, ConsumerStats, EventFilter, RetryPolicy,
    UnroutablePolicy,
};
pub use dead_letter::{
    DeadLetter, DeadLetterEntry, DeadLetterError, DeadLetterFilter, DeadLetterReason,
    DeadLetterStore, REPLAYS_EXTENSION, ReplayReport,
};
pub use filter::{EnvelopeAttributes, cesql_filter};
pub use handler::{EnvelopeHandler, Handler, HandlerContext, HandlerError, Outcome, Router};
pub use inbox::{InboxBackend, LedgerStep, processed_counts, processed_since};
pub use layer::{HandlerLayer, MetricsLayer, Next, TraceLayer};
