//! Everything the event store can fail with.

use herald_db::Backend;

use crate::ExpectedVersion;

/// The result type of this crate.
pub type Result<T, E = EventStoreError> = std::result::Result<T, E>;

/// Why an event store operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    /// The stream is not at the expected version; nothing was written.
    #[error("stream `{stream_id}` is at version {actual}, expected {expected}")]
    Conflict {
        /// The stream appended to.
        stream_id: String,
        /// The version the append expected.
        expected: ExpectedVersion,
        /// The stream's version when the append was checked.
        actual: i64,
    },
    /// Concurrent appenders took the next global position every time this append tried;
    /// nothing was written and the append may be retried.
    #[error(
        "append to stream `{stream_id}` lost the race for a global position {attempts} times; \
         retry it or shorten the appending transactions"
    )]
    Contention {
        /// The stream appended to.
        stream_id: String,
        /// How many times the append was tried.
        attempts: u32,
    },
    /// An event being appended has an id that is already stored; nothing was written.
    #[error(
        "an event appended to stream `{stream_id}` has an id already stored; \
         every event needs a new id"
    )]
    DuplicateEvent {
        /// The stream appended to.
        stream_id: String,
    },
    /// A value could not be turned into JSON or back.
    #[error("cannot convert {what} to or from JSON: {source}")]
    Json {
        /// What was converted.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// An aggregate refused to fold a stored event.
    #[error("event {version} of stream `{stream_id}` cannot be applied: {reason}")]
    Apply {
        /// The stream.
        stream_id: String,
        /// The event's version.
        version: i64,
        /// The aggregate's reason.
        reason: String,
    },
    /// A value given is not acceptable.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The argument or setting.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A transaction or projection is typed for the other database engine.
    #[error(
        "the database is {found:?}, but the transaction or projection is typed for {expected:?}"
    )]
    WrongBackend {
        /// The engine the caller's types are for.
        expected: Backend,
        /// The engine of the database.
        found: Backend,
    },
    /// The database failed.
    #[error("event store database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database refused otherwise (connecting, migrating).
    #[error(transparent)]
    Db(herald_db::DbError),
}

impl From<herald_db::DbError> for EventStoreError {
    fn from(error: herald_db::DbError) -> Self {
        match error {
            herald_db::DbError::WrongBackend { expected, found } => {
                EventStoreError::WrongBackend { expected, found }
            }
            herald_db::DbError::Query(error) => EventStoreError::Database(error),
            other => EventStoreError::Db(other),
        }
    }
}
