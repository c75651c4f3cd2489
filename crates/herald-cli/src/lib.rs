//! The `herald` command line: the benchmark and demo that drive the whole path on the
//! embedded defaults, the relay as a process of its own, and operator commands.
//!
//! # Layout
//!
//! - `main.rs` and `commands/` (the binary's, one module per command): argument parsing
//!   (clap) and dispatch; the only place with `anyhow`-style error reporting to a person.
//! - `commands/bench.rs`: `herald bench`, whose harness (workload, in-process pipeline,
//!   summary) is the `herald-bench` crate.
//! - [`chaos`]: `herald chaos`: a counted run with the relay SIGKILLed again and again;
//!   the report counts what was committed, delivered, lost and applied twice.
//! - [`demo`]: `herald demo`: the reference shop with a live view and a checked summary.
//! - [`notify`]: `herald notify`: channel providers from flags, status, recipients, templates.
//! - [`up`]: `herald up`, every server part in one process; [`config`]: its settings
//!   (file, variables, flags) and their check.
//! - [`credentials`]: the tokens (full, read-only, several during a rotation) every server
//!   command takes, checked alike; [`http`]: the hosts and limits of every HTTP listener.
//! - [`events`]: `herald events show | list`, the delivery ledger.
//! - [`schema`]: `herald schema register | check | list | show` over the registry's API.

pub mod chaos;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod dlq;
pub mod events;
pub mod http;
pub mod notify;
pub mod push;
pub mod schema;
pub mod transport;
pub mod up;
