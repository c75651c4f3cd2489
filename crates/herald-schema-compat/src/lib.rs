//! JSON Schema compatibility checks with the semantics of Confluent Schema Registry.
//!
//! A schema registry decides whether a new schema version may be registered under a subject by
//! comparing it with the versions already there. [`differences`] lists every change between a
//! writer schema (the original) and a reader schema (the update), each with a
//! [`DifferenceKind`] named as in Confluent's `Difference.Type` and a JSON pointer such as
//! `#/properties/age`. [`check`] applies a [`CompatibilityLevel`]: `BACKWARD` lets the new schema
//! read data written with the latest previous one, `FORWARD` the reverse, `FULL` both, and the
//! `*_TRANSITIVE` levels check every previous version instead of only the latest.
//!
//! Which kinds are compatible follows Confluent's `SchemaDiff.COMPATIBLE_CHANGES`
//! ([`DifferenceKind::is_compatible`]), draft 2020-12 kinds included (`MIN_CONTAINS_*`,
//! `UNEVALUATED_PROPERTIES_*`, ...).
//!
//! Draft-07 and draft 2020-12 keywords are compared alike: `prefixItems` as a draft-07 tuple,
//! `dependentRequired` and `dependentSchemas` as `dependencies`, `unevaluatedProperties` and
//! `unevaluatedItems` as `additionalProperties` and `additionalItems`, `$defs` as `definitions`.
//! Keywords that apply side by side (`$ref` from draft 2019-09 on, `allOf`, `anyOf`, `oneOf`,
//! `not`, and the keywords of a type) are compared part by part. Keywords Confluent ignores
//! (`if`/`then`/`else`, `propertyNames`, `patternProperties`, `contains`, the content keywords)
//! are compared conservatively: what cannot be shown compatible is reported incompatible.
//! `format` is ignored, as Confluent ignores it.
//!
//! Schemas come from clients, so the comparison is bounded: every pair of subschemas is
//! compared once, and nesting beyond [`MAX_DEPTH`] or more than [`MAX_STEPS`] comparisons
//! give [`SchemaCompatError::TooComplex`] rather than a stack overflow or minutes of CPU.
//!
//! ```
//! use herald_schema_compat::{check, CompatibilityLevel, DifferenceKind};
//! use serde_json::json;
//!
//! let v1 = json!({"type": "object", "properties": {"age": {"type": "integer"}}});
//! let v2 = json!({"type": "object", "properties": {"age": {"type": "string"}}});
//! let problems = check(&v2, &[v1], CompatibilityLevel::Backward).unwrap();
//! assert_eq!(problems[0].kind, DifferenceKind::TypeChanged);
//! assert_eq!(problems[0].pointer, "#/properties/age");
//! ```

mod check;
mod diff;
mod error;
mod kind;

pub use check::{CompatibilityLevel, Direction, Incompatibility, check};
pub use diff::{Difference, MAX_DEPTH, MAX_STEPS, differences};
pub use error::{Result, SchemaCompatError};
pub use kind::DifferenceKind;
