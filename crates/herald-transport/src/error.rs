//! Errors of the transport seam.

/// Everything a transport can fail with.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A subscription pattern is malformed.
    #[error("invalid subscription pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A group, member or other broker name is not acceptable.
    #[error("invalid {field} `{value}`: expected {expected}")]
    InvalidName {
        /// Which name.
        field: &'static str,
        /// The name as given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// The broker's connection or channel failed; the transport reconnects.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a request (topology mismatch, permissions, …).
    #[error("broker refused: {0}")]
    Refused(String),
    /// The transport did not confirm a publish.
    #[error("publish not confirmed: {0}")]
    NotConfirmed(String),
    /// The transport's own storage failed (the embedded log's database).
    #[error(transparent)]
    Storage(Box<dyn std::error::Error + Send + Sync>),
}

impl Clone for TransportError {
    fn clone(&self) -> Self {
        match self {
            TransportError::InvalidPattern { pattern, reason } => {
                TransportError::InvalidPattern { pattern: pattern.clone(), reason: reason.clone() }
            }
            TransportError::InvalidName { field, value, expected } => {
                TransportError::InvalidName { field, value: value.clone(), expected }
            }
            TransportError::Unavailable(reason) => TransportError::Unavailable(reason.clone()),
            TransportError::Refused(reason) => TransportError::Refused(reason.clone()),
            other => TransportError::NotConfirmed(other.to_string()),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;
