//! Errors of domain-event dispatch.

/// The result type of this crate.
pub type Result<T, E = DomainError> = std::result::Result<T, E>;

/// Why dispatching domain events failed; the caller rolls its transaction back.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// An in-process handler refused the event.
    #[error("domain handler for `{event_type}` failed: {message}")]
    Handler {
        /// The event's type.
        event_type: String,
        /// The handler's reason.
        message: String,
    },
    /// A translation produced a domain event, which must not leave the service.
    #[error(
        "the translation of `{from}` produced `{to}`, a domain event: translations must produce integration or notification events"
    )]
    StaysInside {
        /// The domain event's type.
        from: String,
        /// The produced event's type.
        to: String,
    },
    /// An event could not be serialized or decoded.
    #[error("event `{event_type}` cannot be (de)serialized: {reason}")]
    Serde {
        /// The event's type.
        event_type: String,
        /// Why.
        reason: String,
    },
    /// The envelope or the outbox refused the integration event.
    #[error("the outbox refused the integration event: {0}")]
    Outbox(#[from] herald_outbox::OutboxError),
    /// The envelope is invalid.
    #[error(transparent)]
    Envelope(#[from] herald_envelope::EnvelopeError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
