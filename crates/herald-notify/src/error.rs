//! Everything the notification service can fail with.

/// The result type of this crate.
pub type Result<T, E = NotifyError> = std::result::Result<T, E>;

/// Why a notification operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A value given is not acceptable.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// No recipient of that id.
    #[error(
        "no recipient `{id}`; create it first (PUT /recipients/{id} or `herald notify recipients set`)"
    )]
    UnknownRecipient {
        /// The id asked for.
        id: String,
    },
    /// No template of that name for the channel.
    #[error("no template `{name}` for channel `{channel}`")]
    UnknownTemplate {
        /// The template's name.
        name: String,
        /// The channel.
        channel: String,
    },
    /// A template does not parse, or uses fields its event's schema lacks.
    #[error("template `{name}` is refused: {reason}")]
    BadTemplate {
        /// The template's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A template failed to render with the event's data.
    #[error("template `{name}` cannot be rendered: {reason}")]
    Render {
        /// The template's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The registry could not give the schema a template is checked against.
    #[error("the schema of subject `{subject}` is not available: {reason}")]
    Schema {
        /// The subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// No notification of that id.
    #[error("no notification {id}")]
    UnknownNotification {
        /// The id asked for.
        id: uuid::Uuid,
    },
    /// The database failed.
    #[error("notification database error: {0}")]
    Database(#[from] sqlx::Error),
}
