//! The transactional outbox.
//!
//! A service writes its business rows and its events in **one** database transaction:
//! [`Outbox::enqueue`] inserts the encoded event into `herald_outbox` through the caller's
//! own `sqlx` transaction, so an event exists exactly when the business change does. The
//! relay (`herald-relay`) later reads unsent rows through [`OutboxStore`], publishes them,
//! and marks them sent only after the transport confirmed.
//!
//! # Layout
//!
//! - [`enqueue`](Outbox::enqueue): the producer side, generic over PostgreSQL and SQLite.
//! - [`OutboxStore`]: the relay side: fetch unsent rows per partition in id order, mark
//!   sent, record failures, purge by retention, report status.
//!
//! Architecture invariant: a row's partition is `partition_of(partition_key, P)`; every
//! row of one key lands in one partition, where the relay keeps id order.

mod enqueue;
mod error;
mod store;

pub use enqueue::{NewRow, Outbox, OutboxBackend, OutboxConfig, OutboxId};
pub use error::{OutboxError, Result};
pub use store::{
    DEFAULT_LEDGER_RETENTION, KeptEvent, OutboxRow, OutboxStore, PartitionStatus, Retention,
    Vacuumed, drop_ledger_triggers,
};
