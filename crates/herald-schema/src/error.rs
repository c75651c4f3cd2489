//! Everything producing with schemas can fail with.

use herald_envelope::EnvelopeError;

use crate::client::ClientError;
use crate::validate::InvalidPayload;

/// The result type of this crate.
pub type Result<T, E = SchemaError> = std::result::Result<T, E>;

/// Why an event cannot be produced with a schema.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The payload breaks its schema; nothing was written.
    #[error(transparent)]
    InvalidPayload(#[from] InvalidPayload),
    /// The payload is not JSON, so a JSON Schema cannot check it.
    #[error(
        "the payload of `{event_type}` is {what}; its schema (subject `{subject}`) expects JSON data"
    )]
    NotJson {
        /// The event's type.
        event_type: String,
        /// The subject of its schema.
        subject: String,
        /// What the payload is instead.
        what: String,
    },
    /// The registry holds no schema for this subject (or not this one).
    #[error(
        "no schema registered for subject `{subject}`: {detail}; register it with `herald schema register --subject {subject} --file <schema.json>` (or let the producer register it)"
    )]
    NotRegistered {
        /// The subject asked for.
        subject: String,
        /// The registry's answer.
        detail: String,
    },
    /// The registry refused the schema (e.g. it breaks the subject's compatibility).
    #[error("the schema registry refused subject `{subject}`: {source}")]
    Refused {
        /// The subject.
        subject: String,
        /// The registry's answer.
        source: ClientError,
    },
    /// The registry is unreachable and the schema is not cached yet.
    #[error(
        "the schema of subject `{subject}` is not cached and the registry cannot be asked: {source}"
    )]
    RegistryUnavailable {
        /// The subject.
        subject: String,
        /// Why the registry could not answer.
        source: ClientError,
    },
    /// The registered schema is not a JSON Schema that can be compiled.
    #[error(
        "the schema of subject `{subject}` version {version} cannot be used for validation: {reason}"
    )]
    Uncompilable {
        /// The subject.
        subject: String,
        /// The version.
        version: i32,
        /// Why it cannot be compiled.
        reason: String,
    },
    /// The envelope names a `dataschema` that is not a version of its subject here.
    #[error(
        "attribute `dataschema` is `{uri}`, which is not a version of subject `{subject}` in this registry (expected `{expected}`)"
    )]
    ForeignDataschema {
        /// The URI given.
        uri: String,
        /// The subject of the event's type and version.
        subject: String,
        /// What a URI of this registry looks like.
        expected: String,
    },
    /// The event cannot be serialized.
    #[error("the event cannot be serialized as JSON: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The envelope is invalid.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}
