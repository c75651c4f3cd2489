//! Herald's HTTP conventions, shared by its servers and its clients, with no database and
//! no broker: a leaf crate that `herald-push`, `herald-channels` and every API depend on.
//!
//! # Layout
//!
//! - [`auth`]: [`Credentials`] (Bearer tokens with full or read-only [`Access`], and/or an
//!   HTTP Basic user and password) and [`RequireCredentials`], the one tower layer in front
//!   of every guarded route. Each API keeps its own error body for the refusal.
//! - [`api`]: [`Api`], the router builder every API uses: each route is declared
//!   [`Api::open`], [`Api::read`] or [`Api::write`], guarded accordingly, and listed by
//!   [`Api::routes`] for the test that sends each one a request without credentials.
//! - [`hardening`]: what every server puts around its API: the hosts it answers to (DNS
//!   rebinding), the Origin of state changes, a deadline per request, load shedding
//!   beyond a number of requests at once, a body limit and the security headers.
//! - [`network`]: which addresses are this machine's or a private network's, for the
//!   SSRF guard of push subscriptions and webhook channels.
//! - [`signature`]: Standard Webhooks signing and verification, [`Secret`]. Herald's push
//!   subscriptions and the notification service's webhook channel sign with it.
//! - [`query`]: query-string values as every client sends them (booleans in any case).
//! - [`binding`]: the CloudEvents HTTP binding, binary mode: `ce-` headers,
//!   percent-encoding ([`binary_request`], [`binding::decode_header_value`]).
//! - `error`: [`HttpError`], the failures of signatures and of the binding.

pub mod api;
pub mod auth;
pub mod binding;
mod error;
pub mod hardening;
pub mod network;
pub mod query;
pub mod signature;

pub use api::{Api, Route};
pub use auth::{Access, Credentials, RequireCredentials};
pub use binding::{BinaryRequest, binary_request};
pub use error::{HttpError, Result};
pub use signature::{Secret, verify};
