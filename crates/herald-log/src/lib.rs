//! The embedded transport: a durable, partitioned log table, `herald_log`, in the same
//! database as the outbox (an SQLite file, or PostgreSQL), so that Herald runs end to end
//! with nothing installed.
//!
//! [`SqlLog`] implements both sides of the transport seam (`herald-transport`): each
//! publish is one append transaction, whose commit is the confirmation; consumer groups
//! read past their committed offsets, members share partitions through leases
//! (`herald_db::lease`), and a retry rewinds its partition and pauses it for the delay.
//!
//! # Layout
//!
//! - [`SqlLog`], [`SqlLogConfig`]: the log, its subscriptions, `lag` and `trim`.
//! - [`LogError`]: the log's own failures (its database), carried through the seam as
//!   `TransportError::Storage`.

mod error;
mod sql_log;

pub use error::LogError;
pub use sql_log::{SqlLog, SqlLogConfig};
