//! Event sourcing for Herald: an append-only event store with optimistic concurrency,
//! aggregates folded from a snapshot plus the events after it, and projections that keep a
//! read model up to date from a checkpoint.
//!
//! A stream (`stream_id`, usually an aggregate id) holds events numbered by `version`
//! from 1. Every append names the version it expects ([`ExpectedVersion`]); if the stream
//! moved on, the append fails with [`EventStoreError::Conflict`] and writes nothing.
//! [`EventStore::append_in`] appends inside the caller's transaction, so the events and
//! the outbox rows announcing them (`herald_outbox::Outbox::enqueue`) commit together or
//! not at all.
//!
//! # Global position
//!
//! Every event also gets a global `position`, the order in which projections read the
//! store ([`EventStore::read_all`]). A projection remembers the last position it applied
//! and later reads `position > checkpoint`, so positions must become visible in order: a
//! position must never commit after a larger one was already read, or that event is
//! skipped for good. The store assigns `MAX(position) + 1` inside the appending
//! transaction, under a unique constraint. On PostgreSQL (READ COMMITTED, the default) an
//! appender sees only committed positions, so while one transaction holds an uncommitted
//! position `P`, every other appender also tries `P`, waits on the unique index, and fails
//! once the first commits; no one can take `P + 1` before `P` is committed. The store
//! rolls back to a savepoint and retries such an append with a fresh position (up to
//! [`APPEND_ATTEMPTS`] times), re-checking the expected version each time, so a retry of
//! an append whose stream moved on becomes a [`EventStoreError::Conflict`].
//!
//! Racing alone starves under load (all waiters retry at once and one wins each round;
//! eight concurrent appenders exhausted the attempts within a second), so before it reads
//! the version and the position an appender also takes a transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`): appenders queue instead of retrying, and the unique index
//! remains the guarantee for any writer that bypasses the lock. Either way, appenders of
//! all streams are serialised from their append to their commit, so keep appending
//! transactions short. On SQLite there is one writer, so positions are ordered trivially;
//! write transactions begin with `BEGIN IMMEDIATE` (`herald_db::SqliteDb::begin_write`).
//!
//! # Layout
//!
//! - [`event`]: [`NewEvent`], [`RecordedEvent`], [`ExpectedVersion`].
//! - [`backend`]: [`EventStoreBackend`], the queries that run in a caller's transaction
//!   (append, checkpoints), written once for PostgreSQL and SQLite over
//!   `herald_db::Dialect`.
//! - [`store`]: [`EventStore`]: appends, stream and global reads, snapshots.
//! - [`aggregate`]: [`Aggregate`], [`load_aggregate`], [`SnapshotPolicy`].
//! - [`projection`]: [`Projection`] and [`Projector`] (catch up, rebuild).
//! - `error.rs`: [`EventStoreError`].
//!
//! The tables (`herald_events`, `herald_snapshots`, `herald_projections`) are created by
//! `herald-db`'s migration `0007_event_store.sql`; this crate owns their queries.

pub mod aggregate;
pub mod backend;
mod error;
pub mod event;
pub mod projection;
pub mod store;

pub use aggregate::{Aggregate, Loaded, SnapshotPolicy, load_aggregate, maybe_snapshot};
pub use backend::{APPEND_ATTEMPTS, EventStoreBackend};
pub use error::{EventStoreError, Result};
pub use event::{ExpectedVersion, NewEvent, RecordedEvent};
pub use projection::{Projection, Projector};
pub use store::EventStore;

/// Microseconds since the Unix epoch, as the event store's tables keep times.
pub(crate) fn micros(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp_micros()
}

/// The time of a stored microsecond count.
pub(crate) fn from_micros(value: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(value).unwrap_or_default()
}
