//! [`LogError`]: what the embedded log can fail with.

use herald_transport::TransportError;

/// A failure of the embedded log.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A query of the log's tables failed.
    #[error("embedded log query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A write through the embedded engine's writer thread failed.
    #[error("embedded log write failed: {0}")]
    Engine(#[from] herald_db::rusqlite::Error),
    /// Leases or the wake-up listener failed.
    #[error(transparent)]
    Db(#[from] herald_db::DbError),
    /// The seam refused a request (a bad group or member name).
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<LogError> for TransportError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Transport(error) => error,
            other => TransportError::Storage(Box::new(other)),
        }
    }
}

/// The result type of the log's own functions.
pub(crate) type Result<T, E = LogError> = std::result::Result<T, E>;
