//! Events as they are appended and as they are stored.

use std::fmt;

use chrono::{DateTime, Utc};
use herald_envelope::Event;
use uuid::Uuid;

use crate::{EventStoreError, Result, from_micros};

/// The version a stream must be at for an append to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet (version 0).
    NoStream,
    /// The stream's last event must have exactly this version (0 means no stream).
    Exactly(i64),
    /// No check: append after whatever the stream holds.
    Any,
}

impl ExpectedVersion {
    /// Whether a stream at `actual` satisfies this expectation.
    pub fn admits(self, actual: i64) -> bool {
        match self {
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exactly(version) => actual == version,
            ExpectedVersion::Any => true,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::NoStream => formatter.write_str("no stream"),
            ExpectedVersion::Exactly(version) => write!(formatter, "version {version}"),
            ExpectedVersion::Any => formatter.write_str("any version"),
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event's unique id (UUIDv7 from [`NewEvent::from_event`]).
    pub event_id: Uuid,
    /// The stable type name, e.g. `orders.order_placed`.
    pub event_type: String,
    /// The payload's schema version, at least 1.
    pub schema_version: u32,
    /// The payload.
    pub payload: serde_json::Value,
    /// Metadata (causation, correlation, actor); an empty object by default.
    pub metadata: serde_json::Value,
}

impl NewEvent {
    /// An event with a new id, its type and version from the [`Event`] implementation, the
    /// serialized event as payload and empty metadata.
    pub fn from_event<E: Event>(event: &E) -> Result<NewEvent> {
        let payload = serde_json::to_value(event)
            .map_err(|source| EventStoreError::Json { what: E::TYPE.to_owned(), source })?;
        Ok(NewEvent {
            event_id: Uuid::now_v7(),
            event_type: E::TYPE.to_owned(),
            schema_version: E::VERSION,
            payload,
            metadata: serde_json::Value::Object(serde_json::Map::new()),
        })
    }

    /// The same event with these metadata.
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> NewEvent {
        self.metadata = metadata;
        self
    }
}

/// An event as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// The stream it belongs to.
    pub stream_id: String,
    /// Its version within the stream, from 1.
    pub version: i64,
    /// Its global position, from 1, in commit order.
    pub position: i64,
    /// The event's unique id.
    pub event_id: Uuid,
    /// The stable type name.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The payload.
    pub payload: serde_json::Value,
    /// The metadata.
    pub metadata: serde_json::Value,
    /// When it was appended (microsecond precision).
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// Deserializes the payload as `E`, or `None` when the event is of another type or
    /// schema version.
    pub fn decode<E: Event>(&self) -> Result<Option<E>> {
        if self.event_type != E::TYPE || self.schema_version != E::VERSION {
            return Ok(None);
        }
        serde_json::from_value(self.payload.clone())
            .map(Some)
            .map_err(|source| EventStoreError::Json { what: self.event_type.clone(), source })
    }
}

/// The columns of `herald_events`, as [`EventRow`] reads them.
pub(crate) const COLUMNS: &str = "stream_id, version, position, event_id, event_type, \
                                  schema_version, payload, metadata, recorded_at";

/// A `herald_events` row selected with [`COLUMNS`], as either database returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    stream_id: String,
    version: i64,
    position: i64,
    event_id: Uuid,
    event_type: String,
    schema_version: i32,
    payload: String,
    metadata: String,
    recorded_at: i64,
}

impl EventRow {
    /// The event, its JSON parsed and its time decoded.
    pub(crate) fn into_recorded(self) -> Result<RecordedEvent> {
        Ok(RecordedEvent {
            stream_id: self.stream_id,
            version: self.version,
            position: self.position,
            event_id: self.event_id,
            event_type: self.event_type,
            schema_version: u32::try_from(self.schema_version).unwrap_or_default(),
            payload: parse_json("payload", &self.payload)?,
            metadata: parse_json("metadata", &self.metadata)?,
            recorded_at: from_micros(self.recorded_at),
        })
    }
}

fn parse_json(what: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|source| EventStoreError::Json { what: format!("stored {what}"), source })
}
