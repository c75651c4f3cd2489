//! Helpers shared by the integration tests.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use herald_envelope::{Data, Envelope, EnvelopeError, EventId, EventKind, ExtensionValue};
use serde_json::value::RawValue;

/// A valid envelope with every optional attribute set.
pub(crate) fn full_envelope() -> Envelope {
    Envelope {
        id: EventId::new(),
        source: "https://orders.example/api".to_owned(),
        event_type: "orders.order_placed".to_owned(),
        time: DateTime::<Utc>::from_timestamp(1_720_000_000, 123_456_789).unwrap(),
        datacontenttype: Some("application/json".to_owned()),
        dataschema: Some("https://registry.example/orders.order_placed/2".to_owned()),
        subject: Some("order-42".to_owned()),
        kind: EventKind::Integration,
        schema_version: 2,
        partition_key: "order-42".to_owned(),
        sequence: Some("00000000000000000042".to_owned()),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
        extensions: BTreeMap::from([
            ("tenant".to_owned(), ExtensionValue::from("acme")),
            ("priority".to_owned(), ExtensionValue::Integer(5)),
            ("replay".to_owned(), ExtensionValue::Boolean(false)),
        ]),
        data: Some(json_data(r#"{"order_id":"order-42","total_cents":1999}"#)),
    }
}

/// JSON data from its text.
pub(crate) fn json_data(text: &str) -> Data {
    Data::Json(RawValue::from_string(text.to_owned()).unwrap())
}

/// Asserts that `error` names `attribute`, as data or in its message.
pub(crate) fn assert_names(error: &EnvelopeError, attribute: &str) {
    let named = match error {
        EnvelopeError::Malformed { reason } => reason.contains(&format!("`{attribute}`")),
        other => other.attribute() == Some(attribute),
    };
    assert!(named, "expected an error naming `{attribute}`, got: {error}");
}
