//! Avro schemas: parsing (`apache-avro`) and compatibility with Avro's schema resolution.
//!
//! Compatibility follows Confluent Schema Registry, which applies Avro's resolution rules
//! (`org.apache.avro.SchemaCompatibility`): a reader can read a writer's data when every
//! reader field is in the writer (by name or by one of the reader field's aliases) or has
//! a default, types match or promote (int → long → float → double, string ↔ bytes), the
//! reader's enum has every writer symbol (or a default), the reader's union has a branch
//! for every writer branch, and named types keep their name or list the old one among
//! their aliases. A reader that can read only part of the writer's data (an enum missing
//! symbols, a union missing branches) is incompatible, as in Confluent.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::error::CompatibilityError;
use apache_avro::schema::{Name, SchemaKind, UnionSchema};
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use herald_schema_compat::CompatibilityLevel;

use crate::{RegisteredSchema, RegistryError, Result};

/// Parses an Avro schema, refusing an invalid one with what is wrong.
pub(crate) fn parse(text: &str) -> Result<Schema> {
    Schema::parse_str(text).map_err(|error| RegistryError::InvalidSchema {
        reason: format!("not a valid Avro schema: {}", describe_parse_error(&error)),
    })
}

/// The error's message and its causes, one after another.
fn describe_parse_error(error: &apache_avro::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why `candidate` cannot follow `previous` (oldest first) at `level`: against the latest
/// only, or against every one with a transitive level. One sentence per failed direction.
pub(crate) fn incompatibilities(
    candidate: &Schema,
    previous: &[&RegisteredSchema],
    level: CompatibilityLevel,
) -> Vec<String> {
    let Some(latest) = previous.len().checked_sub(1) else {
        return Vec::new();
    };
    let first = if level.is_transitive() { 0 } else { latest };
    previous[first..].iter().flat_map(|old| against(candidate, old, level)).collect()
}

/// Why `candidate` cannot follow the one earlier version `old` at `level`.
fn against(candidate: &Schema, old: &RegisteredSchema, level: CompatibilityLevel) -> Vec<String> {
    let parsed = match old.schema_type.as_str() {
        "AVRO" => parse(&old.schema).ok(),
        _ => None,
    };
    let Some(old_schema) = parsed else {
        return vec![format!(
            "{{errorType:TYPE_MISMATCH, path:/, version:{}}} version {} is a {} schema, not an Avro schema",
            old.version, old.version, old.schema_type
        )];
    };
    let mut found = Vec::new();
    if backward(level)
        && let Some(problem) = problem(&old_schema, candidate)
    {
        found.push(problem.sentence(old.version, Direction::Backward));
    }
    if forward(level)
        && let Some(problem) = problem(candidate, &old_schema)
    {
        found.push(problem.sentence(old.version, Direction::Forward));
    }
    found
}

fn backward(level: CompatibilityLevel) -> bool {
    use CompatibilityLevel::*;
    matches!(level, Backward | BackwardTransitive | Full | FullTransitive)
}

fn forward(level: CompatibilityLevel) -> bool {
    use CompatibilityLevel::*;
    matches!(level, Forward | ForwardTransitive | Full | FullTransitive)
}

/// Which schema reads which.
#[derive(Clone, Copy)]
enum Direction {
    /// The new schema reads data written with an earlier one.
    Backward,
    /// An earlier schema reads data written with the new one.
    Forward,
}

/// Why a reader cannot read a writer's data: Confluent's error type, the path of the field
/// in the reader where it fails, and a description.
struct Problem {
    error_type: &'static str,
    path: String,
    description: String,
}

impl Problem {
    fn sentence(&self, version: i32, direction: Direction) -> String {
        let who = match direction {
            Direction::Backward => {
                "The new schema cannot read data written with the earlier schema"
            }
            Direction::Forward => "The earlier schema cannot read data written with the new schema",
        };
        format!(
            "{{errorType:{}, path:{}, version:{version}}} {who}: {}",
            self.error_type, self.path, self.description
        )
    }
}

/// Why `reader` cannot read data written with `writer`, after applying the reader's aliases
/// of named types to the writer (Avro's resolution rule for renamed types).
fn problem(writer: &Schema, reader: &Schema) -> Option<Problem> {
    let mut renames = HashMap::new();
    collect_aliases(reader, &mut renames);
    let writer = if renames.is_empty() { writer.clone() } else { rename(writer.clone(), &renames) };
    match SchemaCompatibility::can_read(&writer, reader) {
        Ok(Compatibility::Full) => None,
        Ok(Compatibility::Partial) => Some(partial(&writer, reader, String::new())),
        Err(error) => Some(explain(&error, String::new())),
    }
}

/// Whether `reader` reads everything `writer` may write.
fn reads_all(writer: &Schema, reader: &Schema) -> bool {
    matches!(SchemaCompatibility::can_read(writer, reader), Ok(Compatibility::Full))
}

/// Where a reader reads only part of a writer's data: an enum without some of the writer's
/// symbols, or a union without a branch for some of the writer's branches.
fn partial(writer: &Schema, reader: &Schema, path: String) -> Problem {
    let here = |error_type, description| Problem {
        error_type,
        path: if path.is_empty() { "/".into() } else { path.clone() },
        description,
    };
    match (writer, reader) {
        (Schema::Union(union), _) => {
            let missing: Vec<String> = union
                .variants()
                .iter()
                .filter(|variant| !reads_all(variant, reader))
                .map(describe)
                .collect();
            here(
                "MISSING_UNION_BRANCH",
                format!("the reader has no branch for the writer's {}", missing.join(", ")),
            )
        }
        (Schema::Enum(old), Schema::Enum(new)) => {
            let missing: Vec<&str> = old
                .symbols
                .iter()
                .filter(|symbol| !new.symbols.contains(symbol))
                .map(String::as_str)
                .collect();
            here(
                "MISSING_ENUM_SYMBOLS",
                format!(
                    "the reader's enum '{}' lacks the writer's symbols {} and has no default",
                    new.name.fullname(None),
                    missing.join(", ")
                ),
            )
        }
        (Schema::Record(old), Schema::Record(new)) => {
            let pair = new.fields.iter().find_map(|field| {
                let names = std::iter::once(&field.name).chain(field.aliases.iter());
                let found =
                    names.into_iter().find_map(|n| old.fields.iter().find(|w| &w.name == n));
                found.filter(|w| !reads_all(&w.schema, &field.schema)).map(|w| (w, field))
            });
            match pair {
                Some((w, r)) => partial(&w.schema, &r.schema, format!("{path}/{}", r.name)),
                None => here("TYPE_MISMATCH", "the reader reads only part of the data".into()),
            }
        }
        (Schema::Array(old), Schema::Array(new)) => partial(&old.items, &new.items, path),
        (Schema::Map(old), Schema::Map(new)) => partial(&old.types, &new.types, path),
        (_, Schema::Union(union)) => {
            let partly = |v: &&Schema| {
                matches!(SchemaCompatibility::can_read(writer, v), Ok(Compatibility::Partial))
            };
            match union.variants().iter().find(partly) {
                Some(variant) => partial(writer, variant, path),
                None => here("MISSING_UNION_BRANCH", "no reader branch reads it all".into()),
            }
        }
        _ => here("TYPE_MISMATCH", "the reader reads only part of the data".into()),
    }
}

/// A schema in a few words: a named type's name, or the kind (`long`, `array`).
fn describe(schema: &Schema) -> String {
    match schema.name() {
        Some(name) => format!("'{}'", name.fullname(None)),
        None => format!("{:?}", SchemaKind::from(schema)).to_lowercase(),
    }
}

/// A readable problem for one of `apache-avro`'s errors; `path` is the fields above it.
fn explain(error: &CompatibilityError, path: String) -> Problem {
    let (error_type, description) = match error {
        CompatibilityError::FieldTypeMismatch(field, inner) => {
            return explain(inner, format!("{path}/{field}"));
        }
        CompatibilityError::MissingDefaultValue(field) => {
            return Problem {
                error_type: "READER_FIELD_MISSING_DEFAULT_VALUE",
                path: format!("{path}/{field}"),
                description: format!(
                    "the reader's field '{field}' is not in the writer and has no default value"
                ),
            };
        }
        CompatibilityError::MissingSymbols => (
            "MISSING_ENUM_SYMBOLS",
            "the reader's enum has none of the writer's symbols".to_owned(),
        ),
        CompatibilityError::MissingUnionElements
        | CompatibilityError::SchemaMismatchAllUnionElements => (
            "MISSING_UNION_BRANCH",
            "the reader has no union branch for what the writer wrote".to_owned(),
        ),
        CompatibilityError::FixedMismatch => {
            ("FIXED_SIZE_MISMATCH", "the fixed types differ in size".to_owned())
        }
        CompatibilityError::NameMismatch { writer_name, reader_name } => (
            "NAME_MISMATCH",
            format!(
                "the writer's type '{writer_name}' is named '{reader_name}' in the reader, \
                 which does not list the old name among its aliases"
            ),
        ),
        CompatibilityError::WrongType { writer_schema_type, reader_schema_type } => (
            "TYPE_MISMATCH",
            format!(
                "the writer's {} cannot be read as the reader's {}",
                kind(writer_schema_type),
                kind(reader_schema_type)
            ),
        ),
        other => ("TYPE_MISMATCH", other.to_string()),
    };
    Problem { error_type, path: if path.is_empty() { "/".into() } else { path }, description }
}

/// The kind of a schema from its debug text (`Long`, `Record(RecordSchema { … })`): the
/// leading name, in lower case.
fn kind(debug: &str) -> String {
    let name: String = debug.chars().take_while(char::is_ascii_alphanumeric).collect();
    if name.is_empty() { "type".to_owned() } else { name.to_lowercase() }
}

/// Maps the full name of every alias of a named type in `schema` to that type's name.
fn collect_aliases(schema: &Schema, renames: &mut HashMap<String, Name>) {
    let (name, aliases) = match schema {
        Schema::Record(record) => {
            for field in &record.fields {
                collect_aliases(&field.schema, renames);
            }
            (&record.name, &record.aliases)
        }
        Schema::Enum(named) => (&named.name, &named.aliases),
        Schema::Fixed(named) => (&named.name, &named.aliases),
        Schema::Array(array) => return collect_aliases(&array.items, renames),
        Schema::Map(map) => return collect_aliases(&map.types, renames),
        Schema::Union(union) => {
            for variant in union.variants() {
                collect_aliases(variant, renames);
            }
            return;
        }
        _ => return,
    };
    for alias in aliases.iter().flatten() {
        renames.insert(alias.fullname(name.namespace()), name.clone());
    }
}

/// `schema` with the named types (and references to them) that `renames` lists renamed.
fn rename(mut schema: Schema, renames: &HashMap<String, Name>) -> Schema {
    let renamed = |name: &mut Name| {
        if let Some(new) = renames.get(&name.fullname(None)) {
            *name = new.clone();
        }
    };
    let take = |slot: &mut Schema| rename(std::mem::replace(slot, Schema::Null), renames);
    match &mut schema {
        Schema::Record(record) => {
            renamed(&mut record.name);
            for field in &mut record.fields {
                field.schema = take(&mut field.schema);
            }
        }
        Schema::Enum(named) => renamed(&mut named.name),
        Schema::Fixed(named) => renamed(&mut named.name),
        Schema::Ref { name } => renamed(name),
        Schema::Array(array) => *array.items = take(&mut array.items),
        Schema::Map(map) => *map.types = take(&mut map.types),
        Schema::Union(union) => {
            let variants = union.variants().iter().map(|v| rename(v.clone(), renames)).collect();
            // Renaming makes two branches alike only if the reader's aliases say so; then
            // the union stays as the writer wrote it.
            if let Ok(renamed) = UnionSchema::new(variants) {
                *union = renamed;
            }
        }
        _ => {}
    }
    schema
}
