//! Errors of the database crate.

/// Everything that can go wrong while connecting to or coordinating through the database.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL could not be understood.
    #[error(
        "invalid database URL `{url}`: {reason}; expected `postgres://user@host:5432/dbname` or `sqlite://path/to/file.db`"
    )]
    InvalidUrl {
        /// The URL as given, with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database did not accept a connection.
    #[error("cannot connect to database `{url}`: {source}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// The result type of this crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
