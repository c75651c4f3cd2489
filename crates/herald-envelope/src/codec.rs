//! Structured-mode JSON (`application/cloudevents+json`), written by hand with serde.
//!
//! Encoding serializes a borrowed view of the envelope straight into bytes. Decoding
//! walks the JSON object once with a map visitor, keeps `data` as raw JSON text without
//! re-parsing it, and reports the first attribute problem as an [`EnvelopeError`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io;

use base64::Engine as _;
use base64::display::Base64Display;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::{Data, Envelope, EnvelopeError, EventId, EventKind, ExtensionValue, Result};

/// Standard base64 that writes padding and accepts input with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Returns the structured-mode JSON encoding of `envelope`.
pub(crate) fn to_json(envelope: &Envelope) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(estimated_len(envelope));
    serde_json::to_writer(&mut bytes, &Wire(envelope))
        .expect("serializing strings, numbers and raw JSON into a Vec cannot fail");
    bytes
}

/// Returns the length of the structured-mode JSON encoding without keeping the bytes.
pub(crate) fn encoded_len(envelope: &Envelope) -> usize {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, &Wire(envelope))
        .expect("serializing into a byte counter cannot fail");
    counter.0
}

/// Decodes structured-mode JSON into an envelope, without validating attribute rules.
pub(crate) fn from_json(bytes: &[u8]) -> Result<Envelope> {
    json_fields(bytes)?.finish()
}

/// Decodes structured-mode JSON from any CloudEvents producer, filling in what Herald's
/// own attributes need ([`Fields::finish_received`]).
pub(crate) fn receive_json(bytes: &[u8]) -> Result<Received> {
    json_fields(bytes)?.finish_received()
}

/// The members of a structured-mode event.
fn json_fields(bytes: &[u8]) -> Result<Fields> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let decoded = Decoded::deserialize(&mut deserializer)
        .and_then(|decoded| deserializer.end().map(|()| decoded))
        .map_err(|error| EnvelopeError::malformed(error.to_string()))?;
    decoded.0
}

/// A guess of the encoded size, so that encoding rarely reallocates.
fn estimated_len(envelope: &Envelope) -> usize {
    let data_len = match &envelope.data {
        Some(Data::Json(raw)) => raw.get().len(),
        Some(Data::Binary(bytes)) => bytes.len().div_ceil(3) * 4,
        None => 0,
    };
    512 + envelope.extensions.len() * 48 + data_len
}

/// An [`io::Write`] sink that only counts bytes.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A borrowed envelope that serializes as a CloudEvents JSON object.
struct Wire<'a>(&'a Envelope);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let envelope = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("specversion", "1.0")?;
        map.serialize_entry("id", envelope.id.as_uuid())?;
        map.serialize_entry("source", &envelope.source)?;
        map.serialize_entry("type", &envelope.event_type)?;
        map.serialize_entry("time", &Rfc3339(&envelope.time))?;
        serialize_optional(&mut map, "datacontenttype", &envelope.datacontenttype)?;
        serialize_optional(&mut map, "dataschema", &envelope.dataschema)?;
        serialize_optional(&mut map, "subject", &envelope.subject)?;
        map.serialize_entry("eventkind", envelope.kind.as_str())?;
        map.serialize_entry("schemaversion", &envelope.schema_version)?;
        map.serialize_entry("partitionkey", &envelope.partition_key)?;
        serialize_optional(&mut map, "sequence", &envelope.sequence)?;
        serialize_optional(&mut map, "traceparent", &envelope.traceparent)?;
        for (name, value) in &envelope.extensions {
            map.serialize_entry(name, &WireExtension(value))?;
        }
        match &envelope.data {
            Some(Data::Json(raw)) => map.serialize_entry("data", raw)?,
            Some(Data::Binary(bytes)) => {
                map.serialize_entry("data_base64", &Base64Text(bytes))?;
            }
            None => {}
        }
        map.end()
    }
}

/// Writes `name: value` when the value is present.
fn serialize_optional<M: SerializeMap>(
    map: &mut M,
    name: &str,
    value: &Option<String>,
) -> std::result::Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(name, value),
        None => Ok(()),
    }
}

/// A timestamp that serializes as RFC 3339 in UTC, with as many fraction digits as needed.
struct Rfc3339<'a>(&'a DateTime<Utc>);

impl Serialize for Rfc3339<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// Bytes that serialize as a standard base64 string.
struct Base64Text<'a>(&'a [u8]);

impl Serialize for Base64Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &BASE64))
    }
}

/// An extension value that serializes as a JSON string, boolean or integer.
struct WireExtension<'a>(&'a ExtensionValue);

impl Serialize for WireExtension<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            ExtensionValue::String(text) => serializer.serialize_str(text),
            ExtensionValue::Boolean(flag) => serializer.serialize_bool(*flag),
            ExtensionValue::Integer(number) => serializer.serialize_i64(*number),
        }
    }
}

/// The outcome of decoding: JSON syntax errors surface through serde, attribute errors
/// are carried here so that they keep their structure.
struct Decoded(Result<Fields>);

impl<'de> Deserialize<'de> for Decoded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

/// Visits the members of the CloudEvents JSON object.
struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Decoded;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a CloudEvents JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Decoded, A::Error> {
        let mut fields = Fields::default();
        let mut first_error = None;
        while let Some(Key(name)) = map.next_key()? {
            if first_error.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if let Err(error) = fields.accept(&name, &mut map)? {
                first_error = Some(error);
            }
        }
        Ok(Decoded(match first_error {
            Some(error) => Err(error),
            None => Ok(fields),
        }))
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Visits a member name.
struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> std::result::Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> std::result::Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(text)))
    }
}

/// Any JSON member value, with nested objects and arrays skipped.
enum WireValue<'de> {
    /// A JSON string.
    Str(Cow<'de, str>),
    /// A JSON boolean.
    Bool(bool),
    /// A JSON number without fraction or exponent, negative.
    Signed(i64),
    /// A JSON number without fraction or exponent, non-negative.
    Unsigned(u64),
    /// Any other JSON number.
    Float(f64),
    /// JSON `null`.
    Null,
    /// A JSON object (skipped).
    Object,
    /// A JSON array (skipped).
    Array,
}

impl WireValue<'_> {
    /// Names the JSON type for error messages.
    fn json_type(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::Bool(_) => "a boolean",
            Self::Signed(_) | Self::Unsigned(_) | Self::Float(_) => "a number",
            Self::Null => "null",
            Self::Object => "an object",
            Self::Array => "an array",
        }
    }
}

impl<'de> Deserialize<'de> for WireValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(WireValueVisitor)
    }
}

/// Visits any JSON value.
struct WireValueVisitor;

impl<'de> Visitor<'de> for WireValueVisitor {
    type Value = WireValue<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(
        self,
        text: &'de str,
    ) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Str(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Str(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Str(Cow::Owned(text)))
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Signed(number))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Unsigned(number))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Float(number))
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(WireValue::Null)
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(WireValue::Object)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(WireValue::Array)
    }
}

/// The attributes collected so far while visiting the object.
#[derive(Default)]
struct Fields {
    specversion: bool,
    /// The `id` as sent: Herald's events carry a UUID, other producers any string.
    id: Option<String>,
    source: Option<String>,
    event_type: Option<String>,
    time: Option<DateTime<Utc>>,
    datacontenttype: Option<String>,
    dataschema: Option<String>,
    subject: Option<String>,
    kind: Option<EventKind>,
    schema_version: Option<u32>,
    partition_key: Option<String>,
    sequence: Option<String>,
    traceparent: Option<String>,
    extensions: BTreeMap<String, ExtensionValue>,
    data: Option<Data>,
}

/// The result of reading one member: serde errors outside, attribute errors inside.
type Accepted<E> = std::result::Result<Result<()>, E>;

impl Fields {
    /// Reads the value of member `name` and records it.
    fn accept<'de, A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Accepted<A::Error> {
        if name == "data" {
            let raw: Box<RawValue> = map.next_value()?;
            return Ok(self.accept_json_data(raw));
        }
        let value: WireValue<'de> = map.next_value()?;
        Ok(self.accept_value(name, value))
    }

    /// Records the `data` member; JSON `null` means no data.
    fn accept_json_data(&mut self, raw: Box<RawValue>) -> Result<()> {
        if raw.get() == "null" {
            return Ok(());
        }
        set_data(&mut self.data, Data::Json(raw))
    }

    /// Records any member other than `data`.
    fn accept_value(&mut self, name: &str, value: WireValue<'_>) -> Result<()> {
        match name {
            "specversion" => self.accept_specversion(value),
            "id" => set(&mut self.id, name, string(name, value)?),
            "source" => set(&mut self.source, name, string(name, value)?),
            "type" => set(&mut self.event_type, name, string(name, value)?),
            "time" => set_optional(&mut self.time, name, optional_time(value)?),
            "datacontenttype" | "dataschema" | "subject" | "partitionkey" | "sequence"
            | "traceparent" => {
                let value = optional_string(name, value)?;
                set_optional(self.string_slot(name), name, value)
            }
            "eventkind" => set(&mut self.kind, name, string(name, value)?.parse()?),
            "schemaversion" => set(&mut self.schema_version, name, schema_version(&value)?),
            "data_base64" => self.accept_base64_data(value),
            _ => self.accept_extension(name, value),
        }
    }

    /// Returns the slot of an optional string attribute.
    fn string_slot(&mut self, name: &str) -> &mut Option<String> {
        match name {
            "datacontenttype" => &mut self.datacontenttype,
            "dataschema" => &mut self.dataschema,
            "subject" => &mut self.subject,
            "partitionkey" => &mut self.partition_key,
            "sequence" => &mut self.sequence,
            _ => &mut self.traceparent,
        }
    }

    /// Requires `specversion` to be exactly `1.0`.
    fn accept_specversion(&mut self, value: WireValue<'_>) -> Result<()> {
        let version = string("specversion", value)?;
        if version != "1.0" {
            return Err(EnvelopeError::invalid("specversion", "must be exactly \"1.0\"", &version));
        }
        if std::mem::replace(&mut self.specversion, true) {
            return Err(duplicate("specversion"));
        }
        Ok(())
    }

    /// Records the `data_base64` member as binary data; JSON `null` means no data.
    fn accept_base64_data(&mut self, value: WireValue<'_>) -> Result<()> {
        let Some(text) = optional_string("data_base64", value)? else {
            return Ok(());
        };
        let bytes = BASE64.decode(&text).map_err(|_| {
            EnvelopeError::invalid("data_base64", "must be standard base64 (RFC 4648)", &text)
        })?;
        set_data(&mut self.data, Data::Binary(bytes))
    }

    /// Records an extension attribute; JSON `null` means the extension is absent.
    fn accept_extension(&mut self, name: &str, value: WireValue<'_>) -> Result<()> {
        let Some(value) = extension_value(name, value)? else {
            return Ok(());
        };
        match self.extensions.insert(name.to_owned(), value) {
            Some(_) => Err(duplicate(name)),
            None => Ok(()),
        }
    }

    /// Checks that the required attributes are present and builds the envelope: Herald's
    /// own events carry all of its attributes.
    fn finish(self) -> Result<Envelope> {
        if !self.specversion {
            return Err(EnvelopeError::missing("specversion"));
        }
        let id: EventId = required(self.id, "id")?.parse()?;
        Ok(Envelope {
            id,
            source: required(self.source, "source")?,
            event_type: required(self.event_type, "type")?,
            kind: required(self.kind, "eventkind")?,
            schema_version: required(self.schema_version, "schemaversion")?,
            partition_key: required(self.partition_key, "partitionkey")?,
            time: required(self.time, "time")?,
            datacontenttype: self.datacontenttype,
            dataschema: self.dataschema,
            subject: self.subject,
            sequence: self.sequence,
            traceparent: self.traceparent,
            extensions: self.extensions,
            data: self.data,
        })
    }
}

impl Fields {
    /// Builds the envelope of an event from any CloudEvents 1.0 producer, which needs
    /// only `specversion`, `id`, `source` and `type`; Herald's attributes it lacks are
    /// filled in, and named in [`Received::filled`]:
    ///
    /// - `id`: an id that is not a UUID becomes the UUID (version 5) of `source` and
    ///   `id` together, so the same event sent twice has the same Herald id (CloudEvents
    ///   makes `source` + `id` unique), and the inbox drops the second copy;
    /// - `time`: the time of receipt;
    /// - `schemaversion`: the `.v<n>` of the registry subject a `dataschema` names
    ///   (`…/subjects/<type>.v<n>/versions/<m>`), else 1;
    /// - `eventkind`: `integration`;
    /// - `partitionkey`: the `subject`, else the `source` (one source's events in order).
    fn finish_received(mut self) -> Result<Received> {
        if !self.specversion {
            return Err(EnvelopeError::missing("specversion"));
        }
        let mut filled = Vec::new();
        let source = required(self.source.clone(), "source")?;
        let sent_id = required(self.id.take(), "id")?;
        if sent_id.is_empty() {
            return Err(EnvelopeError::invalid("id", "must not be empty", ""));
        }
        let id = sent_id.parse::<EventId>().unwrap_or_else(|_| {
            filled.push("id");
            EventId::of_foreign(&source, &sent_id)
        });
        self.id = Some(id.to_string());
        if self.time.is_none() {
            self.time = Some(Utc::now());
            filled.push("time");
        }
        if self.schema_version.is_none() {
            self.schema_version =
                Some(self.dataschema.as_deref().and_then(subject_version).unwrap_or(1));
            filled.push("schemaversion");
        }
        if self.kind.is_none() {
            self.kind = Some(EventKind::Integration);
            filled.push("eventkind");
        }
        if self.partition_key.is_none() {
            self.partition_key = Some(self.subject.clone().unwrap_or(source));
            filled.push("partitionkey");
        }
        let envelope = self.finish()?;
        Ok(Received { envelope, filled, sent_id })
    }
}

/// An event from any CloudEvents producer, with the attributes Herald filled in.
#[derive(Debug, Clone)]
pub struct Received {
    /// The event, as Herald stores and publishes it.
    pub envelope: Envelope,
    /// The attributes Herald filled in, in the order of [`Fields::finish_received`]'s list.
    pub filled: Vec<&'static str>,
    /// The `id` the producer sent (the envelope's id when it was a UUID).
    pub sent_id: String,
}

/// The `<n>` of a registry schema URI `…/subjects/<type>.v<n>/versions/<m>`.
fn subject_version(dataschema: &str) -> Option<u32> {
    let (_, after) = dataschema.rsplit_once("/subjects/")?;
    let subject = after.split('/').next()?;
    let (_, version) = subject.rsplit_once(".v")?;
    version.parse().ok().filter(|version| *version >= 1)
}

/// Fails with [`EnvelopeError::MissingAttribute`] when `value` is absent.
fn required<T>(value: Option<T>, name: &str) -> Result<T> {
    value.ok_or_else(|| EnvelopeError::missing(name))
}

/// Stores `value` in an empty slot; a second occurrence is malformed.
fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<()> {
    if slot.replace(value).is_some() {
        return Err(duplicate(name));
    }
    Ok(())
}

/// Stores a present `value` in an empty slot; `None` (JSON `null`) leaves it alone.
fn set_optional<T>(slot: &mut Option<T>, name: &str, value: Option<T>) -> Result<()> {
    value.map_or(Ok(()), |value| set(slot, name, value))
}

/// Stores data; having both `data` and `data_base64` is malformed.
fn set_data(slot: &mut Option<Data>, data: Data) -> Result<()> {
    if slot.replace(data).is_some() {
        return Err(EnvelopeError::malformed(
            "only one of `data` and `data_base64` may be present",
        ));
    }
    Ok(())
}

/// The error for a member that occurs twice.
fn duplicate(name: &str) -> EnvelopeError {
    EnvelopeError::malformed(format!("attribute `{name}` occurs more than once"))
}

/// The error for a member of the wrong JSON type.
fn wrong_type(name: &str, expected: &str, value: &WireValue<'_>) -> EnvelopeError {
    EnvelopeError::malformed(format!(
        "attribute `{name}` must be {expected}, got {}",
        value.json_type()
    ))
}

/// Requires a JSON string.
fn string(name: &str, value: WireValue<'_>) -> Result<String> {
    match value {
        WireValue::Str(text) => Ok(text.into_owned()),
        other => Err(wrong_type(name, "a string", &other)),
    }
}

/// Requires a JSON string or `null` (absent).
fn optional_string(name: &str, value: WireValue<'_>) -> Result<Option<String>> {
    match value {
        WireValue::Null => Ok(None),
        other => string(name, other).map(Some),
    }
}

/// Parses the `time` member as an RFC 3339 timestamp; `null` means absent.
fn optional_time(value: WireValue<'_>) -> Result<Option<DateTime<Utc>>> {
    let text = match value {
        WireValue::Null => return Ok(None),
        WireValue::Str(text) => text,
        other => return Err(wrong_type("time", "a string", &other)),
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|time| Some(time.with_timezone(&Utc)))
        .map_err(|_| EnvelopeError::invalid("time", "must be an RFC 3339 timestamp", &text))
}

/// Parses `schemaversion` from a JSON integer or a string holding one.
fn schema_version(value: &WireValue<'_>) -> Result<u32> {
    const RULE: &str = "must be an integer between 1 and 2147483647";
    let parsed = match value {
        WireValue::Unsigned(number) => u32::try_from(*number).ok(),
        WireValue::Str(text) => text.parse::<u32>().ok(),
        WireValue::Signed(_) | WireValue::Float(_) => None,
        other => return Err(wrong_type("schemaversion", "an integer or a string", other)),
    };
    parsed.ok_or_else(|| EnvelopeError::invalid("schemaversion", RULE, &display(value)))
}

/// Converts an extension member: strings, booleans and integers are allowed, `null`
/// means absent, and numbers with a fraction are rejected.
fn extension_value(name: &str, value: WireValue<'_>) -> Result<Option<ExtensionValue>> {
    const RULE: &str = "extension values must be strings, booleans or 32-bit integers";
    let converted = match value {
        WireValue::Null => return Ok(None),
        WireValue::Str(text) => ExtensionValue::String(text.into_owned()),
        WireValue::Bool(flag) => ExtensionValue::Boolean(flag),
        WireValue::Signed(number) => ExtensionValue::Integer(number),
        WireValue::Unsigned(number) => match i64::try_from(number) {
            Ok(number) => ExtensionValue::Integer(number),
            Err(_) => return Err(EnvelopeError::invalid(name, RULE, &number.to_string())),
        },
        WireValue::Float(number) => {
            return Err(EnvelopeError::invalid(name, RULE, &number.to_string()));
        }
        other => {
            return Err(wrong_type(name, "a string, a boolean or an integer", &other));
        }
    };
    Ok(Some(converted))
}

/// Renders a scalar member value for error messages.
fn display(value: &WireValue<'_>) -> String {
    match value {
        WireValue::Str(text) => text.to_string(),
        WireValue::Bool(flag) => flag.to_string(),
        WireValue::Signed(number) => number.to_string(),
        WireValue::Unsigned(number) => number.to_string(),
        WireValue::Float(number) => number.to_string(),
        other => other.json_type().to_owned(),
    }
}

/// Decodes a binary-mode event (AMQP, HTTP, …): attributes from message headers or
/// properties, already stripped of their binding's prefix, and the body as the data.
///
/// String-valued attributes follow the same rules as in structured mode; a body whose
/// `datacontenttype` is JSON (or absent) must be one JSON value and is kept as its text.
pub(crate) fn from_binary(
    attributes: impl IntoIterator<Item = (String, ExtensionValue)>,
    body: &[u8],
) -> Result<Envelope> {
    binary_fields(attributes, body)?.finish()
}

/// A binary-mode message from any CloudEvents producer ([`Fields::finish_received`]).
pub(crate) fn receive_binary(
    attributes: impl IntoIterator<Item = (String, ExtensionValue)>,
    body: &[u8],
) -> Result<Received> {
    binary_fields(attributes, body)?.finish_received()
}

/// The attributes and data of a binary-mode message.
fn binary_fields(
    attributes: impl IntoIterator<Item = (String, ExtensionValue)>,
    body: &[u8],
) -> Result<Fields> {
    let mut fields = Fields::default();
    for (name, value) in attributes {
        let wire = match value {
            ExtensionValue::String(text) => WireValue::Str(Cow::Owned(text)),
            ExtensionValue::Boolean(flag) => WireValue::Bool(flag),
            ExtensionValue::Integer(number) if number < 0 => WireValue::Signed(number),
            ExtensionValue::Integer(number) => WireValue::Unsigned(number.unsigned_abs()),
        };
        fields.accept_value(&name, wire)?;
    }
    if !body.is_empty() {
        let data = if is_json(fields.datacontenttype.as_deref()) {
            let text = std::str::from_utf8(body).map_err(|_| {
                EnvelopeError::invalid("data", "must be UTF-8 JSON text", "<bytes>")
            })?;
            let raw = RawValue::from_string(text.to_owned())
                .map_err(|error| EnvelopeError::malformed(format!("data is not JSON: {error}")))?;
            Data::Json(raw)
        } else {
            Data::Binary(body.to_vec())
        };
        set_data(&mut fields.data, data)?;
    }
    Ok(fields)
}

/// The context attributes and extensions of a binary-mode message, without
/// `datacontenttype` (which bindings carry as their content type) and without data.
pub(crate) fn binary_attributes(envelope: &Envelope) -> Vec<(&str, ExtensionValue)> {
    let mut attributes = vec![
        ("specversion", ExtensionValue::from("1.0")),
        ("id", ExtensionValue::String(envelope.id.to_string())),
        ("source", ExtensionValue::from(envelope.source.as_str())),
        ("type", ExtensionValue::from(envelope.event_type.as_str())),
        (
            "time",
            ExtensionValue::String(envelope.time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        ),
        ("eventkind", ExtensionValue::from(envelope.kind.as_str())),
        ("schemaversion", ExtensionValue::Integer(i64::from(envelope.schema_version))),
        ("partitionkey", ExtensionValue::from(envelope.partition_key.as_str())),
    ];
    let optional = [
        ("dataschema", &envelope.dataschema),
        ("subject", &envelope.subject),
        ("sequence", &envelope.sequence),
        ("traceparent", &envelope.traceparent),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            attributes.push((name, ExtensionValue::from(value.as_str())));
        }
    }
    for (name, value) in &envelope.extensions {
        attributes.push((name.as_str(), value.clone()));
    }
    attributes
}

/// The body of a binary-mode message: JSON data as its text, binary data as is.
pub(crate) fn binary_body(envelope: &Envelope) -> Vec<u8> {
    match &envelope.data {
        Some(Data::Json(raw)) => raw.get().as_bytes().to_vec(),
        Some(Data::Binary(bytes)) => bytes.clone(),
        None => Vec::new(),
    }
}

/// Whether a media type is JSON (`application/json`, `*/*+json`, `text/json`); absent
/// means JSON, as in structured mode.
/// Whether binary mode carries `envelope` unchanged: [`from_binary`] reads its body back
/// as the same data, JSON exactly when `datacontenttype` is JSON (or absent), and an
/// empty body as no data.
pub(crate) fn fits_binary_mode(envelope: &Envelope) -> bool {
    let json = is_json(envelope.datacontenttype.as_deref());
    match &envelope.data {
        None => true,
        Some(Data::Json(_)) => json,
        Some(Data::Binary(bytes)) => !json && !bytes.is_empty(),
    }
}

fn is_json(media_type: Option<&str>) -> bool {
    let Some(media_type) = media_type else {
        return true;
    };
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> Result<Envelope> {
        from_json(json.as_bytes())
    }

    const MINIMAL: &str = r#"{"specversion":"1.0","id":"0190f6a4-7d3e-7cc0-8a4e-7b0a1c2d3e4f",
        "source":"/orders","type":"orders.order_placed","time":"2024-07-01T12:00:00Z",
        "eventkind":"domain","schemaversion":"2","partitionkey":"order-1"#;

    #[test]
    fn schemaversion_accepts_strings_and_integers() {
        let from_string = decode(&format!("{MINIMAL}\"}}")).unwrap();
        assert_eq!(from_string.schema_version, 2);
        let integer = format!("{MINIMAL}\"}}").replace("\"2\"", "2");
        assert_eq!(decode(&integer).unwrap().schema_version, 2);
    }

    #[test]
    fn data_is_kept_as_raw_text() {
        let json = format!("{MINIMAL}\",\"data\":{{ \"a\" : [1, 2] }}}}");
        let envelope = decode(&json).unwrap();
        match envelope.data {
            Some(Data::Json(raw)) => assert_eq!(raw.get(), r#"{ "a" : [1, 2] }"#),
            other => panic!("unexpected data {other:?}"),
        }
    }

    #[test]
    fn escaped_member_names_are_understood() {
        let json = format!("{MINIMAL}\",\"\\u0073ubject\":\"s\"}}");
        assert_eq!(decode(&json).unwrap().subject.as_deref(), Some("s"));
    }

    #[test]
    fn duplicates_and_double_data_are_malformed() {
        let twice = format!("{MINIMAL}\",\"source\":\"/again\"}}");
        assert!(matches!(decode(&twice), Err(EnvelopeError::Malformed { .. })));
        let both = format!("{MINIMAL}\",\"data\":1,\"data_base64\":\"AA==\"}}");
        assert!(matches!(decode(&both), Err(EnvelopeError::Malformed { .. })));
    }

    #[test]
    fn trailing_garbage_is_malformed() {
        let json = format!("{MINIMAL}\"}} x");
        assert!(matches!(decode(&json), Err(EnvelopeError::Malformed { .. })));
    }

    #[test]
    fn encoded_len_matches_encoding() {
        let envelope = decode(&format!("{MINIMAL}\",\"data_base64\":\"AAEC\",\"x\":1}}")).unwrap();
        assert_eq!(encoded_len(&envelope), to_json(&envelope).len());
    }
}
