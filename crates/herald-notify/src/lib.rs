//! The notification service: notification events become emails, SMS, push messages and
//! signed webhooks, rendered from templates, filtered by preferences, held through quiet
//! hours, rate-limited, retried, and tracked one row per delivery.
//!
//! A notification event (`notification.#`, data [`NotificationRequest`]) names a template,
//! recipients (user ids Herald knows, or direct addresses), optional channels, a category,
//! data, an idempotency key and a priority. [`NotifyHandler`] plans it inside the
//! consumer's transaction: one `herald_notifications` row per (idempotency key,
//! recipient, channel) — `pending`, `held` (quiet hours), `suppressed` (opted out) or
//! `failed` (no template, no contact) — so a redelivered event plans nothing twice.
//! The [`Dispatcher`] claims due rows, sends them through each channel's providers
//! (`herald-channels`: failover, rate limits, bulk), and records `sent`, a retry with
//! backoff, or `failed` after the last attempt.
//!
//! # Layout
//!
//! - [`request`]: the notification event's payload.
//! - [`recipients`]: [`RecipientStore`]: locale, time zone, quiet hours, contacts, opt-outs.
//! - [`templates`]: [`TemplateStore`]: versioned, localised `minijinja` templates, checked
//!   against the event's schema when saved.
//! - [`deliveries`]: [`NotificationStore`]: planning, claiming, outcomes and queries.
//! - [`planner`]: [`NotifyHandler`], the consumer side.
//! - [`dispatcher`]: [`Dispatcher`], the sending side.
//! - [`api`]: the HTTP API (status, recipients, templates).

pub mod api;
pub mod deliveries;
pub mod dispatcher;
mod error;
pub mod planner;
pub mod recipients;
pub mod request;
pub mod templates;

pub use deliveries::{Delivery, DeliveryFilter, DeliveryStatus, NotificationStore};
pub use dispatcher::{Dispatcher, DispatcherConfig, DispatcherStats};
pub use error::{NotifyError, Result};
pub use planner::NotifyHandler;
pub use recipients::{QuietHours, Recipient, RecipientStore};
pub use request::{NotificationRequest, Priority, RecipientRef};
pub use templates::{Template, TemplateStore};

/// The channels a notification can take.
pub const CHANNELS: &[&str] = &["email", "sms", "push", "webhook"];

/// Microseconds since the Unix epoch, as the notification tables store times.
pub fn micros(time: chrono::DateTime<chrono::Utc>) -> i64 {
    time.timestamp_micros()
}

/// The time of a stored microsecond count.
pub fn from_micros(value: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(value).unwrap_or_default()
}
