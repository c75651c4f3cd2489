//! The CloudEvents AMQP protocol binding.
//!
//! Binary mode on send: every context attribute and extension becomes an application
//! property named `cloudEvents_<name>` (strings as long strings, integers and booleans
//! typed), `datacontenttype` becomes the AMQP `content-type`, the data is the body. The
//! `message-id` is the event id, and messages are persistent. On receive both prefixes of
//! the binding (`cloudEvents_` and `cloudEvents:`) are accepted, and so is structured mode
//! (`content-type: application/cloudevents+json`).

use herald_envelope::{Envelope, ExtensionValue, Limits};
use herald_transport::Message;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// The prefix of CloudEvents attributes among the application properties.
pub const ATTRIBUTE_PREFIX: &str = "cloudEvents_";
/// The other prefix the binding allows.
const ALTERNATE_PREFIX: &str = "cloudEvents:";
/// The content type of structured mode.
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Herald's header with the routing key the event was published under, on messages that
/// reach a queue another way (delayed retries, replays).
pub const ROUTING_KEY_HEADER: &str = "herald-routing-key";
/// Herald's header with the delivery attempt of a retried message (first delivery: 1).
pub const ATTEMPT_HEADER: &str = "herald-attempt";
/// Herald's header with the time of the first failure (RFC 3339).
pub const FIRST_FAILED_HEADER: &str = "herald-first-failed-at";
/// Herald's header with the error of the latest failure.
pub const LAST_ERROR_HEADER: &str = "herald-last-error";

/// The body and properties of a message in binary mode. A payload that is not a valid
/// structured event (never the case for what the outbox holds), that binary mode would
/// change ([`Envelope::fits_binary_mode`]), or whose `datacontenttype` is longer than
/// AMQP's `content-type` (a short string, 255 bytes), travels in structured mode.
pub fn to_amqp(message: &Message) -> (Vec<u8>, BasicProperties) {
    let base = BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(message.event_id.to_string().into());
    let structured = || {
        (message.payload.clone(), base.clone().with_content_type(STRUCTURED_CONTENT_TYPE.into()))
    };
    let Ok(envelope) =
        Envelope::from_json(&message.payload, &Limits { max_event_bytes: usize::MAX })
    else {
        return structured();
    };
    if !envelope.fits_binary_mode() {
        return structured();
    }
    // Found by the `amqp_message` fuzz target: `ShortString::from` panics past 255 bytes.
    let content_type = match envelope.datacontenttype.as_deref().map(ShortString::try_new) {
        None => None,
        Some(Ok(content_type)) => Some(content_type),
        Some(Err(_)) => return structured(),
    };
    let mut headers = FieldTable::default();
    for (name, value) in envelope.binary_attributes() {
        headers.insert(format!("{ATTRIBUTE_PREFIX}{name}").into(), amqp_value(value));
    }
    let mut properties = base.with_headers(headers);
    if let Some(content_type) = content_type {
        properties = properties.with_content_type(content_type);
    }
    (envelope.binary_body(), properties)
}

/// Reads a received message back into the seam's message (structured JSON payload).
///
/// A message that is not a valid CloudEvent keeps its body as the payload, so that the
/// consumer's decoding fails and applies its policy for undecodable events.
pub fn from_amqp(routing_key: &str, properties: &BasicProperties, body: &[u8]) -> Message {
    let routing_key =
        header_text(properties, ROUTING_KEY_HEADER).unwrap_or_else(|| routing_key.to_owned());
    let decoded = decode(properties, body);
    match decoded {
        Some(envelope) => Message {
            event_id: *envelope.id.as_uuid(),
            routing_key,
            partition_key: envelope.partition_key.clone(),
            payload: envelope.to_json(),
        },
        None => Message {
            event_id: message_id(properties),
            routing_key,
            partition_key: String::new(),
            payload: body.to_vec(),
        },
    }
}

/// Decodes either mode; `None` when the message is not a valid event.
fn decode(properties: &BasicProperties, body: &[u8]) -> Option<Envelope> {
    let limits = Limits::default();
    let content_type = properties.content_type().as_ref().map(|c| c.as_str().to_owned());
    if content_type.as_deref().is_some_and(is_structured) {
        return Envelope::from_json(body, &limits).ok();
    }
    let mut attributes: Vec<(String, ExtensionValue)> = properties
        .headers()
        .as_ref()
        .map(|headers| {
            headers
                .inner()
                .iter()
                .filter_map(|(name, value)| Some((attribute_name(name.as_str())?, value)))
                .filter_map(|(name, value)| Some((name.to_owned(), extension_value(value)?)))
                .collect()
        })
        .unwrap_or_default();
    if let Some(content_type) = content_type {
        attributes.push(("datacontenttype".into(), ExtensionValue::String(content_type)));
    }
    Envelope::from_binary(attributes, body, &limits).ok()
}

/// The attribute name of an application property, if it is a CloudEvents attribute.
fn attribute_name(header: &str) -> Option<&str> {
    header.strip_prefix(ATTRIBUTE_PREFIX).or_else(|| header.strip_prefix(ALTERNATE_PREFIX))
}

fn is_structured(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(STRUCTURED_CONTENT_TYPE))
}

/// The AMQP value of an attribute.
fn amqp_value(value: ExtensionValue) -> AMQPValue {
    match value {
        ExtensionValue::String(text) => AMQPValue::LongString(LongString::from(text)),
        ExtensionValue::Boolean(flag) => AMQPValue::Boolean(flag),
        ExtensionValue::Integer(number) => AMQPValue::LongLongInt(number),
    }
}

/// The attribute value of an AMQP value; other AMQP types are not CloudEvents values.
fn extension_value(value: &AMQPValue) -> Option<ExtensionValue> {
    Some(match value {
        AMQPValue::LongString(text) => {
            ExtensionValue::String(String::from_utf8_lossy(text.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(text) => ExtensionValue::String(text.as_str().to_owned()),
        AMQPValue::Boolean(flag) => ExtensionValue::Boolean(*flag),
        AMQPValue::ShortShortInt(n) => ExtensionValue::Integer(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => ExtensionValue::Integer(i64::from(*n)),
        AMQPValue::ShortInt(n) => ExtensionValue::Integer(i64::from(*n)),
        AMQPValue::ShortUInt(n) => ExtensionValue::Integer(i64::from(*n)),
        AMQPValue::LongInt(n) => ExtensionValue::Integer(i64::from(*n)),
        AMQPValue::LongUInt(n) => ExtensionValue::Integer(i64::from(*n)),
        AMQPValue::LongLongInt(n) => ExtensionValue::Integer(*n),
        _ => return None,
    })
}

/// A header's text, if present and a string.
pub(crate) fn header_text(properties: &BasicProperties, name: &str) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(text) => Some(String::from_utf8_lossy(text.as_bytes()).into_owned()),
        AMQPValue::ShortString(text) => Some(text.as_str().to_owned()),
        _ => None,
    }
}

/// A header's integer, if present and an integer.
pub(crate) fn header_integer(properties: &BasicProperties, name: &str) -> Option<i64> {
    let headers = properties.headers().as_ref()?;
    match extension_value(headers.inner().get(name)?)? {
        ExtensionValue::Integer(number) => Some(number),
        _ => None,
    }
}

/// The event id from the AMQP message id, or the nil id when there is none.
fn message_id(properties: &BasicProperties) -> uuid::Uuid {
    properties.message_id().as_ref().and_then(|id| id.as_str().parse().ok()).unwrap_or_default()
}
