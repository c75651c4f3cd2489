//! The error type of signatures and of the CloudEvents HTTP binding.

use std::time::Duration;

/// The longest value, in characters, that an error message quotes before truncating it.
const MAX_SHOWN_CHARS: usize = 100;

/// A webhook that does not verify, a secret that does not parse, or an event that cannot
/// be put into (or a header value that cannot be taken out of) an HTTP message. No
/// message ever shows a secret.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// An input breaks a rule: a secret, a header value, an attribute name.
    #[error("invalid {field} `{value}`: expected {expected}")]
    Invalid {
        /// The field (`secret`, `attribute`, `datacontenttype`, or a header name).
        field: &'static str,
        /// The offending value, truncated; a secret is never shown, only its length.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The envelope breaks a CloudEvents rule and cannot be sent.
    #[error("the event cannot be sent: {0}")]
    Envelope(#[from] herald_envelope::EnvelopeError),
    /// A webhook header that verification needs is missing.
    #[error(
        "missing header `{header}`; a Standard Webhooks request has webhook-id, webhook-timestamp and webhook-signature"
    )]
    MissingHeader {
        /// The header name.
        header: &'static str,
    },
    /// The webhook timestamp is further from now than the tolerance (a replay, or a
    /// clock far off).
    #[error(
        "webhook timestamp {timestamp} is {}s from now ({now}), more than the tolerance of {}s",
        timestamp.abs_diff(*now),
        tolerance.as_secs()
    )]
    StaleTimestamp {
        /// The timestamp of the request, in seconds since the Unix epoch.
        timestamp: i64,
        /// The verifier's clock, in seconds since the Unix epoch.
        now: i64,
        /// The accepted distance.
        tolerance: Duration,
    },
    /// None of the request's `v1` signatures was made with the secret.
    #[error("no webhook signature matches the secret ({signatures} v1 signature(s) checked)")]
    SignatureMismatch {
        /// How many `v1` signatures the header held.
        signatures: usize,
    },
}

/// The result type of this crate, with [`HttpError`] as the default error.
pub type Result<T, E = HttpError> = std::result::Result<T, E>;

impl HttpError {
    /// Builds a [`HttpError::Invalid`], truncating a long value.
    pub(crate) fn invalid(field: &'static str, value: &str, expected: impl Into<String>) -> Self {
        let value = match value.char_indices().nth(MAX_SHOWN_CHARS) {
            Some((end, _)) => format!("{}…", &value[..end]),
            None => value.to_owned(),
        };
        HttpError::Invalid { field, value, expected: expected.into() }
    }

    /// The input field this error is about, for [`HttpError::Invalid`] and
    /// [`HttpError::MissingHeader`].
    pub fn field(&self) -> Option<&'static str> {
        match self {
            HttpError::Invalid { field, .. } => Some(field),
            HttpError::MissingHeader { header } => Some(header),
            _ => None,
        }
    }
}
