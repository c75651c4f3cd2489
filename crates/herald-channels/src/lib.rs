//! The delivery channels of Herald's notification service: a rendered [`Message`] goes out
//! as an email over SMTP, a signed webhook, an SMS or a mobile push notification.
//!
//! A [`Provider`] talks to one delivery service ([`SmtpProvider`], [`WebhookProvider`],
//! [`TwilioSmsProvider`], [`FcmPushProvider`]) and classifies each failure as retryable
//! (no connection, a timeout, HTTP 5xx, 408 or 429, a transient SMTP reply) or permanent
//! (any other HTTP 4xx, a permanent SMTP reply, an invalid address). A [`Channel`] puts
//! the providers of one [`ChannelKind`] in order, each behind an optional [`RateLimit`]:
//! a retryable failure fails over to the next provider, a permanent one does not.
//!
//! Secrets (SMTP passwords, webhook secrets, API tokens) are redacted from every `Debug`
//! output and never appear in a [`SendError`].
//!
//! # Layout
//!
//! - `message`: [`ChannelKind`], [`Message`], [`Receipt`].
//! - `provider`: the [`Provider`] trait and its default bounded `send_many`.
//! - `channel`: [`Channel`] (ordered providers, failover) and [`RateLimit`].
//! - `smtp`: [`SmtpProvider`], [`SmtpConfig`], [`SmtpTls`]; its own small connection pool
//!   over `lettre` connections.
//! - `webhook`: [`WebhookProvider`], [`WebhookConfig`]; Standard Webhooks signatures from
//!   `herald_http::signature`.
//! - `twilio`: [`TwilioSmsProvider`], [`TwilioConfig`].
//! - `fcm`: [`FcmPushProvider`], [`FcmConfig`].
//! - `http`: the HTTP client and the classification of HTTP failures, shared by the
//!   HTTP providers.
//! - `error`: [`SendError`] (one failed send), [`ChannelError`] (a bad configuration) and
//!   the crate's [`Result`].

mod channel;
mod error;
mod fcm;
mod http;
mod message;
mod provider;
mod smtp;
mod twilio;
mod webhook;

pub use channel::{Channel, DEFAULT_CHANNEL_CONCURRENCY, RateLimit};
pub use error::{ChannelError, Result, SendError};
pub use fcm::{FcmConfig, FcmPushProvider};
pub use message::{ChannelKind, Message, Receipt};
pub use provider::{DEFAULT_PROVIDER_CONCURRENCY, Provider};
pub use smtp::{SmtpConfig, SmtpProvider, SmtpTls};
pub use twilio::{TwilioConfig, TwilioSmsProvider};
pub use webhook::{WebhookConfig, WebhookProvider};
