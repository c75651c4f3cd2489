//! The measuring harness behind `herald bench`: a counted workload, the whole path wired in
//! one process, and the benchmark that drives them and reports what happened. It is not
//! the command line (`herald-cli` parses the flags and prints); the end-to-end tests use it
//! too, so that every run counts the same things the same way.
//!
//! # Layout
//!
//! - [`workload`]: the shop workload: producers that commit an order row and a
//!   `shop.order_placed` event in one transaction ([`workload::produce`]), the consumer's
//!   [`workload::RecordOrder`] handler, and [`workload::verify`], which counts from the
//!   databases what was produced, delivered, lost, applied twice and out of order.
//! - [`pipeline`]: producers → outbox → relay → transport → consumer, wired in one process
//!   ([`pipeline::Pipeline`]); [`pipeline::Broker`] names the transport.
//! - [`bench`](mod@bench): the benchmark run ([`bench::run`], or the database alone with
//!   [`bench::baseline`]), its progress on stderr and its [`bench::Summary`].
//! - [`broker`]: the broker alone ([`broker::broker_baseline`]): the same messages
//!   published with confirms and consumed, no database, the yardstick of the relay and
//!   the consumer.
//! - [`compare`]: Herald and its yardsticks back to back, with the ratios
//!   (`herald bench --compare`).
//! - [`drain`]: the relay alone ([`drain::drain`]): an outbox filled beforehand, optionally
//!   behind a long history of sent rows, drained to the transport and counted
//!   (`herald bench --drain`).
//! - [`run_space`]: a schema and a broker namespace of the run's own, removed after.
//! - [`naive`]: the relay people write by hand ([`naive::naive_baseline`]): writers,
//!   a `FOR UPDATE SKIP LOCKED` poller that publishes with confirms, a consumer without
//!   an inbox, on PostgreSQL and a broker.
//!
//! Errors are `anyhow`: the harness reports to a person through the binary, or fails a
//! test.

pub mod bench;
pub mod broker;
pub mod compare;
pub mod drain;
pub mod naive;
pub mod pipeline;
pub mod run_space;
pub mod workload;
