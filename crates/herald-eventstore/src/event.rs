//! Events as they are appended and as they are stored.

use std::fmt;

use chrono::{DateTime, Utc};
use herald_envelope::Event;
use sqlx::Row;
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

/// The columns of `herald_events`, in the order [`recorded_from_row`] reads them.
pub(crate) const COLUMNS: &str = "stream_id, version, position, event_id, event_type, \
                                  schema_version, payload, metadata, recorded_at";

/// Decodes a `herald_events` row selected with [`COLUMNS`].
pub(crate) fn recorded_from_row<R: Row>(row: &R) -> Result<RecordedEvent>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let payload: String = row.try_get("payload")?;
    let metadata: String = row.try_get("metadata")?;
    let schema_version: i32 = row.try_get("schema_version")?;
    Ok(RecordedEvent {
        stream_id: row.try_get("stream_id")?,
        version: row.try_get("version")?,
        position: row.try_get("position")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(schema_version).unwrap_or_default(),
        payload: parse_json("payload", &payload)?,
        metadata: parse_json("metadata", &metadata)?,
        recorded_at: from_micros(row.try_get("recorded_at")?),
    })
}

fn parse_json(what: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|source| EventStoreError::Json { what: format!("stored {what}"), source })
}
