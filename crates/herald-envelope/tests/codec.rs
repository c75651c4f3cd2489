//! Encoding and decoding of structured-mode JSON: round trips, invalid input, size limits.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::{assert_names, full_envelope, json_data};
use herald_envelope::{Data, Envelope, EnvelopeError, EventId, EventKind, ExtensionValue, Limits};
use proptest::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        Just(EventKind::Domain),
        Just(EventKind::Integration),
        Just(EventKind::Notification),
    ]
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0_i64..4_000_000_000, 0_u32..1_000_000_000)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
}

fn extension_value() -> impl Strategy<Value = ExtensionValue> {
    prop_oneof![
        ".{0,20}".prop_map(ExtensionValue::String),
        any::<bool>().prop_map(ExtensionValue::Boolean),
        any::<i32>().prop_map(ExtensionValue::from),
    ]
}

fn extensions() -> impl Strategy<Value = BTreeMap<String, ExtensionValue>> {
    let name = "[a-z0-9]{1,20}".prop_filter("reserved name", |name| {
        !matches!(
            name.as_str(),
            "id" | "source"
                | "specversion"
                | "type"
                | "time"
                | "datacontenttype"
                | "dataschema"
                | "subject"
                | "data"
                | "eventkind"
                | "schemaversion"
                | "partitionkey"
                | "sequence"
                | "traceparent"
        )
    });
    proptest::collection::btree_map(name, extension_value(), 0..4)
}

fn data() -> impl Strategy<Value = Option<Data>> {
    let json_value = prop_oneof![
        proptest::collection::btree_map("[a-z_]{1,8}", any::<i64>(), 0..4)
            .prop_map(|map| json!(map)),
        proptest::collection::vec(any::<u32>(), 0..5).prop_map(|items| json!(items)),
        ".{0,30}".prop_map(Value::String),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| json!(x)),
        any::<bool>().prop_map(Value::Bool),
    ];
    prop_oneof![
        Just(None),
        json_value.prop_map(|value| Some(json_data(&value.to_string()))),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| Some(Data::Binary(bytes))),
    ]
}

prop_compose! {
    fn envelope()(
        id in any::<u128>(),
        source in prop_oneof!["[a-z][a-z0-9+.-]{0,8}:[A-Za-z0-9/._~-]{1,30}", "/[a-z0-9/]{0,20}"],
        event_type in "[a-z0-9_-]{1,10}(\\.[a-z0-9_-]{1,10}){0,4}",
        time in time(),
        datacontenttype in proptest::option::of("[a-z]{1,10}/[a-z0-9.+-]{1,20}"),
        dataschema in proptest::option::of("https://[a-z]{1,10}\\.example/[a-z0-9/]{0,20}"),
        subject in proptest::option::of(".{1,20}"),
        kind in kind(),
        schema_version in 1_u32..=2_147_483_647,
        partition_key in ".{1,30}",
        sequence in proptest::option::of("[0-9]{1,20}"),
        traceparent in proptest::option::of("00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"),
        extensions in extensions(),
        data in data(),
    ) -> Envelope {
        Envelope {
            id: EventId::from_uuid(Uuid::from_u128(id)),
            source, event_type, time, datacontenttype, dataschema, subject, kind,
            schema_version, partition_key, sequence, traceparent, extensions, data,
        }
    }
}

proptest! {
    #[test]
    fn valid_envelopes_round_trip(envelope in envelope()) {
        let limits = Limits::default();
        let bytes = envelope.encode(&limits).unwrap();
        let decoded = Envelope::from_json(&bytes, &limits).unwrap();
        prop_assert_eq!(decoded, envelope);
    }
}

#[test]
fn encoding_is_a_cloudevents_json_object() {
    let envelope = full_envelope();
    let value: Value = serde_json::from_slice(&envelope.to_json()).unwrap();
    assert_eq!(value["specversion"], "1.0");
    assert_eq!(value["id"], envelope.id.to_string());
    assert_eq!(value["type"], "orders.order_placed");
    assert_eq!(value["time"], "2024-07-03T09:46:40.123456789Z");
    assert_eq!(value["schemaversion"], 2);
    assert_eq!(value["eventkind"], "integration");
    assert_eq!(value["priority"], 5);
    assert_eq!(value["data"]["total_cents"], 1999);
}

#[test]
fn binary_data_is_base64() {
    let mut envelope = full_envelope();
    envelope.data = Some(Data::Binary(b"<stuff></stuff>".to_vec()));
    let value: Value = serde_json::from_slice(&envelope.to_json()).unwrap();
    assert_eq!(value["data_base64"], "PHN0dWZmPjwvc3R1ZmY+");
    assert!(value.get("data").is_none());
}

/// An extension name one character longer than allowed.
const TOO_LONG_NAME: &str = "abcdefghijklmnopqrstu";

/// A mutation that breaks an envelope, and the attribute the error must name.
type EnvelopeCase = (fn(&mut Envelope), &'static str);

/// A mutation that breaks an encoded envelope, and the attribute the error must name.
type JsonCase = (fn(&mut serde_json::Map<String, Value>), &'static str);

/// Asserts that validating and encoding the mutated envelope fail, naming `attribute`.
fn check(mutate: fn(&mut Envelope), attribute: &str) {
    let mut envelope = full_envelope();
    mutate(&mut envelope);
    let error = envelope.validate(&Limits::default()).unwrap_err();
    assert_names(&error, attribute);
    let error = envelope.encode(&Limits::default()).unwrap_err();
    assert_names(&error, attribute);
}

#[test]
fn invalid_envelopes_name_the_attribute() {
    let cases: &[EnvelopeCase] = &[
        (|e| e.source.clear(), "source"),
        (|e| e.source = "has space".into(), "source"),
        (|e| e.event_type.clear(), "type"),
        (|e| e.event_type = "Orders.Placed".into(), "type"),
        (|e| e.event_type = "orders..placed".into(), "type"),
        (|e| e.event_type = "a".repeat(257), "type"),
        (|e| e.datacontenttype = Some(String::new()), "datacontenttype"),
        (|e| e.dataschema = Some(String::new()), "dataschema"),
        (|e| e.dataschema = Some("relative/path".into()), "dataschema"),
        (|e| e.subject = Some(String::new()), "subject"),
        (|e| e.schema_version = 0, "schemaversion"),
        (|e| e.schema_version = u32::MAX, "schemaversion"),
        (|e| e.partition_key.clear(), "partitionkey"),
        (|e| e.sequence = Some(String::new()), "sequence"),
        (|e| e.traceparent = Some("00-abc-def-01".into()), "traceparent"),
        (|e| e.traceparent = Some(String::new()), "traceparent"),
        (|e| insert_extension(e, "Bad_Name", true.into()), "Bad_Name"),
        (|e| insert_extension(e, TOO_LONG_NAME, true.into()), TOO_LONG_NAME),
        (|e| insert_extension(e, "subject", "s".into()), "subject"),
        (|e| insert_extension(e, "partitionkey", "k".into()), "partitionkey"),
        (|e| insert_extension(e, "big", ExtensionValue::Integer(1 << 40)), "big"),
    ];
    for (mutate, attribute) in cases {
        check(*mutate, attribute);
    }
}

fn insert_extension(envelope: &mut Envelope, name: &str, value: ExtensionValue) {
    envelope.extensions.insert(name.to_owned(), value);
}

/// Asserts that decoding the mutated JSON encoding of a valid envelope fails, naming
/// `attribute`.
fn check_json(mutate: fn(&mut serde_json::Map<String, Value>), attribute: &str) {
    let mut value: Value = serde_json::from_slice(&full_envelope().to_json()).unwrap();
    mutate(value.as_object_mut().unwrap());
    let bytes = serde_json::to_vec(&value).unwrap();
    let error = Envelope::from_json(&bytes, &Limits::default()).unwrap_err();
    assert_names(&error, attribute);
}

#[test]
fn invalid_json_names_the_attribute() {
    let cases: &[JsonCase] = &[
        (|o| drop(o.remove("specversion")), "specversion"),
        (|o| drop(o.insert("specversion".into(), json!("0.3"))), "specversion"),
        (|o| drop(o.insert("specversion".into(), json!(1.0))), "specversion"),
        (|o| drop(o.remove("id")), "id"),
        (|o| drop(o.insert("id".into(), json!("not-a-uuid"))), "id"),
        (|o| drop(o.insert("id".into(), json!(7))), "id"),
        (|o| drop(o.remove("source")), "source"),
        (|o| drop(o.insert("source".into(), json!(""))), "source"),
        (|o| drop(o.remove("type")), "type"),
        (|o| drop(o.insert("type".into(), json!("bad type"))), "type"),
        (|o| drop(o.remove("time")), "time"),
        (|o| drop(o.insert("time".into(), json!("yesterday"))), "time"),
        (|o| drop(o.insert("time".into(), json!("2024-07-01 12:00"))), "time"),
        (|o| drop(o.insert("datacontenttype".into(), json!(""))), "datacontenttype"),
        (|o| drop(o.insert("dataschema".into(), json!(false))), "dataschema"),
        (|o| drop(o.insert("subject".into(), json!(["a"]))), "subject"),
        (|o| drop(o.remove("eventkind")), "eventkind"),
        (|o| drop(o.insert("eventkind".into(), json!("event"))), "eventkind"),
        (|o| drop(o.remove("schemaversion")), "schemaversion"),
        (|o| drop(o.insert("schemaversion".into(), json!(0))), "schemaversion"),
        (|o| drop(o.insert("schemaversion".into(), json!(-1))), "schemaversion"),
        (|o| drop(o.insert("schemaversion".into(), json!("two"))), "schemaversion"),
        (|o| drop(o.insert("schemaversion".into(), json!(1.5))), "schemaversion"),
        (|o| drop(o.remove("partitionkey")), "partitionkey"),
        (|o| drop(o.insert("partitionkey".into(), json!(""))), "partitionkey"),
        (|o| drop(o.insert("sequence".into(), json!(""))), "sequence"),
        (|o| drop(o.insert("traceparent".into(), json!("00-1-2-3"))), "traceparent"),
        (|o| drop(o.insert("decimal".into(), json!(42.42))), "decimal"),
        (|o| drop(o.insert("huge".into(), json!(1_u64 << 40))), "huge"),
        (|o| drop(o.insert("nested".into(), json!({"a": 1}))), "nested"),
        (|o| drop(o.insert("list".into(), json!([1]))), "list"),
        (|o| drop(o.insert("Upper".into(), json!("x"))), "Upper"),
        (|o| drop(o.insert("data_base64".into(), json!("!!!"))), "data_base64"),
    ];
    for (mutate, attribute) in cases {
        check_json(*mutate, attribute);
    }
}

#[test]
fn null_optional_members_are_absent() {
    let mut value: Value = serde_json::from_slice(&full_envelope().to_json()).unwrap();
    for name in ["subject", "dataschema", "sequence", "traceparent", "tenant", "data"] {
        value[name] = Value::Null;
    }
    let bytes = serde_json::to_vec(&value).unwrap();
    let envelope = Envelope::from_json(&bytes, &Limits::default()).unwrap();
    assert_eq!(envelope.subject, None);
    assert_eq!(envelope.traceparent, None);
    assert!(!envelope.extensions.contains_key("tenant"));
    assert_eq!(envelope.data, None);
}

#[test]
fn non_objects_are_malformed() {
    for input in ["", "[]", "\"event\"", "{", "{\"id\":}", "null"] {
        let error = Envelope::from_json(input.as_bytes(), &Limits::default()).unwrap_err();
        assert!(matches!(error, EnvelopeError::Malformed { .. }), "{input}: {error}");
    }
}

#[test]
fn size_limit_is_inclusive_on_encode_and_decode() {
    let envelope = full_envelope();
    let size = envelope.to_json().len();
    let exact = Limits { max_event_bytes: size };
    let bytes = envelope.encode(&exact).unwrap();
    envelope.validate(&exact).unwrap();
    assert_eq!(Envelope::from_json(&bytes, &exact).unwrap(), envelope);

    let below = Limits { max_event_bytes: size - 1 };
    let too_large = |error| matches!(error, EnvelopeError::TooLarge { size: s, limit } if s == size && limit == size - 1);
    assert!(too_large(envelope.encode(&below).unwrap_err()));
    assert!(too_large(envelope.validate(&below).unwrap_err()));
    assert!(too_large(Envelope::from_json(&bytes, &below).unwrap_err()));
}

#[test]
fn oversize_events_fail_with_the_default_limit() {
    let mut envelope = full_envelope();
    envelope.data = Some(Data::Binary(vec![0; 800_000]));
    let error = envelope.encode(&Limits::default()).unwrap_err();
    assert!(matches!(error, EnvelopeError::TooLarge { limit: 1_048_576, .. }), "{error}");
    assert!(error.to_string().contains("larger than the limit of 1048576 bytes"));
}

#[test]
fn size_is_checked_before_parsing() {
    let garbage = vec![b'x'; 2_000_000];
    let error = Envelope::from_json(&garbage, &Limits::default()).unwrap_err();
    assert!(matches!(error, EnvelopeError::TooLarge { size: 2_000_000, .. }), "{error}");
}

#[test]
fn builder_helpers_set_attributes() {
    let mut envelope = full_envelope();
    envelope.subject = None;
    envelope.sequence = None;
    envelope.traceparent = None;
    envelope.dataschema = None;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let envelope = envelope
        .with_subject("s")
        .with_sequence("7")
        .with_traceparent(traceparent)
        .with_dataschema("urn:schema");
    assert_eq!(envelope.subject.as_deref(), Some("s"));
    assert_eq!(envelope.sequence.as_deref(), Some("7"));
    assert_eq!(envelope.traceparent.as_deref(), Some(traceparent));
    assert_eq!(envelope.dataschema.as_deref(), Some("urn:schema"));
}

mod binary_mode {
    use herald_envelope::{Envelope, ExtensionValue, Limits};

    fn sample() -> Envelope {
        let json = br#"{"specversion":"1.0","id":"01890a5d-ac96-774b-bcce-b302099a8057","source":"/orders","type":"orders.order_placed","time":"2026-11-21T10:00:00.5Z","datacontenttype":"application/json","eventkind":"integration","schemaversion":2,"partitionkey":"order-7","sequence":"00000042","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","region":"eu","priority":3,"urgent":true,"data":{"order":7,"total":"12.50"}}"#;
        Envelope::from_json(json, &Limits::default()).expect("sample decodes")
    }

    fn round_trip(envelope: &Envelope) -> Envelope {
        let mut attributes: Vec<(String, ExtensionValue)> = envelope
            .binary_attributes()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        if let Some(content_type) = &envelope.datacontenttype {
            attributes.push(("datacontenttype".into(), content_type.as_str().into()));
        }
        Envelope::from_binary(attributes, &envelope.binary_body(), &Limits::default())
            .expect("binary mode decodes")
    }

    #[test]
    fn binary_mode_round_trips_every_attribute_and_typed_extension() {
        let envelope = sample();
        assert_eq!(round_trip(&envelope), envelope);
        let names: Vec<&str> = envelope.binary_attributes().iter().map(|(n, _)| *n).collect();
        assert!(!names.contains(&"datacontenttype"), "the content type travels apart");
        assert_eq!(envelope.binary_body(), br#"{"order":7,"total":"12.50"}"#);
    }

    #[test]
    fn binary_mode_keeps_non_json_data_as_bytes() {
        let mut envelope = sample();
        envelope.datacontenttype = Some("application/octet-stream".into());
        envelope.data = Some(herald_envelope::Data::Binary(vec![0, 159, 146, 150]));
        assert_eq!(round_trip(&envelope), envelope);
    }

    #[test]
    fn binary_mode_names_a_bad_attribute_and_a_missing_one() {
        let attributes = vec![
            ("specversion".to_owned(), ExtensionValue::from("1.0")),
            ("id".to_owned(), ExtensionValue::from("not-a-uuid")),
        ];
        let error = Envelope::from_binary(attributes, b"", &Limits::default()).unwrap_err();
        assert_eq!(error.attribute(), Some("id"), "{error}");
        let mut attributes: Vec<(String, ExtensionValue)> = sample()
            .binary_attributes()
            .into_iter()
            .filter(|(name, _)| *name != "source")
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        attributes.push(("datacontenttype".into(), "application/json".into()));
        let error = Envelope::from_binary(attributes, b"{}", &Limits::default()).unwrap_err();
        assert_eq!(error.attribute(), Some("source"), "{error}");
    }

    #[test]
    fn binary_mode_refuses_a_json_body_that_is_not_json() {
        let mut attributes: Vec<(String, ExtensionValue)> = sample()
            .binary_attributes()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        attributes.push(("datacontenttype".into(), "application/json".into()));
        let error = Envelope::from_binary(attributes, b"{not json", &Limits::default());
        assert!(error.is_err());
    }
}
