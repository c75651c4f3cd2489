//! The `envelope_json` harness: the input is the structured-mode JSON of one event, decoded
//! by `Envelope::from_json` as every transport and the ingest API decode it. A decoded
//! event must encode to JSON that decodes to the same event.
//!
//! Shared by the fuzz target and `herald-envelope`'s corpus replay (`tests/fuzz_corpora.rs`).

use herald_envelope::{Envelope, EnvelopeError, Limits};

/// Decodes `data`; panics only when a decoded event does not survive its own encoding.
pub(crate) fn run(data: &[u8]) -> Result<Envelope, EnvelopeError> {
    let envelope = Envelope::from_json(data, &Limits::default())?;
    let json = envelope.to_json();
    let unlimited = Limits { max_event_bytes: usize::MAX };
    let again = Envelope::from_json(&json, &unlimited)
        .unwrap_or_else(|error| panic!("a decoded event re-encodes to invalid JSON: {error}"));
    assert_eq!(again.to_json(), json, "a decoded event changes on a second round trip");
    Ok(envelope)
}
