//! The `schema_compat` harness: the input is two JSON Schemas one after the other (the
//! writer, then the reader; one alone is compared with itself), compared by
//! `herald_schema_compat::differences` and checked by `check` at every level, as the
//! registry checks a new version against the previous one.
//!
//! Shared by the fuzz target and `herald-schema-compat`'s corpus replay
//! (`tests/fuzz_corpora.rs`).

use herald_schema_compat::{
    CompatibilityLevel, Incompatibility, SchemaCompatError, check, differences,
};
use serde_json::Value;

/// Compares the two schemas; input that is not JSON has nothing to compare.
pub(crate) fn run(data: &[u8]) -> Result<Vec<Incompatibility>, SchemaCompatError> {
    let mut documents = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let Some(Ok(original)) = documents.next() else {
        return Ok(Vec::new());
    };
    let update = match documents.next() {
        Some(Ok(update)) => update,
        _ => original.clone(),
    };
    differences(&original, &update)?;
    let mut found = Vec::new();
    for level in CompatibilityLevel::ALL {
        found.extend(check(&update, std::slice::from_ref(&original), level)?);
    }
    Ok(found)
}
