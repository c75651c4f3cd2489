//! The error type shared by every fallible operation of the crate.

/// The longest value, in characters, that an error message quotes before truncating it.
const MAX_SHOWN_CHARS: usize = 64;

/// Everything that can go wrong while building, validating, encoding or decoding an envelope.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// An attribute breaks a rule.
    #[error("invalid attribute `{attribute}`: {rule} (got {value:?})")]
    InvalidAttribute {
        /// The name of the attribute, as it appears on the wire (e.g. `type`, `partitionkey`).
        attribute: String,
        /// The rule the value breaks.
        rule: &'static str,
        /// The offending value, truncated to about 64 characters.
        value: String,
    },
    /// A required attribute is missing.
    #[error("missing required attribute `{attribute}`")]
    MissingAttribute {
        /// The name of the missing attribute.
        attribute: String,
    },
    /// The encoded event is larger than the configured limit.
    #[error("event is {size} bytes, larger than the limit of {limit} bytes")]
    TooLarge {
        /// The size of the encoded event in bytes.
        size: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The input is not valid JSON, not a JSON object, or an attribute has the wrong JSON type.
    #[error("malformed event: {reason}")]
    Malformed {
        /// What is wrong, naming the attribute when it is known.
        reason: String,
    },
    /// The event data could not be serialized from, or deserialized into, the typed event.
    #[error("event data of type `{event_type}` could not be (de)serialized: {source}")]
    Data {
        /// The event type whose data failed.
        event_type: String,
        /// The underlying serde error.
        source: serde_json::Error,
    },
    /// The envelope holds a different event than the one asked for.
    #[error("expected event `{expected}`, found `{found}`")]
    TypeMismatch {
        /// The routing key of the requested event type.
        expected: String,
        /// The routing key of the envelope.
        found: String,
    },
}

/// The crate's result type, with [`EnvelopeError`] as the default error.
pub type Result<T, E = EnvelopeError> = std::result::Result<T, E>;

impl EnvelopeError {
    /// Builds an [`EnvelopeError::InvalidAttribute`], truncating a long value.
    pub(crate) fn invalid(attribute: impl Into<String>, rule: &'static str, value: &str) -> Self {
        Self::InvalidAttribute { attribute: attribute.into(), rule, value: truncated(value) }
    }

    /// Builds an [`EnvelopeError::MissingAttribute`].
    pub(crate) fn missing(attribute: impl Into<String>) -> Self {
        Self::MissingAttribute { attribute: attribute.into() }
    }

    /// Builds an [`EnvelopeError::Malformed`].
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed { reason: reason.into() }
    }

    /// Returns the attribute this error is about, when it names a single attribute.
    ///
    /// Only [`EnvelopeError::InvalidAttribute`] and [`EnvelopeError::MissingAttribute`]
    /// carry an attribute name as data; the other variants return `None`.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            Self::InvalidAttribute { attribute, .. } | Self::MissingAttribute { attribute } => {
                Some(attribute)
            }
            _ => None,
        }
    }
}

/// Shortens `value` to [`MAX_SHOWN_CHARS`] characters, marking the cut with an ellipsis.
fn truncated(value: &str) -> String {
    match value.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_truncated_in_messages() {
        let error = EnvelopeError::invalid("subject", "must not be empty", &"x".repeat(200));
        let message = error.to_string();
        assert!(message.contains(&format!("{}…", "x".repeat(64))), "{message}");
        assert!(!message.contains(&"x".repeat(65)), "{message}");
    }

    #[test]
    fn too_large_message_names_both_sizes() {
        let error = EnvelopeError::TooLarge { size: 1_048_600, limit: 1_048_576 };
        assert_eq!(
            error.to_string(),
            "event is 1048600 bytes, larger than the limit of 1048576 bytes"
        );
    }
}
