//! One error type for everything the facade does.

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure of Herald as a service sees it. The variants wrap the errors of the
/// underlying parts, whose messages already say what is wrong and what was expected.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting to, migrating or coordinating through the database failed.
    #[error(transparent)]
    Database(#[from] herald_db::DbError),
    /// A query of the service's own (a [`crate::Statement`]) failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A statement of [`crate::Herald::write`]'s transaction (`rusqlite`) failed, or its
    /// commit did.
    #[error("embedded write failed: {0}")]
    Sqlite(#[from] herald_db::rusqlite::Error),
    /// [`crate::Herald::write`] needs an embedded SQLite file; the database is PostgreSQL
    /// or in memory.
    #[error(
        "Herald::write runs on an embedded SQLite file (sqlite://FILE); this database is {0}: use Herald::begin"
    )]
    NotEmbedded(&'static str),
    /// An event was refused by the outbox, or the outbox could not be written.
    #[error(transparent)]
    Outbox(#[from] herald_outbox::OutboxError),
    /// An event could not be built or encoded.
    #[error(transparent)]
    Envelope(#[from] herald_envelope::EnvelopeError),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] herald_transport::TransportError),
    /// The relay could not start.
    #[error(transparent)]
    Relay(#[from] herald_relay::RelayError),
    /// A consumer could not start or failed for good.
    #[error(transparent)]
    Consumer(#[from] herald_consumer::ConsumerError),
    /// The broker URL names no transport this build has.
    #[error("broker URL `{url}` {reason}")]
    InvalidBrokerUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it, and what was expected.
        reason: String,
    },
    /// A broker TLS setting (a CA file, a client certificate) that cannot be used, or
    /// one given for a broker that takes none.
    #[error("broker TLS: {0}")]
    BrokerTls(String),
    /// A namespace that cannot be part of a broker's names.
    #[error(
        "namespace `{0}`: expected 1 to 48 characters of a-z, 0-9 and `-`, starting with a letter"
    )]
    InvalidNamespace(String),
    /// No database URL was given to the builder.
    #[error("no database: call `HeraldBuilder::database` with `sqlite://FILE` or `postgres://…`")]
    NoDatabase,
}
