//! Errors of the outbox.

use herald_envelope::EnvelopeError;

/// Everything that can go wrong in the outbox.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The event was refused before anything was written.
    #[error("event refused: {0}")]
    Envelope(#[from] EnvelopeError),
    /// One envelope of a batch was refused; nothing of the batch was written.
    #[error("event {index} of the batch (id {event_id}) refused, nothing written: {source}")]
    InBatch {
        /// Its position in the batch, from 0.
        index: usize,
        /// Its id.
        event_id: String,
        /// Why it was refused.
        source: Box<OutboxError>,
    },
    /// The configuration is unusable.
    #[error("invalid outbox configuration: {0}")]
    Config(String),
    /// A query failed.
    #[error("outbox query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// A statement through `rusqlite` (the embedded engine's fast path) failed.
    #[error("outbox write failed: {0}")]
    Sqlite(#[from] herald_db::rusqlite::Error),
}

/// The result type of this crate.
pub type Result<T, E = OutboxError> = std::result::Result<T, E>;
