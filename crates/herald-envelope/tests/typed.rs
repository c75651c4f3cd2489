//! Typed events, routing keys and partitioning.

use herald_envelope::{Data, Envelope, EnvelopeError, Event, EventKind, Limits, partition_of};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// An example integration event.
#[derive(Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlaced {
    order_id: String,
    total_cents: u64,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "orders.order_placed";
    const VERSION: u32 = 2;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.order_id.clone()
    }
}

/// The same type name, at the previous schema version.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlacedV1 {
    order_id: String,
}

impl Event for OrderPlacedV1 {
    const TYPE: &'static str = "orders.order_placed";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.order_id.clone()
    }
}

/// A different event type.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct PaymentFailed {
    payment_id: String,
}

impl Event for PaymentFailed {
    const TYPE: &'static str = "payments.payment_failed";
    const VERSION: u32 = 2;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.payment_id.clone()
    }
}

fn order() -> OrderPlaced {
    OrderPlaced { order_id: "order-42".to_owned(), total_cents: 1999 }
}

#[test]
fn routing_keys_are_kind_type_version() {
    assert_eq!(OrderPlaced::routing_key(), "integration.orders.order_placed.v2");
    let envelope = Envelope::from_event("/orders", &order()).unwrap();
    assert_eq!(envelope.routing_key(), "integration.orders.order_placed.v2");
}

#[test]
fn from_event_fills_the_envelope() {
    let envelope = Envelope::from_event("/orders", &order()).unwrap();
    assert_eq!(envelope.id.as_uuid().get_version_num(), 7);
    assert_eq!(envelope.source, "/orders");
    assert_eq!(envelope.event_type, "orders.order_placed");
    assert_eq!(envelope.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(envelope.kind, EventKind::Integration);
    assert_eq!(envelope.schema_version, 2);
    assert_eq!(envelope.partition_key, "order-42");
    assert!(
        matches!(&envelope.data, Some(Data::Json(raw)) if raw.get() == r#"{"order_id":"order-42","total_cents":1999}"#)
    );
}

#[test]
fn typed_events_round_trip_through_json() {
    let envelope = Envelope::from_event("/orders", &order()).unwrap().with_sequence("1");
    let bytes = envelope.encode(&Limits::default()).unwrap();
    let decoded = Envelope::from_json(&bytes, &Limits::default()).unwrap();
    assert_eq!(decoded, envelope);
    assert_eq!(decoded.decode_data::<OrderPlaced>().unwrap(), order());
}

#[test]
fn from_event_validates_attributes() {
    let error = Envelope::from_event("", &order()).unwrap_err();
    assert_eq!(error.attribute(), Some("source"));
    let keyless = OrderPlaced { order_id: String::new(), total_cents: 0 };
    let error = Envelope::from_event("/orders", &keyless).unwrap_err();
    assert_eq!(error.attribute(), Some("partitionkey"));
}

#[test]
fn decode_data_rejects_other_versions_and_types() {
    let envelope = Envelope::from_event("/orders", &order()).unwrap();
    match envelope.decode_data::<OrderPlacedV1>().unwrap_err() {
        EnvelopeError::TypeMismatch { expected, found } => {
            assert_eq!(expected, "integration.orders.order_placed.v1");
            assert_eq!(found, "integration.orders.order_placed.v2");
        }
        other => panic!("unexpected error {other}"),
    }
    let error = envelope.decode_data::<PaymentFailed>().unwrap_err();
    assert!(matches!(error, EnvelopeError::TypeMismatch { .. }), "{error}");
}

#[test]
fn decode_data_reports_bad_payloads_and_missing_data() {
    let mut envelope = Envelope::from_event("/orders", &order()).unwrap();
    envelope.data = Some(Data::Binary(b"{\"order_id\":1}".to_vec()));
    let error = envelope.decode_data::<OrderPlaced>().unwrap_err();
    assert!(
        matches!(&error, EnvelopeError::Data { event_type, .. } if event_type == "orders.order_placed"),
        "{error}"
    );
    envelope.data = None;
    let error = envelope.decode_data::<OrderPlaced>().unwrap_err();
    assert_eq!(error.attribute(), Some("data"));
}

#[test]
fn json_schema_lists_the_properties() {
    let schema = serde_json::to_value(OrderPlaced::json_schema()).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    assert!(properties.contains_key("order_id"));
    assert!(properties.contains_key("total_cents"));
}

#[test]
fn partition_of_golden_values() {
    // Pinned so that a change of hash (which would reorder every stream) cannot go unnoticed.
    assert_eq!(partition_of("order-42", 16), 12);
    assert_eq!(partition_of("customer:7f3a", 64), 4);
    // xxh3_64("") is 0x2D06800538D394C2 in the reference test vectors; mod 1000 is 138.
    assert_eq!(partition_of("", 1000), 138);
}

#[test]
fn envelope_partition_uses_the_partition_key() {
    let envelope = Envelope::from_event("/orders", &order()).unwrap();
    assert_eq!(envelope.partition(16), partition_of("order-42", 16));
}

proptest! {
    #[test]
    fn partition_of_is_in_range_and_deterministic(key in ".{0,40}", partitions in 1_u32..=10_000) {
        let partition = partition_of(&key, partitions);
        prop_assert!(partition < partitions);
        prop_assert_eq!(partition, partition_of(&key, partitions));
    }
}
