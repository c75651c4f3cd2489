//! HTTP push subscriptions (webhooks) for Herald: a service subscribes an HTTP endpoint
//! to a pattern over routing keys, and each matching event is `POST`ed to it as a
//! CloudEvents binary-mode request, signed by the Standard Webhooks scheme.
//!
//! A receiver checks a request with [`herald_http::verify`] and its `whsec_…` secret, reads
//! the attributes from the `ce-` headers ([`herald_http::binding::decode_header_value`]) and the data
//! from the body, and answers `2xx`. A `5xx`, `408` or `429` answer (or no answer) asks
//! for a retry; any other answer refuses the event for good. After
//! [`SubscriptionStoreConfig::disable_after`] failures in a row the endpoint is disabled.
//!
//! The signature covers the `webhook-id` (the event id), the `webhook-timestamp` and the
//! body, not the other `ce-` headers: a receiver that must trust `ce-type` or
//! `ce-source` should take them from the data, or compare `ce-id` with `webhook-id`.
//!
//! # Layout
//!
//! - Signing ([`Secret`]) and the CloudEvents HTTP binding come from `herald-http`, which
//!   the notification service's webhook channel shares.
//! - [`client`]: [`PushClient::deliver`] sends one event to one [`PushTarget`].
//! - [`store`]: [`SubscriptionStore`] over `herald_subscriptions` (PostgreSQL or SQLite).
//! - [`api`]: the `axum` router of `/api/subscriptions`; changes behind the bearer token
//!   (`herald_http::RequireCredentials`).
//! - `validate`: the rules for service names, patterns and endpoints.
//! - `error`: [`PushError`] and the crate's [`Result`].
//!
//! Architecture invariant: the schema lives in `herald-db`
//! (`migrations/*/0003_push_subscriptions.sql`); this crate owns its queries.

pub mod api;
pub mod client;
mod error;
pub mod store;
mod validate;

pub use api::router;
pub use client::{DEFAULT_TIMEOUT, PushClient, PushClientConfig, PushTarget};
pub use error::{PushError, Result};
pub use herald_http::Secret;
pub use store::{
    IssuedSecret, NewSubscription, Subscription, SubscriptionStore, SubscriptionStoreConfig,
};
pub use validate::shown_endpoint;
