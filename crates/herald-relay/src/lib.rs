//! The relay moves committed outbox rows to the transport.
//!
//! Several relays share one outbox through partition leases (`herald_db::lease`). For each
//! partition it holds, a relay reads the unsent rows in id order, publishes them all at
//! once (pipelined), and marks sent only those the transport confirmed. A failed publish
//! stops its partition at that row: nothing later in the partition goes out before it, and
//! the partition is retried with exponential backoff while the others go on. The relay
//! wakes at once when rows are committed (LISTEN/NOTIFY, or an in-process signal on
//! SQLite) and polls as a fallback.
//!
//! # Layout
//!
//! - [`RelayConfig`]: batch size, poll interval, lease time to live, backoff, retention.
//! - [`Relay::run`]: the loop, until the shutdown future completes.
//! - [`RelayStats`]: counters for progress lines and metrics.

mod relay;

pub use herald_transport::Backoff;
pub use relay::{Relay, RelayConfig, RelayError, RelayStats};
