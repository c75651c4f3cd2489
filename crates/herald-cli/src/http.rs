//! The options of every command that serves HTTP (`up`, `registry`, `ingest`, `notify`,
//! `push`): which hosts it answers to and its limits, applied through
//! [`herald_http::hardening`].

use std::net::SocketAddr;
use std::time::Duration;

use herald_http::hardening::{self, AllowedHosts, Limits};

/// How a command's HTTP listener protects itself.
#[derive(Clone, Debug, clap::Args)]
pub struct HttpArgs {
    /// A host name (or address) the API answers to besides loopback's; repeat it or
    /// separate by commas. On loopback only loopback names are answered by default (no DNS
    /// rebinding); on another address any host is, unless hosts are listed.
    #[arg(long = "allowed-host", env = "HERALD_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Seconds a request may take before it is answered 408 (its transaction rolled back).
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Requests served at once; beyond, 503 with Retry-After (load is shed, not queued).
    #[arg(long, env = "HERALD_MAX_CONCURRENT_REQUESTS", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_concurrent_requests: u64,
    /// Largest request body in bytes (ingest's batches included); larger gets 413.
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub max_body_bytes: u64,
}

impl HttpArgs {
    /// The limits these options set.
    pub fn limits(&self) -> Limits {
        Limits {
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_concurrent_requests: usize::try_from(self.max_concurrent_requests)
                .unwrap_or(usize::MAX),
            max_body_bytes: self.max_body_bytes_usize(),
        }
    }

    /// `--max-body-bytes` as a size.
    pub fn max_body_bytes_usize(&self) -> usize {
        usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX)
    }

    /// `router`, answering only to the allowed hosts and within the limits, for a server
    /// listening on `listen`.
    pub fn harden(&self, router: axum::Router, listen: SocketAddr) -> axum::Router {
        let hosts = AllowedHosts::for_listener(listen, &self.allowed_hosts);
        hardening::harden(router, &self.limits(), hosts)
    }
}
