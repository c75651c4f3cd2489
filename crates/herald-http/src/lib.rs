//! Herald's HTTP conventions, shared by its servers and its clients, with no database and
//! no broker: a leaf crate that `herald-push`, `herald-channels` and every API depend on.
//!
//! # Layout
//!
//! - [`auth`]: [`Credentials`] (a Bearer token and/or HTTP Basic user and password) and
//!   [`RequireCredentials`], the one tower layer every API puts in front of the routes
//!   that change state. Each API keeps its own error body for the refusal.
//! - [`signature`]: Standard Webhooks signing and verification, [`Secret`]. Herald's push
//!   subscriptions and the notification service's webhook channel sign with it.
//! - [`binding`]: the CloudEvents HTTP binding, binary mode: `ce-` headers,
//!   percent-encoding ([`binary_request`], [`binding::decode_header_value`]).
//! - `error`: [`HttpError`], the failures of signatures and of the binding.

pub mod auth;
pub mod binding;
mod error;
pub mod signature;

pub use auth::{Credentials, RequireCredentials};
pub use binding::{BinaryRequest, binary_request};
pub use error::{HttpError, Result};
pub use signature::{Secret, verify};
