//! The envelope: CloudEvents attributes, Herald's extensions and the event data.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use crate::{
    EnvelopeError, EventId, EventKind, Received, Result, codec, partition_of, routing, rules,
};

/// The default largest encoded event: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1_048_576;

/// Limits applied when validating, encoding and decoding envelopes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// The largest encoded event, in bytes, that is accepted.
    pub max_event_bytes: usize,
}

impl Default for Limits {
    /// Returns limits with [`DEFAULT_MAX_EVENT_BYTES`].
    fn default() -> Self {
        Self { max_event_bytes: DEFAULT_MAX_EVENT_BYTES }
    }
}

/// The payload of an event.
#[derive(Clone, Debug)]
pub enum Data {
    /// A JSON value, kept as its original text (the `data` member on the wire).
    Json(Box<RawValue>),
    /// Raw bytes (the base64 `data_base64` member on the wire).
    Binary(Vec<u8>),
}

impl PartialEq for Data {
    /// Compares JSON data by its exact text and binary data by its bytes.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Json(left), Self::Json(right)) => left.get() == right.get(),
            (Self::Binary(left), Self::Binary(right)) => left == right,
            _ => false,
        }
    }
}

/// The value of a CloudEvents extension attribute.
///
/// CloudEvents integers are signed 32-bit; the value is held as `i64` but
/// [`Envelope::validate`] rejects integers outside the `i32` range.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ExtensionValue {
    /// A string value.
    String(String),
    /// A boolean value.
    Boolean(bool),
    /// An integer value (32-bit signed range on the wire).
    Integer(i64),
}

impl fmt::Display for ExtensionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(text) => f.write_str(text),
            Self::Boolean(flag) => write!(f, "{flag}"),
            Self::Integer(number) => write!(f, "{number}"),
        }
    }
}

impl From<String> for ExtensionValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<&str> for ExtensionValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<bool> for ExtensionValue {
    fn from(value: bool) -> Self {
        Self::Boolean(value)
    }
}

impl From<i32> for ExtensionValue {
    fn from(value: i32) -> Self {
        Self::Integer(i64::from(value))
    }
}

/// One event: the CloudEvents 1.0 context attributes, Herald's extensions and the data.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The event's identifier (CloudEvents `id`).
    pub id: EventId,
    /// The producing context (CloudEvents `source`), a non-empty URI-reference.
    pub source: String,
    /// The stable event type name (CloudEvents `type`), e.g. `orders.order_placed`.
    pub event_type: String,
    /// When the event happened (CloudEvents `time`); required by Herald.
    pub time: DateTime<Utc>,
    /// The media type of the data (CloudEvents `datacontenttype`).
    pub datacontenttype: Option<String>,
    /// The URI of the data's schema (CloudEvents `dataschema`).
    pub dataschema: Option<String>,
    /// The subject of the event within the source (CloudEvents `subject`).
    pub subject: Option<String>,
    /// The event kind (extension `eventkind`).
    pub kind: EventKind,
    /// The schema version of the data, at least 1 (extension `schemaversion`).
    pub schema_version: u32,
    /// The key that orders and partitions events (extension `partitionkey`).
    pub partition_key: String,
    /// A lexicographically orderable position of the event (extension `sequence`).
    pub sequence: Option<String>,
    /// The W3C trace context of the producer (extension `traceparent`).
    pub traceparent: Option<String>,
    /// Any other extension attributes, by name.
    pub extensions: BTreeMap<String, ExtensionValue>,
    /// The event payload.
    pub data: Option<Data>,
}

impl Envelope {
    /// Sets the `sequence` extension.
    #[must_use]
    pub fn with_sequence(mut self, sequence: impl Into<String>) -> Self {
        self.sequence = Some(sequence.into());
        self
    }

    /// Sets the `traceparent` extension.
    #[must_use]
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// Sets the `subject` attribute.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the `dataschema` attribute.
    #[must_use]
    pub fn with_dataschema(mut self, dataschema: impl Into<String>) -> Self {
        self.dataschema = Some(dataschema.into());
        self
    }

    /// Returns the routing key `<kind>.<type>.v<version>`, e.g.
    /// `integration.orders.order_placed.v2`.
    pub fn routing_key(&self) -> String {
        routing::routing_key(self.kind, &self.event_type, self.schema_version)
    }

    /// Returns the partition of this event's key among `partitions` (see [`partition_of`]).
    pub fn partition(&self, partitions: u32) -> u32 {
        partition_of(&self.partition_key, partitions)
    }

    /// Checks every attribute rule and the size limit on the encoded event.
    ///
    /// Returns the first violation found; the error names the attribute, the rule and the
    /// offending value. The size check measures the encoding without keeping it.
    pub fn validate(&self, limits: &Limits) -> Result<()> {
        rules::validate_attributes(self)?;
        check_size(codec::encoded_len(self), limits)
    }

    /// Returns the structured-mode JSON encoding (`application/cloudevents+json`) with
    /// `"specversion":"1.0"`.
    ///
    /// This does not validate; producers call [`Envelope::encode`] instead.
    pub fn to_json(&self) -> Vec<u8> {
        codec::to_json(self)
    }

    /// Validates the envelope and encodes it, checking the size limit on the encoded bytes.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>> {
        rules::validate_attributes(self)?;
        let bytes = codec::to_json(self);
        check_size(bytes.len(), limits)?;
        Ok(bytes)
    }

    /// Decodes structured-mode JSON and validates it.
    ///
    /// The size limit is checked first, on the input, before any parsing.
    pub fn from_json(bytes: &[u8], limits: &Limits) -> Result<Self> {
        check_size(bytes.len(), limits)?;
        let envelope = codec::from_json(bytes)?;
        rules::validate_attributes(&envelope)?;
        Ok(envelope)
    }
}

impl Envelope {
    /// The attributes of a binary-mode message (AMQP, HTTP): every context attribute and
    /// extension except `datacontenttype`, which bindings carry as their content type.
    /// Protocol bindings add their own prefix (`cloudEvents_`, `ce-`).
    pub fn binary_attributes(&self) -> Vec<(&str, ExtensionValue)> {
        codec::binary_attributes(self)
    }

    /// Whether a binary-mode message carries this event unchanged: its data is JSON text
    /// exactly when `datacontenttype` is a JSON media type (or absent), and binary data is
    /// not empty. A binding sends any other event in structured mode, or it would come
    /// back as another event (found by the `amqp_message` fuzz target).
    pub fn fits_binary_mode(&self) -> bool {
        codec::fits_binary_mode(self)
    }

    /// The body of a binary-mode message: the data's JSON text or its bytes.
    pub fn binary_body(&self) -> Vec<u8> {
        codec::binary_body(self)
    }

    /// Decodes and validates a binary-mode message: `attributes` are the attribute names
    /// (without the binding's prefix, `datacontenttype` included) and values, `body` the
    /// data. The size limit applies to the body.
    pub fn from_binary(
        attributes: impl IntoIterator<Item = (String, ExtensionValue)>,
        body: &[u8],
        limits: &Limits,
    ) -> Result<Self> {
        check_size(body.len(), limits)?;
        let envelope = codec::from_binary(attributes, body)?;
        rules::validate_attributes(&envelope)?;
        Ok(envelope)
    }

    /// Decodes and validates a structured-mode event from any CloudEvents 1.0 producer,
    /// which needs only `specversion`, `id`, `source` and `type`: Herald fills in the
    /// attributes of its own the event lacks and says which ([`Received`]).
    pub fn receive_json(bytes: &[u8], limits: &Limits) -> Result<Received> {
        check_size(bytes.len(), limits)?;
        let received = codec::receive_json(bytes)?;
        rules::validate_attributes(&received.envelope)?;
        Ok(received)
    }

    /// [`Envelope::receive_json`] for a binary-mode message (see
    /// [`Envelope::from_binary`]).
    pub fn receive_binary(
        attributes: impl IntoIterator<Item = (String, ExtensionValue)>,
        body: &[u8],
        limits: &Limits,
    ) -> Result<Received> {
        check_size(body.len(), limits)?;
        let received = codec::receive_binary(attributes, body)?;
        rules::validate_attributes(&received.envelope)?;
        Ok(received)
    }
}

/// Fails with [`EnvelopeError::TooLarge`] when `size` exceeds the limit.
fn check_size(size: usize, limits: &Limits) -> Result<()> {
    if size > limits.max_event_bytes {
        return Err(EnvelopeError::TooLarge { size, limit: limits.max_event_bytes });
    }
    Ok(())
}
