//! The error type of every fallible operation of the crate.

use std::time::Duration;

use uuid::Uuid;

/// The longest value, in characters, that an error message quotes before truncating it.
const MAX_SHOWN_CHARS: usize = 100;

/// Everything that can go wrong with push subscriptions: bad input, the store, a delivery
/// and building a signed request.
///
/// A failed delivery is either retryable ([`PushError::is_retryable`]: the endpoint could
/// not be reached, timed out, or answered 5xx, 408 or 429) or permanent (any other
/// answer outside 2xx, or an event that cannot be sent over HTTP). No message ever shows
/// a signing secret or a bearer token.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// An input breaks a rule: a subscription field, a header, a query parameter.
    #[error("invalid {field} `{value}`: expected {expected}")]
    Invalid {
        /// The field, as the caller knows it (`service`, `pattern`, `endpoint`, `secret`,
        /// `id`, or a header name).
        field: &'static str,
        /// The offending value, truncated; a secret is never shown, only its length.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// No subscription has this id.
    #[error("subscription {id} not found")]
    NotFound {
        /// The id asked for.
        id: Uuid,
    },
    /// The service already subscribes the endpoint with this pattern.
    #[error(
        "service `{service}` already subscribes `{endpoint}` to `{pattern}`; delete that subscription first or pick another pattern"
    )]
    AlreadyExists {
        /// The service.
        service: String,
        /// The pattern.
        pattern: String,
        /// The endpoint.
        endpoint: String,
    },
    /// A database query failed.
    #[error("database query failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The HTTP client could not be built (for example, no TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The endpoint could not be reached, or the connection broke. Retryable.
    #[error("cannot reach push endpoint `{endpoint}`: {}", Chain(source))]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The HTTP client's error, without the URL.
        #[source]
        source: reqwest::Error,
    },
    /// The endpoint did not answer within the timeout. Retryable.
    #[error("push endpoint `{endpoint}` did not answer within {timeout:?}")]
    TimedOut {
        /// The endpoint.
        endpoint: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The endpoint answered 5xx, 408 or 429: it may accept the event later. Retryable.
    #[error("push endpoint `{endpoint}` answered {status}{}, try again later: {body:?}", RetryAfter(*retry_after))]
    Unavailable {
        /// The endpoint.
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// How long the endpoint asked to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
        /// The start of the response body.
        body: String,
    },
    /// The endpoint refused the event (3xx or 4xx other than 408 and 429): sending it
    /// again will not help. Permanent.
    #[error("push endpoint `{endpoint}` refused the event with {status}: {body:?}")]
    Rejected {
        /// The endpoint.
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The envelope breaks a CloudEvents rule and cannot be sent. Permanent.
    #[error("the event cannot be sent: {0}")]
    Envelope(#[from] herald_envelope::EnvelopeError),
    /// The event could not be put into an HTTP request.
    #[error(transparent)]
    Http(herald_http::HttpError),
}

/// The result type of this crate, with [`PushError`] as the default error.
pub type Result<T, E = PushError> = std::result::Result<T, E>;

impl PushError {
    /// Builds a [`PushError::Invalid`], truncating a long value.
    pub(crate) fn invalid(
        field: &'static str,
        value: &str,
        expected: impl Into<String>,
    ) -> PushError {
        PushError::Invalid { field, value: truncated(value), expected: expected.into() }
    }

    /// Whether sending the same event again later may succeed: the endpoint was
    /// unreachable, timed out, or answered 5xx, 408 or 429. Other failures are permanent.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PushError::Unreachable { .. }
                | PushError::TimedOut { .. }
                | PushError::Unavailable { .. }
        )
    }

    /// How long the endpoint asked to wait before the next attempt (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PushError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status the endpoint answered, for a delivery it refused or deferred.
    pub fn status(&self) -> Option<u16> {
        match self {
            PushError::Unavailable { status, .. } | PushError::Rejected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The input field this error is about, for [`PushError::Invalid`].
    pub fn field(&self) -> Option<&'static str> {
        match self {
            PushError::Invalid { field, .. } => Some(field),
            PushError::Http(error) => error.field(),
            _ => None,
        }
    }
}

/// A bad secret stays [`PushError::Invalid`] and a bad envelope [`PushError::Envelope`],
/// so callers see the same errors whichever crate found them.
impl From<herald_http::HttpError> for PushError {
    fn from(error: herald_http::HttpError) -> Self {
        match error {
            herald_http::HttpError::Invalid { field, value, expected } => {
                PushError::Invalid { field, value, expected }
            }
            herald_http::HttpError::Envelope(error) => PushError::Envelope(error),
            other => PushError::Http(other),
        }
    }
}

/// Shows `Retry-After` in a message when the endpoint sent one.
struct RetryAfter(Option<Duration>);

impl std::fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(delay) => write!(f, " (retry after {}s)", delay.as_secs()),
            None => Ok(()),
        }
    }
}

/// Shows an error with its sources, `outer: inner: innermost`: the HTTP client's
/// outer message alone ("error sending request") does not say what went wrong.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

/// Returns `value`, cut to [`MAX_SHOWN_CHARS`] characters with `…` when longer.
pub(crate) fn truncated(value: &str) -> String {
    truncated_to(value, MAX_SHOWN_CHARS)
}

/// Returns `value`, cut to `max_chars` characters with `…` when longer.
pub(crate) fn truncated_to(value: &str, max_chars: usize) -> String {
    match value.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_truncated_on_a_character_boundary() {
        let long = "é".repeat(150);
        let shown = truncated(&long);
        assert_eq!(shown.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(truncated("short"), "short");
    }

    #[test]
    fn unavailable_names_the_status_and_the_delay() {
        let error = PushError::Unavailable {
            endpoint: "http://127.0.0.1/hook".into(),
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
            body: "slow down".into(),
        };
        assert!(error.is_retryable());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(
            error.to_string(),
            "push endpoint `http://127.0.0.1/hook` answered 429 (retry after 7s), try again later: \"slow down\""
        );
    }
}
