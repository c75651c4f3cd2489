//! Herald's event envelope: CloudEvents 1.0 attributes, typed events, routing keys and
//! partitioning.
//!
//! This crate is a leaf: it does no I/O and has no async code. Producers build an
//! [`Envelope`] from a typed [`Event`] with [`Envelope::from_event`] and turn it into
//! structured-mode JSON with [`Envelope::encode`]; consumers read it back with
//! [`Envelope::from_json`] and get the typed event out with [`Envelope::decode_data`].
//!
//! # Layout
//!
//! - [`id`](EventId): the UUIDv7 event identifier.
//! - [`kind`](EventKind): domain, integration or notification events.
//! - `envelope`: the [`Envelope`] itself, its [`Data`], [`ExtensionValue`] and [`Limits`].
//! - `rules`: the attribute rules behind [`Envelope::validate`].
//! - `codec`: the structured-mode JSON encoder and decoder (`application/cloudevents+json`).
//! - `event`: the [`Event`] trait for typed payloads.
//! - `routing`: routing keys (`<kind>.<type>.v<version>`).
//! - `partition`: the stable [`partition_of`] hash.
//! - `error`: [`EnvelopeError`] and the crate's [`Result`] alias.

mod codec;
mod envelope;
mod error;
mod event;
mod id;
mod kind;
mod partition;
mod routing;
mod rules;

pub use codec::Received;
pub use envelope::{DEFAULT_MAX_EVENT_BYTES, Data, Envelope, ExtensionValue, Limits};
pub use error::{EnvelopeError, Result};
pub use event::Event;
pub use id::EventId;
pub use kind::EventKind;
pub use partition::partition_of;
pub use routing::routing_key;
