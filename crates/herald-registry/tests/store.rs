//! The registry's storage on PostgreSQL and SQLite: ids, versions, idempotency, lookups,
//! deletes, settings, and every not-found and invalid case with Confluent's codes.

use herald_registry::{RegistryError, SchemaStore, VersionRef};
use herald_testkit::TestDb;

const V1: &str = r#"{"type":"object","properties":{"id":{"type":"integer"}}}"#;
const V1_REORDERED: &str = r#"{ "properties": {"id": {"type": "integer"}}, "type": "object" }"#;
const V2: &str =
    r#"{"type":"object","properties":{"id":{"type":"integer"},"note":{"type":"string"}}}"#;

async fn registration_is_idempotent_and_ids_are_global(store: &SchemaStore) {
    let first = store.register("orders-value", "JSON", V1).await.expect("register");
    assert_eq!(first.version, 1);
    let again = store.register("orders-value", "JSON", V1_REORDERED).await.expect("again");
    assert_eq!((again.id, again.version), (first.id, 1), "same schema, same id and version");
    let second = store.register("orders-value", "JSON", V2).await.expect("v2");
    assert_eq!(second.version, 2);
    assert_ne!(second.id, first.id);
    let elsewhere = store.register("payments-value", "JSON", V1).await.expect("other subject");
    assert_eq!((elsewhere.id, elsewhere.version), (first.id, 1), "one id per schema");
    assert_eq!(store.subjects().await.expect("subjects"), vec!["orders-value", "payments-value"]);
}

async fn versions_lookups_and_ids_are_found(store: &SchemaStore) {
    let v1 = store.register("s", "JSON", V1).await.expect("v1");
    let v2 = store.register("s", "JSON", V2).await.expect("v2");
    assert_eq!(store.version("s", VersionRef::Latest).await.expect("latest"), v2);
    assert_eq!(store.version("s", VersionRef::Number(1)).await.expect("v1"), v1);
    assert_eq!(store.lookup("s", "JSON", V1_REORDERED).await.expect("lookup").version, 1);
    let (schema_type, text) = store.schema_by_id(v2.id).await.expect("by id");
    assert_eq!(schema_type, "JSON");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).expect("json"),
        serde_json::from_str::<serde_json::Value>(V2).expect("json")
    );
    assert_eq!(store.history("s").await.expect("history").len(), 2);
}

async fn unknown_and_invalid_input_gets_confluents_codes(store: &SchemaStore) {
    store.register("s", "JSON", V1).await.expect("v1");
    let code = |error: RegistryError| error.error_code();
    assert_eq!(code(store.history("nope").await.unwrap_err()), 40401);
    assert_eq!(code(store.version("s", VersionRef::Number(7)).await.unwrap_err()), 40402);
    assert_eq!(code(store.schema_by_id(987_654).await.unwrap_err()), 40403);
    assert_eq!(code(store.lookup("s", "JSON", V2).await.unwrap_err()), 40403);
    assert_eq!(code(store.register("s", "JSON", "{not json").await.unwrap_err()), 42201);
    assert_eq!(code(store.register("s", "JSON", "[1, 2]").await.unwrap_err()), 42201);
    assert_eq!(code(store.register("s", "PROTOBUF", V1).await.unwrap_err()), 42201);
    assert_eq!(code("0".parse::<VersionRef>().unwrap_err()), 42202);
    assert_eq!(code("one".parse::<VersionRef>().unwrap_err()), 42202);
    assert_eq!(code(store.set_compatibility(None, "SOMETIMES").await.unwrap_err()), 42203);
    assert_eq!(store.history("s").await.expect("history").len(), 1, "nothing changed");
}

async fn soft_then_hard_delete(store: &SchemaStore) {
    store.register("s", "JSON", V1).await.expect("v1");
    store.register("s", "JSON", V2).await.expect("v2");
    assert_eq!(store.delete_subject("s", false).await.expect("soft"), vec![1, 2]);
    assert_eq!(store.history("s").await.unwrap_err().error_code(), 40401, "hidden");
    assert_eq!(store.delete_subject("s", true).await.expect("hard"), vec![1, 2]);
    assert_eq!(store.delete_subject("s", true).await.unwrap_err().error_code(), 40401);
    let again = store.register("s", "JSON", V2).await.expect("register after delete");
    assert_eq!(again.version, 1, "a subject deleted for good starts again at 1");
}

async fn compatibility_settings(store: &SchemaStore) {
    assert_eq!(store.compatibility(None).await.expect("global"), None);
    store.set_compatibility(None, "FULL").await.expect("set global");
    store.set_compatibility(Some("s"), "NONE").await.expect("set subject");
    store.set_compatibility(Some("s"), "BACKWARD_TRANSITIVE").await.expect("change it");
    assert_eq!(store.compatibility(None).await.expect("global").as_deref(), Some("FULL"));
    assert_eq!(
        store.compatibility(Some("s")).await.expect("s").as_deref(),
        Some("BACKWARD_TRANSITIVE")
    );
    assert_eq!(store.compatibility(Some("t")).await.expect("t"), None);
}

/// An Avro record `User` (or `name`) with the given fields, as JSON text.
fn record(name: &str, fields: &str) -> String {
    format!(r#"{{"type":"record","name":"{name}","namespace":"shop","fields":[{fields}]}}"#)
}

const ID: &str = r#"{"name":"id","type":"int"}"#;
const ID_LONG: &str = r#"{"name":"id","type":"long"}"#;
const NOTE_DEFAULT: &str = r#"{"name":"note","type":"string","default":""}"#;
const NOTE: &str = r#"{"name":"note","type":"string"}"#;
const NOTE_BYTES: &str = r#"{"name":"note","type":"bytes"}"#;
const ABC: &str = r#"{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["A","B","C"]}}"#;
const AB: &str = r#"{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["A","B"]}}"#;
const NARROW: &str = r#"{"name":"ref","type":["null","string"],"default":null}"#;
const WIDE: &str = r#"{"name":"ref","type":["null","string","long"],"default":null}"#;

/// Whether `new` may follow `old` at `level`, and the messages when not.
async fn verdict(store: &SchemaStore, level: &str, old: &str, new: &str) -> Vec<String> {
    store.delete_subject("m", false).await.ok();
    store.delete_subject("m", true).await.ok();
    store.register("m", "AVRO", old).await.expect("register the old schema");
    store.set_compatibility(Some("m"), level).await.expect("level");
    store.incompatibilities("m", "AVRO", new, VersionRef::Latest).await.expect("check")
}

/// Avro's resolution rules at every level: (level, old, new, compatible, error type).
async fn avro_compatibility_follows_avro_resolution(store: &SchemaStore) {
    let user = |fields: &str| record("User", fields);
    let with = |a: &str, b: &str| user(&format!("{a},{b}"));
    let cases: Vec<(&str, String, String, Option<&str>)> = vec![
        ("BACKWARD", user(ID), with(ID, NOTE_DEFAULT), None),
        ("FORWARD", user(ID), with(ID, NOTE_DEFAULT), None),
        ("FULL", user(ID), with(ID, NOTE_DEFAULT), None),
        ("BACKWARD", user(ID), with(ID, NOTE), Some("READER_FIELD_MISSING_DEFAULT_VALUE")),
        ("FORWARD", user(ID), with(ID, NOTE), None),
        ("FULL", user(ID), with(ID, NOTE), Some("READER_FIELD_MISSING_DEFAULT_VALUE")),
        ("BACKWARD", with(ID, NOTE), user(ID), None),
        ("FORWARD", with(ID, NOTE), user(ID), Some("READER_FIELD_MISSING_DEFAULT_VALUE")),
        ("FORWARD", with(ID, NOTE_DEFAULT), user(ID), None),
        ("BACKWARD", user(ID), user(ID_LONG), None),
        ("FORWARD", user(ID), user(ID_LONG), Some("TYPE_MISMATCH")),
        ("FULL", user(ID), user(ID_LONG), Some("TYPE_MISMATCH")),
        ("BACKWARD", user(ID_LONG), user(ID), Some("TYPE_MISMATCH")),
        ("FULL", with(ID, NOTE), with(ID, NOTE_BYTES), None),
        (
            "BACKWARD",
            with(ID, NOTE),
            with(ID, r#"{"name":"note","type":"int"}"#),
            Some("TYPE_MISMATCH"),
        ),
        ("BACKWARD", with(ID, AB), with(ID, ABC), None),
        ("FORWARD", with(ID, AB), with(ID, ABC), Some("MISSING_ENUM_SYMBOLS")),
        ("BACKWARD", with(ID, ABC), with(ID, AB), Some("MISSING_ENUM_SYMBOLS")),
        ("FORWARD", with(ID, ABC), with(ID, AB), None),
        ("BACKWARD", with(ID, NARROW), with(ID, WIDE), None),
        ("FORWARD", with(ID, NARROW), with(ID, WIDE), Some("MISSING_UNION_BRANCH")),
        ("BACKWARD", with(ID, WIDE), with(ID, NARROW), Some("MISSING_UNION_BRANCH")),
        ("NONE", user(ID_LONG), user(r#"{"name":"id","type":"string"}"#), None),
        ("BACKWARD", user(ID), record("Customer", ID), Some("NAME_MISMATCH")),
        (
            "BACKWARD",
            user(ID),
            format!(
                r#"{{"type":"record","name":"Customer","namespace":"shop","aliases":["User"],"fields":[{ID}]}}"#
            ),
            None,
        ),
        (
            "BACKWARD",
            user(ID),
            r#"{"type":"record","name":"Customer","namespace":"shop","aliases":["User"],"fields":[{"name":"key","aliases":["id"],"type":"long"}]}"#.to_owned(),
            None,
        ),
    ];
    for (level, old, new, expected) in cases {
        let messages = verdict(store, level, &old, &new).await;
        match expected {
            None => assert!(messages.is_empty(), "{level}: {old} -> {new}: {messages:?}"),
            Some(kind) => assert!(
                messages.len() == 1 && messages[0].contains(&format!("errorType:{kind}")),
                "{level}: {old} -> {new} should fail with {kind}: {messages:?}"
            ),
        }
    }
}

/// A nested named type renamed with an alias still resolves, also where it is referenced
/// by name a second time.
async fn avro_aliases_of_nested_named_types_apply(store: &SchemaStore) {
    let old = r#"{"type":"record","name":"Order","fields":[
        {"name":"from","type":{"type":"record","name":"Addr","fields":[{"name":"city","type":"string"}]}},
        {"name":"to","type":"Addr"}]}"#;
    let new = r#"{"type":"record","name":"Order","fields":[
        {"name":"from","type":{"type":"record","name":"Address","aliases":["Addr"],"fields":[{"name":"city","type":"string"}]}},
        {"name":"to","type":"Address"}]}"#;
    assert_eq!(verdict(store, "BACKWARD", old, new).await, Vec::<String>::new());
    let messages = verdict(store, "FORWARD", old, new).await;
    assert!(messages.len() == 1 && messages[0].contains("NAME_MISMATCH"), "{messages:?}");
}

/// Transitive levels check every version; the others only the latest.
async fn avro_transitive_levels_check_every_version(store: &SchemaStore) {
    let v1 = record("User", ID);
    let v2 = record("User", &format!("{ID},{NOTE_DEFAULT}"));
    let v3 = record("User", &format!("{ID},{NOTE}"));
    store.set_compatibility(Some("t"), "BACKWARD").await.expect("level");
    store.register_checked("t", "AVRO", &v1).await.expect("v1");
    store.register_checked("t", "AVRO", &v2).await.expect("v2");
    let latest = VersionRef::Latest;
    assert!(store.incompatibilities("t", "AVRO", &v3, latest).await.expect("check").is_empty());
    store.set_compatibility(Some("t"), "BACKWARD_TRANSITIVE").await.expect("level");
    let messages = store.incompatibilities("t", "AVRO", &v3, latest).await.expect("check");
    assert!(
        messages.len() == 1
            && messages[0].contains("version:1")
            && messages[0].contains("'note' is not in the writer and has no default value"),
        "{messages:?}"
    );
    let error = store.register_checked("t", "AVRO", &v3).await.unwrap_err();
    assert_eq!(error.error_code(), 409, "{error}");
    assert!(error.to_string().contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{error}");
    let one = store.incompatibilities("t", "AVRO", &v3, VersionRef::Number(2)).await;
    assert!(one.expect("against version 2 only").is_empty());
    assert_eq!(store.history("t").await.expect("history").len(), 2, "v3 was refused");
}

/// Invalid Avro is refused with 42201 and what is wrong; the same schema written another
/// way (whitespace, order of attributes) is the same schema, with the same id.
async fn avro_schemas_are_parsed_and_canonical(store: &SchemaStore) {
    for invalid in [
        r#"{"type":"record","name":"User"}"#,
        r#"{"type":"record","name":"User","fields":[{"name":"id","type":"integer"}]}"#,
        r#"{"type":"enum","name":"Tier","symbols":["A","A"]}"#,
        r#""nothing""#,
    ] {
        let error = store.register("a", "AVRO", invalid).await.unwrap_err();
        assert_eq!(error.error_code(), 42201, "{invalid}: {error}");
        assert!(error.to_string().contains("not a valid Avro schema"), "{error}");
    }
    let first = store.register("a", "AVRO", &record("User", ID)).await.expect("register");
    let spaced = r#"{ "fields": [ { "type": "int", "name": "id" } ],
        "namespace": "shop", "name": "User", "type": "record" }"#;
    let again = store.register_checked("a", "AVRO", spaced).await.expect("again");
    assert_eq!((again.id, again.version), (first.id, 1));
    assert_eq!(store.lookup("a", "AVRO", spaced).await.expect("lookup").id, first.id);
    let elsewhere = store.register_checked("b", "AVRO", spaced).await.expect("other subject");
    assert_eq!(elsewhere.id, first.id, "one id per canonical schema");
}

macro_rules! on_both_databases {
    ($($case:ident),+) => {
        mod postgres { use super::*; $( #[tokio::test] async fn $case() { let db = TestDb::postgres("registry").await; super::$case(&SchemaStore::new(db.db.clone())).await; db.cleanup().await; } )+ }
        mod sqlite { use super::*; $( #[tokio::test] async fn $case() { let db = TestDb::sqlite("registry").await; super::$case(&SchemaStore::new(db.db.clone())).await; db.cleanup().await; } )+ }
    };
}

on_both_databases!(
    registration_is_idempotent_and_ids_are_global,
    versions_lookups_and_ids_are_found,
    unknown_and_invalid_input_gets_confluents_codes,
    soft_then_hard_delete,
    compatibility_settings,
    avro_compatibility_follows_avro_resolution,
    avro_aliases_of_nested_named_types_apply,
    avro_transitive_levels_check_every_version,
    avro_schemas_are_parsed_and_canonical
);
