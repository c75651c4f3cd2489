//! The schema registry's storage: subjects, their versions, and schemas by global id, as
//! Confluent Schema Registry keeps them, on PostgreSQL or SQLite.
//!
//! Registration checks compatibility: JSON Schema with `herald-schema-compat`, Avro with
//! `apache-avro` (parsing and Avro's schema resolution rules, as Confluent applies them). Work in progress for the registry issue: `herald registry`,
//! the producer and consumer sides come next.
//!
//! # Layout
//!
//! - [`SchemaStore`]: register (idempotent: the same schema gets the same id, and the
//!   same version within a subject), look up, read by id or version, list, delete (soft and
//!   hard), and the compatibility settings.
//! - [`RegistryError`]: every failure, with Confluent's `error_code` and HTTP status.
//! - `api` (feature `server`, on by default): the REST API of Confluent Schema Registry
//!   (subjects, versions, ids, lookup, config, deletes), credentials for changes
//!   (`herald_http::RequireCredentials`). A producer that only reads and registers schemas
//!   in its own database (`herald-schema`) turns the feature off and does without `axum`.

#[cfg(feature = "server")]
pub mod api;
mod avro;
mod error;
mod store;

pub use error::{RegistryError, Result};
pub use herald_schema_compat::CompatibilityLevel;
pub use store::{DEFAULT_LEVEL, RegisteredSchema, SchemaStore, VersionRef, canonical_schema};
