//! Everything an ingest request can be refused for, with its HTTP status.

use axum::http::StatusCode;
use herald_envelope::{EnvelopeError, EventId};
use herald_outbox::OutboxError;
use herald_schema::SchemaError;

/// The crate's result type, with [`IngestError`] as the default error.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;

/// The longest event id, in characters, that an error quotes before truncating it (an id
/// that failed to parse may be anything the client sent).
const MAX_SHOWN_ID_CHARS: usize = 64;

/// Why an ingest request was refused. Whatever the reason, nothing was enqueued.
///
/// Per-event variants carry `index`, the event's position in a batch (or in the list
/// given to [`Ingest::accept`](crate::Ingest::accept)); it is `None` for a request in
/// binary or structured mode, which holds one event.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The `Authorization` header is missing or does not carry the configured
    /// credentials (or no credentials are configured). 401.
    #[error(
        "the request needs credentials: send `Authorization: Bearer <token>` or HTTP Basic \
         credentials that this server accepts"
    )]
    Unauthorized,
    /// No content mode applies: the media type is neither structured nor batch mode and
    /// there is no `ce-` header for binary mode. 400, or 415 without a `Content-Type`.
    #[error(
        "the request is not a CloudEvent: its Content-Type is {}, which is neither \
         `application/cloudevents+json` (structured mode) nor \
         `application/cloudevents-batch+json` (batch mode), and it has no `ce-specversion` \
         header (binary mode)",
        shown_content_type(.content_type.as_deref())
    )]
    NotCloudEvent {
        /// The request's `Content-Type`, if it had one.
        content_type: Option<String>,
    },
    /// A CloudEvents media type this server cannot read: another event format than JSON,
    /// or a charset other than UTF-8. 415.
    #[error("unsupported media type `{content_type}`: {expected}")]
    UnsupportedMediaType {
        /// The request's `Content-Type`.
        content_type: String,
        /// What is accepted instead.
        expected: &'static str,
    },
    /// A header cannot be read: not visible ASCII, or a `ce-` value that is not
    /// percent-encoded UTF-8. 400.
    #[error("header `{header}` is invalid: it {rule}")]
    InvalidHeader {
        /// The header's name, lowercase.
        header: String,
        /// The rule its value breaks.
        rule: &'static str,
    },
    /// The body could not be read (the client broke off, or sent a broken chunked
    /// encoding). 400.
    #[error("the request body could not be read: {reason}")]
    UnreadableBody {
        /// What went wrong.
        reason: String,
    },
    /// The body is not JSON where JSON is required (batch mode). 400.
    #[error("the body is not valid JSON: {reason}")]
    MalformedBody {
        /// The parser's complaint, with its line and column.
        reason: String,
    },
    /// A batch-mode body is JSON but not an array. 400.
    #[error(
        "a batch (`application/cloudevents-batch+json`) must be a JSON array of \
         structured-mode events, got {found}"
    )]
    BatchNotArray {
        /// The JSON type found instead (`an object`, `a string`, …).
        found: &'static str,
    },
    /// A batch holds no event. 400.
    #[error("the batch is empty: send at least one event")]
    EmptyBatch,
    /// The request body is larger than the configured limit. 413.
    #[error("the request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A batch holds more events than the configured limit. 413.
    #[error("the batch has {count} events, more than the limit of {limit} events per request")]
    TooManyEvents {
        /// How many events the batch holds.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An event breaks an attribute rule, is malformed, or is larger than the event size
    /// limit. 400, or 413 for [`EnvelopeError::TooLarge`].
    #[error("{}{source}", position(.index, .id.as_deref()))]
    InvalidEvent {
        /// The event's index in the batch.
        index: Option<usize>,
        /// The event's id, when it could be read (truncated to 64 characters).
        id: Option<String>,
        /// What is wrong with it.
        #[source]
        source: EnvelopeError,
    },
    /// Two events of one batch have the same id. 400.
    #[error(
        "event at index {index} has id `{id}`, which the event at index {first_index} already \
         has: ids must be unique"
    )]
    DuplicateId {
        /// The index of the second event.
        index: usize,
        /// The index of the first event with that id.
        first_index: usize,
        /// The id.
        id: EventId,
    },
    /// The payload could not be checked against, or breaks, its registered schema. 422
    /// for a payload that breaks its schema or has none registered, 503 when the
    /// registry cannot be asked, 502 when it refuses, 500 for an unusable schema.
    #[error("{}{source}", position(.index, Some(&.id.to_string())))]
    Schema {
        /// The event's index in the batch.
        index: Option<usize>,
        /// The event's id.
        id: EventId,
        /// What the schema check found.
        #[source]
        source: SchemaError,
    },
    /// The events could not be written; the transaction was rolled back. 500.
    #[error("the events could not be stored, nothing was enqueued: {0}")]
    Storage(#[source] OutboxError),
}

impl IngestError {
    /// The HTTP status of the problem response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotCloudEvent { content_type: None } | Self::UnsupportedMediaType { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::NotCloudEvent { content_type: Some(_) }
            | Self::InvalidHeader { .. }
            | Self::UnreadableBody { .. }
            | Self::MalformedBody { .. }
            | Self::BatchNotArray { .. }
            | Self::EmptyBatch
            | Self::DuplicateId { .. } => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } | Self::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidEvent { source: EnvelopeError::TooLarge { .. }, .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::InvalidEvent { .. } => StatusCode::BAD_REQUEST,
            Self::Schema { source, .. } => schema_status(source),
            Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type, a Herald URN (`urn:herald:problem:<name>`) that clients can
    /// match on; the `type` member of the problem response.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Self::Unauthorized => "urn:herald:problem:unauthorized",
            Self::NotCloudEvent { .. } => "urn:herald:problem:not-a-cloudevent",
            Self::UnsupportedMediaType { .. } => "urn:herald:problem:unsupported-media-type",
            Self::InvalidHeader { .. } => "urn:herald:problem:invalid-header",
            Self::UnreadableBody { .. } => "urn:herald:problem:unreadable-body",
            Self::MalformedBody { .. } | Self::BatchNotArray { .. } | Self::EmptyBatch => {
                "urn:herald:problem:malformed-batch"
            }
            Self::BodyTooLarge { .. } | Self::TooManyEvents { .. } => {
                "urn:herald:problem:request-too-large"
            }
            Self::InvalidEvent { source: EnvelopeError::TooLarge { .. }, .. } => {
                "urn:herald:problem:event-too-large"
            }
            Self::InvalidEvent { .. } | Self::DuplicateId { .. } => {
                "urn:herald:problem:invalid-event"
            }
            Self::Schema { source, .. } => match source {
                SchemaError::InvalidPayload(_)
                | SchemaError::NotJson { .. }
                | SchemaError::Serialize(_) => "urn:herald:problem:payload-breaks-schema",
                SchemaError::ForeignDataschema { .. } => "urn:herald:problem:foreign-dataschema",
                SchemaError::NotRegistered { .. } => "urn:herald:problem:schema-not-registered",
                SchemaError::Envelope(_) => "urn:herald:problem:invalid-event",
                SchemaError::RegistryUnavailable { .. } => {
                    "urn:herald:problem:registry-unavailable"
                }
                _ => "urn:herald:problem:schema-unusable",
            },
            Self::Storage(_) => "urn:herald:problem:storage-failed",
        }
    }

    /// A short, fixed summary of the problem type; the `title` member.
    pub fn title(&self) -> &'static str {
        match self.problem_type() {
            "urn:herald:problem:unauthorized" => "Credentials required",
            "urn:herald:problem:not-a-cloudevent" => "Not a CloudEvent",
            "urn:herald:problem:unsupported-media-type" => "Unsupported media type",
            "urn:herald:problem:invalid-header" => "Invalid header",
            "urn:herald:problem:unreadable-body" => "Unreadable request body",
            "urn:herald:problem:malformed-batch" => "Malformed batch",
            "urn:herald:problem:request-too-large" => "Request too large",
            "urn:herald:problem:event-too-large" => "Event too large",
            "urn:herald:problem:invalid-event" => "Invalid event",
            "urn:herald:problem:payload-breaks-schema" => "Payload does not match its schema",
            "urn:herald:problem:foreign-dataschema" => "Unknown dataschema",
            "urn:herald:problem:schema-not-registered" => "No schema registered",
            "urn:herald:problem:registry-unavailable" => "Schema registry unavailable",
            "urn:herald:problem:storage-failed" => "Events not stored",
            _ => "Schema unusable",
        }
    }

    /// The `detail` member: a sentence naming the attribute or field, the rule and the
    /// value where that is safe. Failures of the server's own dependencies (database,
    /// registry) are described without their internals, which are logged instead.
    pub fn detail(&self) -> String {
        match self {
            Self::Schema {
                index,
                id,
                source: SchemaError::RegistryUnavailable { subject, .. },
            } => {
                format!(
                    "{}the schema registry cannot be asked for subject `{subject}` and its \
                     schema is not cached; nothing was enqueued, retry later",
                    position(index, Some(&id.to_string()))
                )
            }
            Self::Schema { index, id, source: SchemaError::Refused { subject, .. } } => format!(
                "{}the schema registry refused to give the schema of subject `{subject}`; \
                 nothing was enqueued",
                position(index, Some(&id.to_string()))
            ),
            Self::Storage(_) => {
                "the events could not be stored; nothing was enqueued, retry later".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The index of the event at fault in a batch, if the error is about one event of a
    /// batch.
    pub fn index(&self) -> Option<usize> {
        match self {
            Self::InvalidEvent { index, .. } | Self::Schema { index, .. } => *index,
            Self::DuplicateId { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The id of the event at fault, when the error is about one event and its id is
    /// known.
    pub fn event_id(&self) -> Option<String> {
        match self {
            Self::InvalidEvent { id, .. } => id.clone(),
            Self::DuplicateId { id, .. } | Self::Schema { id, .. } => Some(id.to_string()),
            _ => None,
        }
    }

    /// The attribute at fault, when the error names one (`source`, `schemaversion`, …).
    pub fn attribute(&self) -> Option<&str> {
        match self {
            Self::InvalidEvent { source, .. } => source.attribute(),
            Self::DuplicateId { .. } => Some("id"),
            Self::Schema { source: SchemaError::ForeignDataschema { .. }, .. } => {
                Some("dataschema")
            }
            Self::Schema { source: SchemaError::Envelope(source), .. } => source.attribute(),
            _ => None,
        }
    }
}

/// The status of a schema failure: the client's payload or type (422), the registry's
/// availability (503) or answer (502), or the registered schema itself (500).
fn schema_status(error: &SchemaError) -> StatusCode {
    match error {
        SchemaError::InvalidPayload(_)
        | SchemaError::NotJson { .. }
        | SchemaError::ForeignDataschema { .. }
        | SchemaError::NotRegistered { .. }
        | SchemaError::Serialize(_) => StatusCode::UNPROCESSABLE_ENTITY,
        SchemaError::Envelope(EnvelopeError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        SchemaError::Envelope(_) => StatusCode::BAD_REQUEST,
        SchemaError::RegistryUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        SchemaError::Refused { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The prefix that places an event: `event at index 2 (id `…`): `, `event `…`: ` or
/// nothing.
fn position(index: &Option<usize>, id: Option<&str>) -> String {
    match (index, id) {
        (Some(index), Some(id)) => format!("event at index {index} (id `{id}`): "),
        (Some(index), None) => format!("event at index {index}: "),
        (None, Some(id)) => format!("event `{id}`: "),
        (None, None) => String::new(),
    }
}

/// A content type for a message: quoted, or `missing`.
fn shown_content_type(content_type: Option<&str>) -> String {
    content_type.map_or_else(|| "missing".to_owned(), |content_type| format!("`{content_type}`"))
}

/// Shortens an id the client sent to [`MAX_SHOWN_ID_CHARS`] characters.
pub(crate) fn shown_id(id: &str) -> String {
    match id.char_indices().nth(MAX_SHOWN_ID_CHARS) {
        Some((cut, _)) => format!("{}…", &id[..cut]),
        None => id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_errors_name_the_index_and_the_id() {
        let error = IngestError::InvalidEvent {
            index: Some(2),
            id: Some("abc".into()),
            source: EnvelopeError::MissingAttribute { attribute: "source".into() },
        };
        assert_eq!(
            error.to_string(),
            "event at index 2 (id `abc`): missing required attribute `source`"
        );
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.attribute(), Some("source"));
    }

    #[test]
    fn an_oversize_event_is_413() {
        let error = IngestError::InvalidEvent {
            index: None,
            id: None,
            source: EnvelopeError::TooLarge { size: 10, limit: 5 },
        };
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error.to_string(), "event is 10 bytes, larger than the limit of 5 bytes");
    }

    #[test]
    fn a_missing_content_type_is_415_and_an_unknown_one_400() {
        let missing = IngestError::NotCloudEvent { content_type: None };
        assert_eq!(missing.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(missing.to_string().contains("Content-Type is missing"), "{missing}");
        let plain = IngestError::NotCloudEvent { content_type: Some("text/plain".into()) };
        assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
        assert!(plain.to_string().contains("`text/plain`"), "{plain}");
    }

    #[test]
    fn long_ids_are_truncated() {
        assert_eq!(shown_id(&"x".repeat(100)), format!("{}…", "x".repeat(64)));
        assert_eq!(shown_id("short"), "short");
    }
}
