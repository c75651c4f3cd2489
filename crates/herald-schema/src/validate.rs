//! Compiled schemas and what a payload that breaks one is told.

use std::fmt;

use herald_registry::RegisteredSchema;

/// The most violations one error reports; the rest are counted.
const MOST_REPORTED: usize = 10;

/// A registered JSON Schema, compiled for validation.
pub struct CompiledSchema {
    /// The subject it is registered under.
    pub subject: String,
    /// Its version within the subject.
    pub version: i32,
    /// Its global id in the registry.
    pub id: i64,
    /// Its URI in the registry, for the envelope's `dataschema`.
    pub uri: String,
    validator: jsonschema::Validator,
}

impl fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("subject", &self.subject)
            .field("version", &self.version)
            .field("id", &self.id)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// One way a payload breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadViolation {
    /// The field, as a JSON pointer into the payload (`""` is the payload itself).
    pub field: String,
    /// The JSON Schema keyword the field breaks (`required`, `minimum`, `type`, …).
    pub rule: String,
    /// What is wrong, in a sentence that never quotes the field's value.
    pub message: String,
}

impl fmt::Display for PayloadViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "the payload breaks rule `{}`: {}", self.rule, self.message)
        } else {
            write!(f, "field `{}` breaks rule `{}`: {}", self.field, self.rule, self.message)
        }
    }
}

/// A payload that does not match its registered schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the payload of `{event_type}` version {schema_version} does not match its schema (subject `{subject}` version {version}): {}{}",
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
    if *more > 0 { format!("; and {more} more") } else { String::new() }
)]
pub struct InvalidPayload {
    /// The event's type.
    pub event_type: String,
    /// The event's schema version (`schemaversion`).
    pub schema_version: u32,
    /// The subject of the schema.
    pub subject: String,
    /// The registry version of the schema.
    pub version: i32,
    /// The first violations found.
    pub violations: Vec<PayloadViolation>,
    /// How many more were found and not listed.
    pub more: usize,
}

impl CompiledSchema {
    /// Compiles `registered`, published at `uri`; a schema that is not a valid JSON
    /// Schema (or names a remote `$ref`) fails with the reason.
    pub fn compile(registered: &RegisteredSchema, uri: String) -> Result<CompiledSchema, String> {
        if registered.schema_type != "JSON" {
            return Err(format!(
                "its type is {}; payloads are validated against JSON Schemas only",
                registered.schema_type
            ));
        }
        let schema: serde_json::Value =
            serde_json::from_str(&registered.schema).map_err(|error| error.to_string())?;
        let validator = jsonschema::validator_for(&schema).map_err(|error| error.to_string())?;
        Ok(CompiledSchema {
            subject: registered.subject.clone(),
            version: registered.version,
            id: registered.id,
            uri,
            validator,
        })
    }

    /// Checks `payload`, the data of an event of `event_type` and `schema_version`.
    pub fn validate(
        &self,
        event_type: &str,
        schema_version: u32,
        payload: &serde_json::Value,
    ) -> Result<(), InvalidPayload> {
        if self.validator.is_valid(payload) {
            return Ok(());
        }
        let mut violations = Vec::new();
        let mut more = 0;
        for error in self.validator.iter_errors(payload) {
            if violations.len() == MOST_REPORTED {
                more += 1;
                continue;
            }
            violations.push(PayloadViolation {
                field: error.instance_path().as_str().to_owned(),
                rule: error.kind().keyword().to_owned(),
                message: error.masked().to_string(),
            });
        }
        Err(InvalidPayload {
            event_type: event_type.to_owned(),
            schema_version,
            subject: self.subject.clone(),
            version: self.version,
            violations,
            more,
        })
    }
}
