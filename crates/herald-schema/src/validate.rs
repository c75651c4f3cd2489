//! Compiled schemas and what a payload that breaks one is told.

use std::collections::{HashMap, HashSet};
use std::fmt;

use herald_registry::RegisteredSchema;

/// The most violations one error reports; the rest are counted.
const MOST_REPORTED: usize = 10;

/// The most subschemas a schema may expand to with its `$ref`s followed: validation
/// visits each for a payload, so a schema past it could take exponential time.
const MAX_EXPANDED: usize = 100_000;

/// The deepest the expansion goes, nesting and `$ref`s followed together, which bounds
/// the stack it uses.
const MAX_NESTING: usize = 512;

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
        if Expansion::new(&schema).size(&schema, 0).is_none() {
            return Err(format!(
                "it expands to more than {MAX_EXPANDED} subschemas through its `$ref`s, or \
                 nests more than {MAX_NESTING} deep through them; validating a payload could take \
                 exponential time"
            ));
        }
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

/// Counts the subschemas of a schema with each local `$ref` replaced by its target, so
/// that a schema like forty nested `{"anyOf": [{"$ref": "#/$defs/next"}, {"$ref":
/// "#/$defs/next"}]}` (2^40 subschemas, found by the `registry_schema` fuzz target) is
/// refused before validation. A `$ref` back into a schema being expanded counts one:
/// that recursion follows the payload, which is finite.
struct Expansion<'a> {
    root: &'a serde_json::Value,
    /// The sizes found, by the address of the subschema.
    sizes: HashMap<*const serde_json::Value, usize>,
    /// The `$ref` targets being expanded.
    open: HashSet<*const serde_json::Value>,
}

impl<'a> Expansion<'a> {
    fn new(root: &'a serde_json::Value) -> Self {
        Expansion { root, sizes: HashMap::new(), open: HashSet::new() }
    }

    /// The expanded size of `node` at `nesting`, `None` past [`MAX_EXPANDED`] or
    /// [`MAX_NESTING`].
    fn size(&mut self, node: &'a serde_json::Value, nesting: usize) -> Option<usize> {
        if nesting > MAX_NESTING {
            return None;
        }
        let key: *const serde_json::Value = node;
        if let Some(&size) = self.sizes.get(&key) {
            return Some(size);
        }
        let mut size: usize = 1;
        let children: Vec<&'a serde_json::Value> = match node {
            serde_json::Value::Object(members) => members.values().collect(),
            serde_json::Value::Array(elements) => elements.iter().collect(),
            _ => Vec::new(),
        };
        for child in children {
            size = size.checked_add(self.size(child, nesting + 1)?)?;
        }
        if let Some(target) = node.get("$ref").and_then(|r| r.as_str()).and_then(|r| self.target(r))
        {
            size = size.checked_add(self.size_of_target(target, nesting + 1)?)?;
        }
        if size > MAX_EXPANDED {
            return None;
        }
        self.sizes.insert(key, size);
        Some(size)
    }

    /// The expanded size of a `$ref`'s target: one when it is being expanded already.
    fn size_of_target(&mut self, target: &'a serde_json::Value, nesting: usize) -> Option<usize> {
        let key: *const serde_json::Value = target;
        if !self.open.insert(key) {
            return Some(1);
        }
        let size = self.size(target, nesting);
        self.open.remove(&key);
        size
    }

    /// The subschema a local `$ref` (`#`, `#/json/pointer`) names, if it exists.
    fn target(&self, reference: &str) -> Option<&'a serde_json::Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }
}
