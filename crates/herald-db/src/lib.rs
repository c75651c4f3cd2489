//! Herald's database: one handle for PostgreSQL (production) or an embedded SQLite file
//! (the default, nothing to install), the migrations of every Herald table, and the
//! partition leases through which relays and consumer-group members share work.
//!
//! # Layout
//!
//! - [`Database`]: connect from a URL (`postgres://…` or `sqlite://…`), migrate, wake-ups.
//! - [`Dialect`] and [`Statement`]: one query for either database, and the genuine
//!   differences of the two dialects in one place.
//! - [`listen`]: wake-ups on commit (LISTEN/NOTIFY, or an in-process signal on SQLite).
//! - [`SqliteWriter`]: the embedded engine's write thread on `rusqlite`, with cached
//!   prepared statements and group commit (`SqliteDb::engine`).
//! - [`lease`]: partition leases with a time to live; a dead owner's partitions are taken
//!   over once its leases expire.
//! - [`DbError`]: every failure of this crate, with the URL redacted of passwords.
//!
//! Architecture invariant: this crate owns the schema (`migrations/`); the crates that use
//! a table own its queries.

mod database;
mod dialect;
mod error;
pub mod lease;
pub mod listen;
mod writer;

pub use database::{
    Backend, Database, DatabaseOptions, SqliteDb, Wakeup, begin_without_flush_wait, redact_url,
    sqlite_array, sqlite_pairs,
};
pub use dialect::{Dialect, FromRow, Param, Pool, Statement};
pub use error::{DbError, Result};
pub use rusqlite;
pub use writer::{SqliteWriter, WriterOptions};
