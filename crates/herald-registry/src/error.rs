//! Errors of the registry, with Confluent's error codes.

/// Everything the registry can fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No subject of that name (or all its versions are deleted).
    #[error("Subject '{subject}' not found.")]
    SubjectNotFound {
        /// The subject asked for.
        subject: String,
    },
    /// The subject has no such version.
    #[error("Version {version} not found.")]
    VersionNotFound {
        /// The version asked for.
        version: String,
    },
    /// No schema with that id, or the subject does not hold that schema.
    #[error("Schema {what} not found")]
    SchemaNotFound {
        /// Which schema.
        what: String,
    },
    /// The schema is not valid JSON, or not of a supported type.
    #[error("Invalid schema: {reason}")]
    InvalidSchema {
        /// What is wrong.
        reason: String,
    },
    /// A version is neither a positive integer nor `latest`.
    #[error(
        "The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion {
        /// The version as given.
        version: String,
    },
    /// A compatibility level that does not exist.
    #[error(
        "Invalid compatibility level '{level}': expected NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE"
    )]
    InvalidCompatibilityLevel {
        /// The level as given.
        level: String,
    },
    /// The schema breaks the subject's compatibility level.
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\": {}", details.join("; "))]
    Incompatible {
        /// The subject.
        subject: String,
        /// One sentence per incompatibility (kind, JSON pointer, version).
        details: Vec<String>,
    },
    /// The database failed.
    #[error("registry database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl RegistryError {
    /// Confluent's `error_code` for this error.
    pub fn error_code(&self) -> u32 {
        match self {
            RegistryError::SubjectNotFound { .. } => 40401,
            RegistryError::VersionNotFound { .. } => 40402,
            RegistryError::SchemaNotFound { .. } => 40403,
            RegistryError::InvalidSchema { .. } => 42201,
            RegistryError::InvalidVersion { .. } => 42202,
            RegistryError::InvalidCompatibilityLevel { .. } => 42203,
            RegistryError::Incompatible { .. } => 409,
            RegistryError::Database(_) => 50001,
        }
    }

    /// The HTTP status Confluent answers with.
    pub fn http_status(&self) -> u16 {
        match self.error_code() {
            409 => 409,
            code if code / 100 == 404 => 404,
            code if code / 100 == 422 => 422,
            _ => 500,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
