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
    #[error("cannot connect to database `{url}`: {driver} ({hint})")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// What to check, for this kind of database.
        hint: &'static str,
        /// The driver's error, in the message (not also a source, which would print it
        /// twice in an error chain).
        driver: sqlx::Error,
    },
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// The embedded engine's write thread could not open the SQLite file.
    #[error("cannot open the embedded writer on `{url}`: {source}")]
    Engine {
        /// The URL.
        url: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Code typed for one engine was given a database of the other.
    #[error("the database is {found:?}, but the code is typed for {expected:?}")]
    WrongBackend {
        /// The engine the caller's types are for.
        expected: crate::Backend,
        /// The engine of the database.
        found: crate::Backend,
    },
}

impl DbError {
    /// A connection error, with what to check for this kind of database.
    pub(crate) fn connect(url: &str, source: sqlx::Error) -> DbError {
        let hint = if url.starts_with("sqlite:") {
            "does the file's directory exist, and may Herald write there?"
        } else {
            "is PostgreSQL running at that host and port, and do the user and database exist?"
        };
        DbError::Connect { url: crate::database::redact_url(url), hint, driver: source }
    }
}

/// The result type of this crate.
pub type Result<T, E = DbError> = std::result::Result<T, E>;
