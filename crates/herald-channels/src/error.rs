//! The errors of the crate: [`SendError`] for one message that was not delivered, and
//! [`ChannelError`] for everything else (a configuration that cannot work, an unknown
//! channel kind).

/// The longest text, in characters, that an error quotes from a server before cutting it.
const MAX_QUOTED_CHARS: usize = 200;

/// One message that a provider (or, from [`Channel::send`](crate::Channel::send), every
/// provider tried) did not deliver.
///
/// The message says the status or reply code and a short reason; it never contains a
/// password, a token or a signing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider} did not deliver the message ({}): {message}", retryability(*.retryable))]
pub struct SendError {
    /// The provider that failed (the last one tried, after a failover).
    pub provider: String,
    /// Whether the same message may succeed later or through another provider: no
    /// connection, a timeout, HTTP 5xx, 408 or 429, a transient (4xx) SMTP reply.
    /// `false` for a refusal that would be repeated: any other HTTP 4xx, a permanent
    /// (5xx) SMTP reply, an invalid address.
    pub retryable: bool,
    /// What went wrong: the status or reply code and a short reason.
    pub message: String,
}

impl SendError {
    /// A failure that may go away: try later, or through the next provider.
    pub fn retryable(provider: &str, message: impl Into<String>) -> SendError {
        SendError { provider: provider.to_owned(), retryable: true, message: message.into() }
    }

    /// A refusal that would be repeated: neither retried nor failed over.
    pub fn permanent(provider: &str, message: impl Into<String>) -> SendError {
        SendError { provider: provider.to_owned(), retryable: false, message: message.into() }
    }
}

/// `retryable` or `permanent`, for [`SendError`]'s message.
fn retryability(retryable: bool) -> &'static str {
    if retryable { "retryable" } else { "permanent" }
}

/// Everything except a failed send that can go wrong: a configuration that cannot work,
/// or an unknown channel kind.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// A channel kind other than `email`, `sms`, `push` or `webhook`.
    #[error("unknown channel kind `{value}`: expected email, sms, push or webhook")]
    UnknownKind {
        /// The text that was parsed.
        value: String,
    },
    /// A configuration setting cannot work. The value is not shown, as it may be a
    /// secret.
    #[error("invalid {setting}: expected {expected}")]
    InvalidConfig {
        /// The setting, as `<config>.<field>` (`webhook.secrets`, `smtp.from`).
        setting: &'static str,
        /// What would have been accepted.
        expected: String,
    },
    /// The HTTP client could not be built (for example, no TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The TLS parameters for the SMTP server could not be set up.
    #[error("cannot set up TLS for smtp host `{host}`: {source}")]
    SmtpTls {
        /// The configured SMTP host.
        host: String,
        /// The error from `lettre`.
        #[source]
        source: lettre::transport::smtp::Error,
    },
    /// The CA file for the SMTP server's certificate cannot be used.
    #[error("cannot use the smtp CA file `{}`: {reason}", path.display())]
    SmtpCaFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why: it cannot be read, or holds no certificate.
        reason: String,
    },
}

/// The crate's result type, with [`ChannelError`] by default.
pub type Result<T, E = ChannelError> = std::result::Result<T, E>;

/// Text from a server or a library error, made fit for one line of an error message:
/// control characters become spaces and the text is cut at [`MAX_QUOTED_CHARS`].
pub(crate) fn quote(text: &str) -> String {
    let mut line: String = text
        .chars()
        .map(|character| if character.is_control() { ' ' } else { character })
        .take(MAX_QUOTED_CHARS)
        .collect();
    if text.chars().count() > MAX_QUOTED_CHARS {
        line.push('…');
    }
    line.trim().to_owned()
}

/// An error and its sources, joined by `: `.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    quote(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_error_says_provider_kind_and_reason() {
        let error = SendError::retryable("twilio", "http 503 Service Unavailable");
        assert_eq!(
            error.to_string(),
            "twilio did not deliver the message (retryable): http 503 Service Unavailable"
        );
        assert!(!SendError::permanent("fcm", "http 400").retryable);
    }

    #[test]
    fn quoted_text_is_one_short_line() {
        assert_eq!(quote("a\r\nb "), "a  b");
        let long = "x".repeat(500);
        assert_eq!(quote(&long).chars().count(), MAX_QUOTED_CHARS + 1);
    }
}
