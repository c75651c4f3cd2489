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
    compatibility_settings
);
