//! The `amqp_message` harness: the input is an AMQP message in a text form, read by
//! `herald_rabbitmq::binding::from_amqp` as the subscriber reads every delivery (binary
//! mode, or structured mode with `content-type: application/cloudevents+json`).
//!
//! The form: `name: value` lines, an empty line, then the body. `content-type` and
//! `message-id` are those properties; any other line is an application property whose
//! value is typed by its prefix: `i:` a 64-bit integer, `u:` an unsigned byte, `b:` a
//! boolean, `s:` a short string, `f:` a float (no CloudEvents type), else a long string.
//! Names and short strings longer than 255 bytes, which AMQP cannot carry, are left out.
//!
//! Shared by the fuzz target and `herald-rabbitmq`'s corpus replay (`tests/fuzz_corpora.rs`).

use herald_envelope::{Envelope, EnvelopeError, Limits};
use herald_rabbitmq::binding::{from_amqp, to_amqp};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// Reads the message, then decodes its payload as the consumer does. A message read as
/// an event (its payload re-encoded) must decode, with the event's id, and must come back
/// the same through `to_amqp` (what the relay publishes) and `from_amqp` again.
pub(crate) fn run(data: &[u8]) -> Result<Envelope, EnvelopeError> {
    let (head, body) = split(data);
    let message = from_amqp("fuzz.routing.key", &properties(head), body);
    let decoded = Envelope::from_json(&message.payload, &Limits { max_event_bytes: usize::MAX });
    if message.payload != body {
        let envelope = decoded.as_ref().unwrap_or_else(|error| {
            panic!("a message read as an event carries an invalid payload: {error}")
        });
        assert_eq!(envelope.id.as_uuid(), &message.event_id, "the message's id is the event's");
        let (body, properties) = to_amqp(&message);
        let again = from_amqp(&message.routing_key, &properties, &body);
        assert_eq!(again.payload, message.payload, "the event changes through to_amqp");
    }
    decoded
}

/// The header lines and the body, split at the first empty line.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(2).position(|pair| pair == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[]),
    }
}

/// The message's properties from its header lines.
fn properties(head: &[u8]) -> BasicProperties {
    let mut properties = BasicProperties::default();
    let mut headers = FieldTable::default();
    for line in head.split(|&byte| byte == b'\n') {
        let line = String::from_utf8_lossy(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "content-type" | "message-id" => {
                let Ok(value) = ShortString::try_new(value) else {
                    continue;
                };
                properties = match name {
                    "content-type" => properties.with_content_type(value),
                    _ => properties.with_message_id(value),
                };
            }
            // A name longer than a short string cannot reach the subscriber.
            _ => {
                if let Ok(name) = ShortString::try_new(name) {
                    headers.insert(name, typed(value));
                }
            }
        }
    }
    properties.with_headers(headers)
}

/// An application property's value, typed by its prefix.
fn typed(value: &str) -> AMQPValue {
    let parsed = match value.split_at_checked(2) {
        Some(("i:", n)) => n.parse().ok().map(AMQPValue::LongLongInt),
        Some(("u:", n)) => n.parse().ok().map(AMQPValue::ShortShortUInt),
        Some(("b:", flag)) => flag.parse().ok().map(AMQPValue::Boolean),
        Some(("s:", text)) => ShortString::try_new(text).ok().map(AMQPValue::ShortString),
        Some(("f:", n)) => n.parse().ok().map(AMQPValue::Double),
        _ => None,
    };
    parsed.unwrap_or_else(|| AMQPValue::LongString(LongString::from(value)))
}
