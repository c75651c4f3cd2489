//! The NATS JetStream transport.
//!
//! Events are published to `<prefix>.events.<routing key>` in one stream (created if
//! missing) that also holds `<prefix>.direct.<group>.<routing key>` for messages to one
//! group only (dead-letter replays). Publishing waits for JetStream's acknowledgement of
//! every message of a batch, all in flight at once; the event id is the `Nats-Msg-Id`, so
//! a relay that publishes again after a crash is deduplicated within the stream's window.
//!
//! A consumer group is a durable pull consumer named after the group, with a subject
//! filter derived from its patterns and explicit acks; a second durable consumer,
//! `DIRECT_<group>`, reads the group's direct subjects. A delayed retry is a negative
//! acknowledgement with a delay; JetStream counts deliveries, which gives the attempt.
//! The client reconnects by itself after the server restarts; a publish that JetStream
//! did not acknowledge is reported as failed, so the relay does not mark it sent.
//!
//! TLS: a `tls://` URL, or a server that requires TLS, gets a connection whose server
//! certificate is verified against the system's roots; [`NatsConfig::tls_ca_file`] adds a
//! private CA's certificates to them and [`NatsConfig::tls_client_cert`] presents a
//! client certificate (mutual TLS); either makes TLS required.

mod subjects;
mod transport;

pub use subjects::nats_filter;
pub use transport::{JetStream, NatsConfig, NatsTlsError};
