//! Herald's operations surface, served by `herald up`: what an operator needs to see, for
//! any event, where it is, and for the whole system, whether it is healthy.
//!
//! - `/healthz` (the process answers) and `/readyz` (the database answers and the relay
//!   holds partitions), for orchestrators.
//! - `/metrics`: Prometheus exposition. Libraries record through the `metrics` facade
//!   (relay, consumers, handlers); the gauges that live in the database (outbox pending and
//!   age per partition, DLQ depth per service, notifications per channel and status) are
//!   read at each scrape.
//! - `/api/…`: the admin API — overview, outbox, consumers, dead letters (with replay),
//!   schemas, and the delivery ledger (`/api/events`, `/api/events/{id}`). Reads are open;
//!   every change needs the API token.
//! - `/`: the web dashboard, three static files embedded in the binary.
//!
//! # Layout
//!
//! - [`AdminConfig`] and [`router`]: `api.rs`, the handlers and their shared state.
//! - [`metrics`]: installing the Prometheus recorder, rendering a scrape, counting the
//!   requests of a nested service.
//! - [`ledger`]: the delivery ledger's read side: an event's journey, and the search.
//! - `health.rs`, `dashboard.rs`: the probes and the assets.
//! - `error.rs`: [`AdminError`], rendered as `{"error": …}` with its status.

mod api;
mod dashboard;
mod error;
mod health;
pub mod ledger;
pub mod metrics;

pub use api::{AdminConfig, router};
pub use error::AdminError;
