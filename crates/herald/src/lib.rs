//! Herald for a service: what a Rust service depends on to publish and consume events
//! reliably, in one crate.
//!
//! A service writes its business rows and its events in **one** database transaction
//! (the transactional outbox); a relay publishes committed events to a transport and marks
//! them sent only once the transport confirmed them; consumers apply each event once
//! through an inbox, in their own transaction. [`Herald`] owns the settings every part must
//! agree on (the partition count, the broker namespace) and hands out each part:
//!
//! ```no_run
//! use herald::prelude::*;
//!
//! # async fn example() -> Result<(), herald::Error> {
//! let herald = Herald::builder()
//!     .database("sqlite://shop.db") // or postgres://user@host/db
//!     .broker("amqp://guest:guest@127.0.0.1:5672/%2f") // or nats://…; none: the embedded log
//!     .build()
//!     .await?;
//! let mut tx = herald.begin().await?;
//! tx.execute(Statement::new("UPDATE accounts SET open = true WHERE id = $1").bind(7_i64)).await?;
//! // tx.enqueue_event("/accounts", &AccountOpened { id: 7 }).await?;
//! tx.commit().await?;
//! let relay = herald.relay();
//! # let _ = relay; Ok(()) }
//! ```
//!
//! A handler is written once for both databases: implement [`Handler`] for every
//! `DB: Backend` and write through [`Statement`]s (`$n` placeholders work on PostgreSQL and
//! SQLite). A [`Routes`] value builds the router for whichever database the consumer
//! runs on. `examples/` has complete programs.
//!
//! # Features
//!
//! PostgreSQL and SQLite are always available. `rabbitmq` and `nats` (both on by default)
//! add those transports; `registry` re-exports the producer's schema client
//! ([`schema`]); `eventstore` re-exports domain events and the event store ([`domain`],
//! [`eventstore`]); `notify` the notification service and the request a service raises
//! to notify someone ([`notify`]).
//!
//! # Layout
//!
//! - [`Herald`], [`HeraldBuilder`]: connect a database and a transport from URLs.
//! - [`Transaction`]: a write transaction on either database that enqueues events.
//! - [`Herald::write`] and [`EmbeddedTransaction`]: the embedded engine's fast path, a
//!   business transaction as a closure on SQLite's writer thread over `rusqlite`
//!   (re-exported as [`rusqlite`]), committed in groups.
//! - [`Transport`]: the embedded log, RabbitMQ or NATS JetStream, opened from a URL.
//! - [`Consumer`], [`Routes`], [`Backend`]: a consumer group on either database.
//! - [`Error`]: every failure, one type.
//! - [`prelude`]: the names a service uses every day.

mod consumer;
mod embedded;
mod error;
mod herald;
mod transaction;
mod transport;

pub use crate::consumer::{Backend, Consumer, Routes};
pub use crate::embedded::EmbeddedTransaction;
pub use crate::error::{Error, Result};
pub use crate::herald::{Herald, HeraldBuilder};
pub use crate::transaction::Transaction;
pub use crate::transport::{BrokerTls, Transport, check_namespace};

pub use async_trait::async_trait;
pub use herald_consumer::{
    ConsumerConfig, ConsumerStats, DeadLetterStore, EnvelopeHandler, Handler, HandlerContext,
    HandlerError, HandlerLayer, Next, Outcome, RetryPolicy, Router, UnroutablePolicy,
};
pub use herald_db::rusqlite;
pub use herald_db::{Database, DatabaseOptions, Dialect, FromRow, Param, Pool, Statement};
pub use herald_envelope::{Envelope, Event, EventId, EventKind};
pub use herald_outbox::{Outbox, OutboxConfig, OutboxId};
pub use herald_relay::{Relay, RelayConfig, RelayStats};
pub use herald_transport::Pattern;

/// The underlying crates, for what the facade does not wrap.
pub mod parts {
    pub use herald_consumer as consumer;
    pub use herald_db as db;
    pub use herald_envelope as envelope;
    #[cfg(feature = "nats")]
    pub use herald_nats as nats;
    pub use herald_outbox as outbox;
    #[cfg(feature = "rabbitmq")]
    pub use herald_rabbitmq as rabbitmq;
    pub use herald_relay as relay;
    pub use herald_transport as transport;
}

/// The producer's schema client: registration and payload validation.
#[cfg(feature = "registry")]
pub use herald_schema as schema;

/// Domain events dispatched in the business transaction.
#[cfg(feature = "eventstore")]
pub use herald_domain as domain;

/// The notification service: `NotificationRequest` (the data of a `notification.*`
/// event), templates, recipients, channels and delivery statuses.
#[cfg(feature = "notify")]
pub use herald_notify as notify;

/// The event store of event-sourced aggregates.
#[cfg(feature = "eventstore")]
pub use herald_eventstore as eventstore;

/// The names a service uses every day: `use herald::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Backend, Envelope, Event, EventKind, Handler, HandlerContext, HandlerError, Herald, Router,
        Routes, Statement, async_trait,
    };
}
