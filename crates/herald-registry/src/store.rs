//! Subjects, versions and schemas in `herald_schemas`, `herald_subjects`, `herald_config`.

use std::fmt;
use std::str::FromStr;

use herald_db::{Database, Statement};
use herald_schema_compat::CompatibilityLevel;

use crate::{RegistryError, Result};

/// The schema types the registry accepts.
const SCHEMA_TYPES: &[&str] = &["JSON", "AVRO"];

/// A schema registered under a subject.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegisteredSchema {
    /// The subject.
    pub subject: String,
    /// Its version within the subject (from 1).
    pub version: i32,
    /// The schema's global id.
    pub id: i64,
    /// `JSON` or `AVRO`.
    #[serde(rename = "schemaType")]
    pub schema_type: String,
    /// The schema, as canonical JSON text.
    pub schema: String,
}

/// A version of a subject: a number or the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    /// Version `n`.
    Number(i32),
    /// The newest version not deleted.
    Latest,
}

impl FromStr for VersionRef {
    type Err = RegistryError;

    fn from_str(text: &str) -> Result<VersionRef> {
        if text == "latest" || text == "-1" {
            return Ok(VersionRef::Latest);
        }
        match text.parse::<i32>() {
            Ok(number) if number >= 1 => Ok(VersionRef::Number(number)),
            _ => Err(RegistryError::InvalidVersion { version: text.to_owned() }),
        }
    }
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Number(number) => write!(f, "{number}"),
            VersionRef::Latest => f.write_str("latest"),
        }
    }
}

/// The canonical text of a schema: parsed and written back with sorted keys and no
/// whitespace, so that the same schema always gets the same id. An AVRO schema must also
/// parse as Avro; its text is kept whole (docs, defaults, aliases: what compatibility
/// needs), as Confluent keeps it, rather than reduced to Avro's Parsing Canonical Form.
pub fn canonical_schema(schema_type: &str, text: &str) -> Result<String> {
    if !SCHEMA_TYPES.contains(&schema_type) {
        return Err(RegistryError::InvalidSchema {
            reason: format!("schemaType `{schema_type}` is not supported; use JSON (or AVRO)"),
        });
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        RegistryError::InvalidSchema { reason: format!("the schema is not JSON: {error}") }
    })?;
    if schema_type == "JSON" && !(value.is_object() || value.is_boolean()) {
        return Err(RegistryError::InvalidSchema {
            reason: "a JSON Schema is an object or a boolean".into(),
        });
    }
    if schema_type == "AVRO" {
        crate::avro::parse(text)?;
    }
    Ok(value.to_string())
}

fn fingerprint(canonical: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(canonical.as_bytes()))
}

/// The level that applies when neither the subject nor the registry sets one.
pub const DEFAULT_LEVEL: CompatibilityLevel = CompatibilityLevel::Backward;

/// The registry's tables over one database.
#[derive(Debug, Clone)]
pub struct SchemaStore {
    db: Database,
}

impl SchemaStore {
    /// The store over `db` (migrated by `herald-db`).
    pub fn new(db: Database) -> SchemaStore {
        SchemaStore { db }
    }

    /// Registers `schema` under `subject` and returns it with its id and version. The same
    /// schema again returns the version it already has; a schema registered under another
    /// subject keeps its global id. Compatibility is the caller's to check first.
    pub async fn register(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
    ) -> Result<RegisteredSchema> {
        let canonical = canonical_schema(schema_type, schema)?;
        if let Ok(existing) = self.lookup(subject, schema_type, &canonical).await {
            return Ok(existing);
        }
        self.append(subject, schema_type, canonical).await
    }

    /// Registers `schema` under `subject` if it is compatible with the subject's earlier
    /// versions at the subject's level (or the registry's, or BACKWARD). A schema the
    /// subject already holds is returned as it is.
    pub async fn register_checked(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
    ) -> Result<RegisteredSchema> {
        let canonical = canonical_schema(schema_type, schema)?;
        if let Ok(existing) = self.lookup(subject, schema_type, &canonical).await {
            return Ok(existing);
        }
        let details =
            self.incompatibilities(subject, schema_type, &canonical, VersionRef::Latest).await?;
        if !details.is_empty() {
            return Err(RegistryError::Incompatible { subject: subject.to_owned(), details });
        }
        self.append(subject, schema_type, canonical).await
    }

    /// Adds a canonical schema the subject does not hold yet as its next version.
    async fn append(
        &self,
        subject: &str,
        schema_type: &str,
        canonical: String,
    ) -> Result<RegisteredSchema> {
        let id = self.schema_id(schema_type, &canonical).await?;
        // Two registrations racing for one version number: the loser tries again.
        let mut last = None;
        for _ in 0..3 {
            match self.add_version(subject, id).await {
                Ok(version) => {
                    return Ok(RegisteredSchema {
                        subject: subject.to_owned(),
                        version,
                        id,
                        schema_type: schema_type.to_owned(),
                        schema: canonical,
                    });
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last.expect("three attempts").into())
    }

    /// The level that applies to `subject`.
    pub async fn level(&self, subject: &str) -> Result<CompatibilityLevel> {
        let set = match self.compatibility(Some(subject)).await? {
            Some(level) => Some(level),
            None => self.compatibility(None).await?,
        };
        Ok(set.and_then(|level| level.parse().ok()).unwrap_or(DEFAULT_LEVEL))
    }

    /// Why `schema` cannot follow `subject`'s versions: against `version` (with a
    /// transitive level and `latest`, against every version). Empty when compatible and
    /// when the subject has no versions yet. JSON schemas are compared with
    /// `herald-schema-compat`, AVRO schemas with Avro's schema resolution.
    pub async fn incompatibilities(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
        version: VersionRef,
    ) -> Result<Vec<String>> {
        let canonical = canonical_schema(schema_type, schema)?;
        let history = match self.history(subject).await {
            Ok(history) => history,
            Err(RegistryError::SubjectNotFound { .. }) if version == VersionRef::Latest => {
                return Ok(Vec::new());
            }
            Err(error) => return Err(error),
        };
        let mut level = self.level(subject).await?;
        let previous: Vec<&RegisteredSchema> = match version {
            VersionRef::Latest => history.iter().collect(),
            VersionRef::Number(number) => {
                level = non_transitive(level);
                let one = history.iter().find(|s| s.version == number);
                vec![one.ok_or_else(|| RegistryError::VersionNotFound {
                    version: number.to_string(),
                })?]
            }
        };
        if schema_type == "AVRO" {
            let candidate = crate::avro::parse(&canonical)?;
            return Ok(crate::avro::incompatibilities(&candidate, &previous, level));
        }
        let parse =
            |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap_or_default();
        let values: Vec<serde_json::Value> = previous.iter().map(|s| parse(&s.schema)).collect();
        let found = herald_schema_compat::check(&parse(&canonical), &values, level)
            .map_err(|error| RegistryError::InvalidSchema { reason: error.to_string() })?;
        Ok(found
            .iter()
            .map(|issue| {
                format!(
                    "{{kind:{}, pointer:{}, version:{}}} {}",
                    issue.kind, issue.pointer, previous[issue.against].version, issue.message
                )
            })
            .collect())
    }

    /// The id of a schema, inserting it if new. Schemas are never deleted, so once the
    /// insert has returned (added, or already there) the select finds the row.
    async fn schema_id(&self, schema_type: &str, canonical: &str) -> Result<i64> {
        let print = fingerprint(canonical);
        let writer = self.db.writer();
        writer
            .execute(
                Statement::new(
                    "INSERT INTO herald_schemas (schema_type, schema, fingerprint) \
                     VALUES ($1, $2, $3) ON CONFLICT (schema_type, fingerprint) DO NOTHING",
                )
                .bind(schema_type)
                .bind(canonical)
                .bind(&print),
            )
            .await?;
        let (id,): (i64,) = writer
            .fetch_one(
                Statement::new(
                    "SELECT id FROM herald_schemas WHERE schema_type = $1 AND fingerprint = $2",
                )
                .bind(schema_type)
                .bind(&print),
            )
            .await?;
        Ok(id)
    }

    /// Appends the next version of `subject` for schema `id`.
    async fn add_version(&self, subject: &str, id: i64) -> Result<i32, sqlx::Error> {
        let statement = Statement::new(
            "INSERT INTO herald_subjects (subject, version, schema_id) \
             SELECT $1, COALESCE(max(version), 0) + 1, $2 FROM herald_subjects WHERE subject = $1 \
             RETURNING version",
        )
        .bind(subject)
        .bind(id);
        let (version,): (i32,) = self.db.writer().fetch_one(statement).await?;
        Ok(version)
    }

    /// The version of `subject` that holds this schema (`POST /subjects/{subject}`).
    pub async fn lookup(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
    ) -> Result<RegisteredSchema> {
        let canonical = canonical_schema(schema_type, schema)?;
        let print = fingerprint(&canonical);
        let found = self
            .history(subject)
            .await?
            .into_iter()
            .find(|s| s.schema_type == schema_type && fingerprint(&s.schema) == print);
        found.ok_or_else(|| RegistryError::SchemaNotFound {
            what: format!("under subject '{subject}'"),
        })
    }

    /// The live versions of a subject, oldest first; unknown subjects fail.
    pub async fn history(&self, subject: &str) -> Result<Vec<RegisteredSchema>> {
        let statement = Statement::new(
            "SELECT v.subject, v.version, s.id, s.schema_type, s.schema \
             FROM herald_subjects AS v JOIN herald_schemas AS s ON s.id = v.schema_id \
             WHERE v.subject = $1 AND NOT v.deleted ORDER BY v.version",
        )
        .bind(subject);
        let rows: Vec<(String, i32, i64, String, String)> =
            self.db.reader().fetch_all(statement).await?;
        if rows.is_empty() {
            return Err(RegistryError::SubjectNotFound { subject: subject.to_owned() });
        }
        Ok(rows
            .into_iter()
            .map(|(subject, version, id, schema_type, schema)| RegisteredSchema {
                subject,
                version,
                id,
                schema_type,
                schema,
            })
            .collect())
    }

    /// One version of a subject.
    pub async fn version(&self, subject: &str, version: VersionRef) -> Result<RegisteredSchema> {
        let history = self.history(subject).await?;
        let found = match version {
            VersionRef::Latest => history.last().cloned(),
            VersionRef::Number(number) => history.into_iter().find(|s| s.version == number),
        };
        found.ok_or_else(|| RegistryError::VersionNotFound { version: version.to_string() })
    }

    /// A schema by its global id: its type and text.
    pub async fn schema_by_id(&self, id: i64) -> Result<(String, String)> {
        let statement =
            Statement::new("SELECT schema_type, schema FROM herald_schemas WHERE id = $1").bind(id);
        let found: Option<(String, String)> = self.db.reader().fetch_optional(statement).await?;
        found.ok_or_else(|| RegistryError::SchemaNotFound { what: id.to_string() })
    }

    /// Every subject with a live version, sorted.
    pub async fn subjects(&self) -> Result<Vec<String>> {
        let statement = Statement::new(
            "SELECT DISTINCT subject FROM herald_subjects WHERE NOT deleted ORDER BY subject",
        );
        let rows: Vec<(String,)> = self.db.reader().fetch_all(statement).await?;
        Ok(rows.into_iter().map(|(subject,)| subject).collect())
    }

    /// Deletes a subject's versions: soft (they stay, hidden) or, after a soft delete,
    /// permanently. Returns the versions deleted.
    pub async fn delete_subject(&self, subject: &str, permanent: bool) -> Result<Vec<i32>> {
        let sql = if permanent {
            "DELETE FROM herald_subjects WHERE subject = $1 AND deleted RETURNING version"
        } else {
            "UPDATE herald_subjects SET deleted = TRUE WHERE subject = $1 AND NOT deleted RETURNING version"
        };
        let rows: Vec<(i32,)> =
            self.db.writer().fetch_all(Statement::new(sql).bind(subject)).await?;
        if rows.is_empty() {
            return Err(RegistryError::SubjectNotFound { subject: subject.to_owned() });
        }
        let mut versions: Vec<i32> = rows.into_iter().map(|(version,)| version).collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// The compatibility level of a subject (`None`: the global default), if set.
    pub async fn compatibility(&self, subject: Option<&str>) -> Result<Option<String>> {
        let statement =
            Statement::new("SELECT compatibility FROM herald_config WHERE subject = $1")
                .bind(subject.unwrap_or_default());
        let level: Option<(String,)> = self.db.reader().fetch_optional(statement).await?;
        Ok(level.map(|(level,)| level))
    }

    /// Sets the compatibility level of a subject (`None`: the global default).
    pub async fn set_compatibility(&self, subject: Option<&str>, level: &str) -> Result<()> {
        if level.parse::<CompatibilityLevel>().is_err() {
            return Err(RegistryError::InvalidCompatibilityLevel { level: level.to_owned() });
        }
        let statement = Statement::new(
            "INSERT INTO herald_config (subject, compatibility) VALUES ($1, $2) \
             ON CONFLICT (subject) DO UPDATE SET compatibility = excluded.compatibility",
        )
        .bind(subject.unwrap_or_default())
        .bind(level);
        self.db.writer().execute(statement).await?;
        Ok(())
    }
}

/// The same level, checked against one version only.
fn non_transitive(level: CompatibilityLevel) -> CompatibilityLevel {
    match level {
        CompatibilityLevel::BackwardTransitive => CompatibilityLevel::Backward,
        CompatibilityLevel::ForwardTransitive => CompatibilityLevel::Forward,
        CompatibilityLevel::FullTransitive => CompatibilityLevel::Full,
        other => other,
    }
}
