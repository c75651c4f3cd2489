//! The `registry_schema` harness: the input is a schema submitted to the registry, its
//! type on the first line (`JSON`, `AVRO` or anything else) and its text after. The
//! registry parses it (`herald_registry::canonical_schema`; the `schema_compat` target
//! covers its compatibility check), and the ingest API compiles it (`herald_schema::CompiledSchema::compile`) and validates
//! payloads with it.
//!
//! Shared by the fuzz target and `herald-schema`'s corpus replay (`tests/fuzz_corpora.rs`).

use herald_registry::{RegisteredSchema, RegistryError, canonical_schema};
use herald_schema::CompiledSchema;
use serde_json::json;

/// Registers and compiles the schema, then validates a few payloads with it. The error
/// says who refused the schema and why.
pub(crate) fn run(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let (schema_type, schema) = text.split_once('\n').unwrap_or((&text, ""));
    let canonical = canonical_schema(schema_type, schema)
        .map_err(|error: RegistryError| format!("registry: {error}"))?;
    if schema_type != "JSON" {
        return Ok(());
    }
    let registered = RegisteredSchema {
        subject: "fuzz-value".to_owned(),
        version: 1,
        id: 1,
        schema_type: schema_type.to_owned(),
        schema: canonical,
    };
    let compiled =
        CompiledSchema::compile(&registered, "http://registry.invalid/schemas/ids/1".into())
            .map_err(|reason| format!("compile: {reason}"))?;
    for payload in [json!(null), json!({"id": 7, "name": "x", "items": [1, "a", {"b": []}]})] {
        let _ = compiled.validate("com.example.fuzz", 1, &payload);
    }
    Ok(())
}
