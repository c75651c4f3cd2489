//! The `http_ingest` harness: the input is an HTTP request's headers and body, decoded by
//! `herald_ingest::decode` as `POST /events` decodes them (binary, structured or batch
//! mode, as its `content-type` and `ce-` headers say).
//!
//! The form: `name: value` header lines, an empty line, then the body. Lines that are
//! not a valid header are left out, as the HTTP server would refuse them.
//!
//! Shared by the fuzz target and `herald-ingest`'s corpus replay (`tests/fuzz_corpora.rs`).

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use herald_envelope::{Limits, Received};
use herald_ingest::{ContentMode, DEFAULT_MAX_BATCH_EVENTS, IngestError, decode};

/// Decodes the request. Every event decoded must be valid, as it goes to the outbox.
pub(crate) fn run(data: &[u8]) -> Result<(ContentMode, Vec<Received>), IngestError> {
    let (head, body) = split(data);
    let decoded = decode(&headers(head), body, &Limits::default(), DEFAULT_MAX_BATCH_EVENTS)?;
    for received in &decoded.1 {
        if let Err(error) = received.envelope.encode(&Limits { max_event_bytes: usize::MAX }) {
            panic!("ingest accepted an event that does not encode: {error}");
        }
    }
    Ok(decoded)
}

/// The header lines and the body, split at the first empty line.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(2).position(|pair| pair == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[]),
    }
}

/// The request's headers from its header lines.
fn headers(head: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in head.split(|&byte| byte == b'\n') {
        let Some(colon) = line.iter().position(|&byte| byte == b':') else {
            continue;
        };
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    headers
}
