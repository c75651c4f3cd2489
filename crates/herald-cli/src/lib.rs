//! The `herald` command line: the benchmark and demo that drive the whole path on the
//! embedded defaults, the relay as a process of its own, and operator commands.
//!
//! # Layout
//!
//! - `main.rs` and `commands/` (the binary's, one module per command): argument parsing
//!   (clap) and dispatch; the only place with `anyhow`-style error reporting to a person.
//! - [`pipeline`]: producers → outbox → relay → SQL log → consumer, wired in one process.
//! - [`bench`]: `herald bench`: progress and summary.
//! - [`demo`]: `herald demo`: the reference shop with a live view and a checked summary.
//! - [`workload`]: the shop workload and its verification, shared with the tests.
//! - [`notify`]: `herald notify`: channel providers from flags, status, recipients, templates.
//! - [`up`]: `herald up`, every server part in one process; [`config`]: its settings
//!   (file, variables, flags) and their check.
//! - [`events`]: `herald events show | list`, the delivery ledger.
//! - [`schema`]: `herald schema register | check | list | show` over the registry's API.

pub mod bench;
pub mod config;
pub mod demo;
pub mod dlq;
pub mod events;
pub mod notify;
pub mod pipeline;
pub mod push;
pub mod schema;
pub mod transport;
pub mod up;
pub mod workload;
