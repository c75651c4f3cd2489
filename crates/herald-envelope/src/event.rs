//! Typed events and their conversion to and from envelopes.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::{Data, Envelope, EnvelopeError, EventId, EventKind, Result, routing, rules};

/// The media type of the data of typed events.
const JSON_CONTENT_TYPE: &str = "application/json";

/// A typed event: a payload with a stable type name, a schema version and a kind.
///
/// Implement it by hand; there is no derive macro yet.
///
/// ```
/// use herald_envelope::{Event, EventKind};
///
/// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// struct OrderPlaced {
///     order_id: String,
/// }
///
/// impl Event for OrderPlaced {
///     const TYPE: &'static str = "orders.order_placed";
///     const VERSION: u32 = 2;
///     const KIND: EventKind = EventKind::Integration;
///
///     fn partition_key(&self) -> String {
///         self.order_id.clone()
///     }
/// }
///
/// assert_eq!(OrderPlaced::routing_key(), "integration.orders.order_placed.v2");
/// ```
pub trait Event: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema {
    /// The stable type name, e.g. `orders.order_placed`.
    const TYPE: &'static str;
    /// The schema version of the payload, at least 1.
    const VERSION: u32;
    /// The kind of the event.
    const KIND: EventKind;

    /// Returns the key that orders and partitions this event, e.g. the aggregate id.
    fn partition_key(&self) -> String;

    /// Returns the JSON Schema of the payload, derived from the Rust type.
    fn json_schema() -> schemars::Schema {
        schemars::schema_for!(Self)
    }

    /// Returns the routing key `<kind>.<TYPE>.v<VERSION>`.
    fn routing_key() -> String {
        routing::routing_key(Self::KIND, Self::TYPE, Self::VERSION)
    }
}

impl Envelope {
    /// Builds an envelope for a typed event.
    ///
    /// The envelope gets a new UUIDv7 id, the current time, `application/json` as its
    /// data content type, its type, version and kind from the [`Event`] implementation,
    /// the event's partition key, and the serialized event as data. The attributes are
    /// validated; the size limit is checked later by [`Envelope::encode`].
    pub fn from_event<E: Event>(source: impl Into<String>, event: &E) -> Result<Self> {
        let data = serde_json::value::to_raw_value(event)
            .map_err(|source| EnvelopeError::Data { event_type: E::TYPE.to_owned(), source })?;
        let envelope = Self {
            id: EventId::new(),
            source: source.into(),
            event_type: E::TYPE.to_owned(),
            time: Utc::now(),
            datacontenttype: Some(JSON_CONTENT_TYPE.to_owned()),
            dataschema: None,
            subject: None,
            kind: E::KIND,
            schema_version: E::VERSION,
            partition_key: event.partition_key(),
            sequence: None,
            traceparent: None,
            extensions: BTreeMap::new(),
            data: Some(Data::Json(data)),
        };
        rules::validate_attributes(&envelope)?;
        Ok(envelope)
    }

    /// Deserializes the data as the typed event `E`.
    ///
    /// Fails with [`EnvelopeError::TypeMismatch`] unless the envelope's routing key (kind,
    /// type and schema version) is `E`'s, with [`EnvelopeError::MissingAttribute`] when
    /// there is no data, and with [`EnvelopeError::Data`] when the data does not fit `E`.
    pub fn decode_data<E: Event>(&self) -> Result<E> {
        let expected = E::routing_key();
        let found = self.routing_key();
        if expected != found {
            return Err(EnvelopeError::TypeMismatch { expected, found });
        }
        let decoded = match &self.data {
            Some(Data::Json(raw)) => serde_json::from_str(raw.get()),
            Some(Data::Binary(bytes)) => serde_json::from_slice(bytes),
            None => return Err(EnvelopeError::missing("data")),
        };
        decoded
            .map_err(|source| EnvelopeError::Data { event_type: self.event_type.clone(), source })
    }
}
