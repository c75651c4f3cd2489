//! CloudEvents conformance against the third-party files of the CloudEvents SDKs, read
//! from `/work/shared/conformance/cloudevents` (not copied into this repository), with
//! `cloudevents-sdk` as the reference implementation.
//!
//! Herald is stricter than CloudEvents in three ways that the tests account for:
//! the `id` must be a UUID, `time` is required, and the `eventkind`, `schemaversion`
//! and `partitionkey` extensions are required. The conformance files use `"id": "1"` and
//! some lack `time`, so the Herald-compatible variant of each file replaces the id with a
//! UUID and adds a time when there is none, besides adding the three extensions.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cloudevents::event::{AttributeValue, ExtensionValue as SdkExtensionValue};
use common::{assert_names, full_envelope};
use herald_envelope::{Data, Envelope, EnvelopeError, ExtensionValue, Limits};
use serde_json::{Map, Value, json};

/// The valid JSON-format files.
const VALID_FILES: [&str; 5] = [
    "min.json",
    "min_subject_null.json",
    "json_data_with_ext.json",
    "json_data_with_fractional_time.json",
    "base64_xml_data.json",
];

/// The UUID that replaces the conformance files' `"id": "1"`.
const HERALD_ID: &str = "0190f6a4-7d3e-7cc0-8a4e-7b0a1c2d3e4f";
/// The time added to conformance files that have none.
const HERALD_TIME: &str = "2024-07-01T12:00:00Z";

/// Returns the conformance folder, or `None` (after a note) when it is missing outside CI.
fn conformance_dir() -> Option<PathBuf> {
    // Cargo sets the manifest directory at run time too; it wins over the one compiled in,
    // so a test binary built in another checkout still looks beside this one.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let dir = Path::new(&manifest_dir).join("../../../shared/conformance/cloudevents");
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CloudEvents conformance files are missing at {}",
        dir.display()
    );
    eprintln!("note: skipping, no CloudEvents conformance files at {}", dir.display());
    None
}

/// Reads a conformance file as a JSON object.
fn read_object(dir: &Path, file: &str) -> Map<String, Value> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(object) => object,
        other => panic!("{file} is not a JSON object: {other}"),
    }
}

/// Adds the Herald-required extensions to a CloudEvents JSON object.
fn add_herald_extensions(object: &mut Map<String, Value>) {
    object.insert("eventkind".into(), json!("integration"));
    object.insert("schemaversion".into(), json!(1));
    object.insert("partitionkey".into(), json!("key-1"));
}

/// Makes a CloudEvents JSON object acceptable to Herald: UUID id, a time, the extensions.
fn herald_variant(mut object: Map<String, Value>) -> Map<String, Value> {
    object.insert("id".into(), json!(HERALD_ID));
    if object.get("time").is_none_or(Value::is_null) {
        object.insert("time".into(), json!(HERALD_TIME));
    }
    add_herald_extensions(&mut object);
    object
}

fn to_bytes(object: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(object).unwrap()
}

fn sdk_parse(bytes: &[u8]) -> cloudevents::Event {
    serde_json::from_slice(bytes).unwrap()
}

/// An attribute value in a form both implementations can be compared in.
#[derive(Debug, PartialEq)]
enum Attr {
    Text(String),
    Bool(bool),
    Int(i64),
    Time(DateTime<Utc>),
}

/// The payload in a form both implementations can be compared in.
#[derive(Debug, PartialEq)]
enum Payload {
    Json(Value),
    Bytes(Vec<u8>),
}

/// Every attribute (without `specversion`) and the payload of an event.
type View = (BTreeMap<String, Attr>, Option<Payload>);

fn sdk_view(event: &cloudevents::Event) -> View {
    let attributes = event
        .iter()
        .filter(|(name, _)| *name != "specversion")
        .map(|(name, value)| (name.to_owned(), sdk_attr(&value)))
        .collect();
    let payload = event.data().map(|data| match data {
        cloudevents::Data::Json(value) => Payload::Json(value.clone()),
        cloudevents::Data::String(text) => Payload::Json(Value::String(text.clone())),
        cloudevents::Data::Binary(bytes) => Payload::Bytes(bytes.clone()),
    });
    (attributes, payload)
}

fn sdk_attr(value: &AttributeValue<'_>) -> Attr {
    match value {
        AttributeValue::Boolean(flag) => Attr::Bool(**flag),
        AttributeValue::Integer(number) => Attr::Int(**number),
        AttributeValue::Time(time) => Attr::Time(**time),
        other => Attr::Text(other.to_string()),
    }
}

fn our_view(envelope: &Envelope) -> View {
    let mut attributes = BTreeMap::new();
    let mut text = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            attributes.insert(name.to_owned(), Attr::Text(value.to_owned()));
        }
    };
    text("id", Some(&envelope.id.to_string()));
    text("source", Some(&envelope.source));
    text("type", Some(&envelope.event_type));
    text("datacontenttype", envelope.datacontenttype.as_deref());
    text("dataschema", envelope.dataschema.as_deref());
    text("subject", envelope.subject.as_deref());
    text("eventkind", Some(envelope.kind.as_str()));
    text("partitionkey", Some(&envelope.partition_key));
    text("sequence", envelope.sequence.as_deref());
    text("traceparent", envelope.traceparent.as_deref());
    attributes.insert("time".into(), Attr::Time(envelope.time));
    attributes.insert("schemaversion".into(), Attr::Int(i64::from(envelope.schema_version)));
    for (name, value) in &envelope.extensions {
        let value = match value {
            ExtensionValue::String(text) => Attr::Text(text.clone()),
            ExtensionValue::Boolean(flag) => Attr::Bool(*flag),
            ExtensionValue::Integer(number) => Attr::Int(*number),
        };
        attributes.insert(name.clone(), value);
    }
    let payload = envelope.data.as_ref().map(|data| match data {
        Data::Json(raw) => Payload::Json(serde_json::from_str(raw.get()).unwrap()),
        Data::Binary(bytes) => Payload::Bytes(bytes.clone()),
    });
    (attributes, payload)
}

/// The SDK's view of the original file, with what the Herald variant changed applied.
fn expected_view(original: &cloudevents::Event) -> View {
    let (mut attributes, payload) = sdk_view(original);
    attributes.insert("id".into(), Attr::Text(HERALD_ID.into()));
    attributes.entry("time".into()).or_insert_with(|| Attr::Time(HERALD_TIME.parse().unwrap()));
    attributes.insert("eventkind".into(), Attr::Text("integration".into()));
    attributes.insert("schemaversion".into(), Attr::Int(1));
    attributes.insert("partitionkey".into(), Attr::Text("key-1".into()));
    (attributes, payload)
}

#[test]
fn valid_files_agree_with_the_sdk() {
    let Some(dir) = conformance_dir() else { return };
    for file in VALID_FILES {
        let original = read_object(&dir, file);
        let sdk_original = sdk_parse(&to_bytes(&original));
        let herald_bytes = to_bytes(&herald_variant(original));
        let ours = Envelope::from_json(&herald_bytes, &Limits::default())
            .unwrap_or_else(|error| panic!("{file}: {error}"));
        assert_eq!(our_view(&ours), expected_view(&sdk_original), "{file}");
        assert_eq!(our_view(&ours), sdk_view(&sdk_parse(&herald_bytes)), "{file}");
    }
}

#[test]
fn files_without_herald_extensions_are_rejected() {
    let Some(dir) = conformance_dir() else { return };
    for file in VALID_FILES {
        let mut object = herald_variant(read_object(&dir, file));
        for name in ["eventkind", "schemaversion", "partitionkey"] {
            object.remove(name);
        }
        let error = Envelope::from_json(&to_bytes(&object), &Limits::default()).unwrap_err();
        let attribute = match &error {
            EnvelopeError::MissingAttribute { attribute } => attribute.as_str(),
            other => panic!("{file}: expected a missing attribute, got {other}"),
        };
        assert!(
            ["eventkind", "schemaversion", "partitionkey"].contains(&attribute),
            "{file}: {error}"
        );
    }
}

#[test]
fn non_uuid_ids_are_rejected() {
    let Some(dir) = conformance_dir() else { return };
    let mut object = read_object(&dir, "json_data_with_ext.json");
    add_herald_extensions(&mut object);
    let error = Envelope::from_json(&to_bytes(&object), &Limits::default()).unwrap_err();
    assert_names(&error, "id");
}

#[test]
fn decimal_extensions_are_rejected() {
    let Some(dir) = conformance_dir() else { return };
    let object = herald_variant(read_object(&dir, "fail_numeric_decimal.json"));
    let error = Envelope::from_json(&to_bytes(&object), &Limits::default()).unwrap_err();
    assert_names(&error, "decimal");
}

#[test]
fn our_encoding_parses_in_the_sdk() {
    let envelope = full_envelope();
    let sdk = sdk_parse(&envelope.to_json());
    assert_eq!(sdk_view(&sdk), our_view(&envelope));
}

#[test]
fn our_binary_encoding_parses_in_the_sdk() {
    let mut envelope = full_envelope();
    envelope.datacontenttype = Some("application/octet-stream".into());
    envelope.data = Some(Data::Binary(vec![0, 1, 2, 254, 255]));
    let sdk = sdk_parse(&envelope.to_json());
    assert_eq!(sdk_view(&sdk), our_view(&envelope));
    assert_eq!(sdk.extension("schemaversion"), Some(&SdkExtensionValue::Integer(2)));
}
