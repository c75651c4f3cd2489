//! CloudEvents ingest over HTTP: services that cannot link Herald (another language, a
//! SaaS webhook, a shell script) `POST /events`, and the events land in the outbox as if
//! the producer had enqueued them itself.
//!
//! The endpoint follows the CloudEvents HTTP protocol binding 1.0 in all three content
//! modes, chosen by `Content-Type`:
//!
//! - structured (`application/cloudevents+json`): the body is one event in the JSON
//!   event format;
//! - batch (`application/cloudevents-batch+json`): the body is a JSON array of such
//!   events;
//! - binary (any other media type, with `ce-*` headers): the attributes are the
//!   percent-decoded `ce-<name>` headers, `Content-Type` is `datacontenttype` and the body
//!   is the data.
//!
//! Every request must carry credentials (`Authorization: Bearer …` or HTTP Basic); with
//! none configured, every request is refused. Everything is checked before anything is
//! written: the attribute rules, the size limits (the whole body, each event, the number
//! of events), and each payload against the schema the registry holds for its subject
//! `<type>.v<schemaversion>`, which also sets `dataschema`. Then all the events of a
//! request are enqueued in one transaction: a request is accepted whole or not at all.
//! The answer is `202 Accepted` with `{"accepted": n, "ids": [...]}`, or an RFC 9457
//! problem (`application/problem+json`) that names the attribute or field at fault and,
//! in a batch, the index and id of the event.
//!
//! A retried request is enqueued again; consumers drop the second copy of an event id
//! through `herald_inbox`, as they do for a relay's republish.
//!
//! # Layout
//!
//! - `ingest`: [`Ingest`], the checks and the one-transaction write, usable without HTTP
//!   through [`Ingest::accept`].
//! - [`decode`](decode()): an HTTP request's headers and body to envelopes, for the three
//!   [`ContentMode`]s.
//! - `api`: [`router`], the axum router of `POST /events`, and the problem responses.
//! - `error`: [`IngestError`], each with its HTTP status and problem type, and the crate's
//!   [`Result`] alias.

mod api;
mod decode;
mod error;
mod ingest;

pub use api::{PROBLEM_CONTENT_TYPE, router};
pub use decode::{BATCH_CONTENT_TYPE, ContentMode, STRUCTURED_CONTENT_TYPE, content_mode, decode};
pub use error::{IngestError, Result};
pub use ingest::{DEFAULT_MAX_BATCH_EVENTS, DEFAULT_MAX_BODY_BYTES, Ingest};
