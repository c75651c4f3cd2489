//! CloudEvents SQL over envelopes, as a consumer's event filter.

use std::sync::Arc;

use herald_cesql::{Attributes, Expression, Value};
use herald_envelope::{Envelope, ExtensionValue};

use crate::EventFilter;

/// An envelope seen through CESQL: its context attributes and extensions by name.
pub struct EnvelopeAttributes<'a>(pub &'a Envelope);

impl Attributes for EnvelopeAttributes<'_> {
    fn attribute(&self, name: &str) -> Option<Value> {
        let envelope = self.0;
        let text = |value: &str| Some(Value::String(value.to_owned()));
        match name {
            "specversion" => text("1.0"),
            "id" => text(&envelope.id.to_string()),
            "source" => text(&envelope.source),
            "type" => text(&envelope.event_type),
            "time" => text(&envelope.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            "datacontenttype" => envelope.datacontenttype.as_deref().and_then(text),
            "dataschema" => envelope.dataschema.as_deref().and_then(text),
            "subject" => envelope.subject.as_deref().and_then(text),
            "eventkind" => text(envelope.kind.as_str()),
            "schemaversion" => {
                Some(Value::Integer(i32::try_from(envelope.schema_version).unwrap_or(i32::MAX)))
            }
            "partitionkey" => text(&envelope.partition_key),
            "sequence" => envelope.sequence.as_deref().and_then(text),
            "traceparent" => envelope.traceparent.as_deref().and_then(text),
            other => envelope.extensions.get(other).map(|value| match value {
                ExtensionValue::String(s) => Value::String(s.clone()),
                ExtensionValue::Boolean(b) => Value::Boolean(*b),
                ExtensionValue::Integer(n) => {
                    i32::try_from(*n).map_or_else(|_| Value::String(n.to_string()), Value::Integer)
                }
            }),
        }
    }
}

/// A consumer filter that keeps the events for which `expression` is true (and
/// evaluates without error, as the CloudEvents subscriptions API requires).
pub fn cesql_filter(expression: Expression) -> EventFilter {
    Arc::new(move |envelope: &Envelope| expression.matches(&EnvelopeAttributes(envelope)))
}
