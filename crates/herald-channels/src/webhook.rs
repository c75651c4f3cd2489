//! [`WebhookProvider`]: a JSON `POST` to the message's URL, signed by the
//! [Standard Webhooks](https://www.standardwebhooks.com) scheme.
//!
//! The signing itself is `herald_http::signature` (the same code that signs Herald's push
//! subscriptions, tested against the specification's reference vector).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use herald_http::signature::{
    Secret, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, signature_header,
};
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;

use crate::http::{self, DEFAULT_TIMEOUT, USER_AGENT};
use crate::{ChannelError, ChannelKind, Message, Provider, Receipt, SendError};

/// The name of the webhook provider.
const NAME: &str = "webhook";

/// How the [`WebhookProvider`] signs and sends.
///
/// Its `Debug` output shows how many secrets there are, never a secret.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Standard Webhooks secrets, `whsec_<base64 key>` with a key of 24 to 64 bytes. Each
    /// request carries one `v1` signature per secret, space-separated: during a rotation,
    /// list the new secret and the old one, so receivers that know either verify.
    pub secrets: Vec<String>,
    /// The longest one request may take, from connecting until the response is read.
    /// Default 10 s.
    pub timeout: Duration,
    /// The `User-Agent` header. Default `herald-channels/<crate version>`.
    pub user_agent: String,
    /// Whether a message may go to a URL on loopback, link-local or private addresses.
    /// Default `false`: recipients' URLs come from users, and could otherwise make Herald
    /// send requests into its own network (SSRF); such a message fails permanently.
    pub allow_private_endpoints: bool,
}

impl WebhookConfig {
    /// A configuration that signs with one secret, with the default timeout and user
    /// agent.
    pub fn new(secret: impl Into<String>) -> WebhookConfig {
        WebhookConfig {
            secrets: vec![secret.into()],
            timeout: DEFAULT_TIMEOUT,
            user_agent: USER_AGENT.to_owned(),
            allow_private_endpoints: false,
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secrets", &format_args!("<{} redacted>", self.secrets.len()))
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("allow_private_endpoints", &self.allow_private_endpoints)
            .finish()
    }
}

/// Sends each message as a signed JSON `POST` to the URL in [`Message::to`]. Named
/// `webhook`.
///
/// The body is `{"id", "subject", "body", "data"}`; the headers are `webhook-id` (the
/// message id, the same on every attempt), `webhook-timestamp` (now, in seconds) and
/// `webhook-signature`. Any `2xx` is a success; redirects are not followed.
#[derive(Debug, Clone)]
pub struct WebhookProvider {
    http: reqwest::Client,
    secrets: Vec<Secret>,
    timeout: Duration,
    allow_private_endpoints: bool,
}

/// The JSON body of a webhook.
#[derive(Serialize)]
struct WebhookBody<'a> {
    id: &'a str,
    subject: Option<&'a str>,
    body: &'a str,
    data: &'a serde_json::Value,
}

impl WebhookProvider {
    /// Builds the provider. Fails when there is no secret or a secret is not
    /// `whsec_<base64 key of 24 to 64 bytes>` (the error does not show the secret).
    pub fn new(config: &WebhookConfig) -> Result<WebhookProvider, ChannelError> {
        if config.secrets.is_empty() {
            return Err(invalid_secrets("at least one secret"));
        }
        let secrets = config
            .secrets
            .iter()
            .map(|text| Secret::parse(text))
            .collect::<Result<Vec<Secret>, _>>()
            .map_err(|_| invalid_secrets("`whsec_` followed by a base64 key of 24 to 64 bytes"))?;
        let http =
            http::client(config.timeout, &config.user_agent, config.allow_private_endpoints)?;
        Ok(WebhookProvider {
            http,
            secrets,
            timeout: config.timeout,
            allow_private_endpoints: config.allow_private_endpoints,
        })
    }

    /// The endpoint of a message: an `http` or `https` URL. The error does not repeat the
    /// URL, which may carry a token.
    fn endpoint(&self, message: &Message) -> Result<Url, SendError> {
        let url = Url::parse(&message.to)
            .map_err(|error| SendError::permanent(NAME, format!("invalid webhook url: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            let reason =
                format!("invalid webhook url: scheme `{}`, expected http or https", url.scheme());
            return Err(SendError::permanent(NAME, reason));
        }
        let internal = url.host_str().is_some_and(herald_http::network::is_internal_host);
        if internal && !self.allow_private_endpoints {
            let reason = "webhook url on a loopback, link-local or private address, refused \
                          unless the operator allows them (--allow-private-endpoints)";
            return Err(SendError::permanent(NAME, reason.to_owned()));
        }
        Ok(url)
    }
}

/// The error for unusable webhook secrets.
fn invalid_secrets(expected: &str) -> ChannelError {
    ChannelError::InvalidConfig { setting: "webhook.secrets", expected: expected.to_owned() }
}

#[async_trait]
impl Provider for WebhookProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let endpoint = self.endpoint(message)?;
        let body = serde_json::to_vec(&WebhookBody {
            id: &message.id,
            subject: message.subject.as_deref(),
            body: &message.body,
            data: &message.data,
        })
        .map_err(|error| SendError::permanent(NAME, format!("cannot encode the body: {error}")))?;
        let timestamp = chrono::Utc::now().timestamp();
        let signatures = signature_header(&self.secrets, &message.id, timestamp, &body);
        let request = self
            .http
            .post(endpoint)
            .header(CONTENT_TYPE, "application/json")
            .header(WEBHOOK_ID, message.id.as_str())
            .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(WEBHOOK_SIGNATURE, signatures)
            .body(body);
        http::send(NAME, request, self.timeout).await?;
        Ok(Receipt { provider: NAME.to_owned(), provider_message_id: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn debug_output_never_shows_a_secret() {
        let config = WebhookConfig::new(SECRET);
        let shown = format!("{config:?} {:?}", WebhookProvider::new(&config).unwrap());
        assert!(!shown.contains("C2FVsBQ"), "{shown}");
        assert!(shown.contains("<1 redacted>"), "{shown}");
    }

    #[test]
    fn missing_or_malformed_secrets_are_refused_without_showing_them() {
        let mut config = WebhookConfig::new("whsec_tooshort");
        let error = WebhookProvider::new(&config).unwrap_err();
        assert!(error.to_string().starts_with("invalid webhook.secrets"), "{error}");
        assert!(!error.to_string().contains("tooshort"), "{error}");
        config.secrets.clear();
        assert!(WebhookProvider::new(&config).is_err());
    }

    fn provider(allow_private_endpoints: bool) -> WebhookProvider {
        let secret = Secret::generate();
        let config =
            WebhookConfig { allow_private_endpoints, ..WebhookConfig::new(secret.expose()) };
        WebhookProvider::new(&config).unwrap()
    }

    #[test]
    fn only_http_urls_are_endpoints() {
        let provider = provider(false);
        let message = Message::new("n1", "ftp://example.com/hook", "hi");
        let error = provider.endpoint(&message).unwrap_err();
        assert!(!error.retryable);
        assert!(provider.endpoint(&Message::new("n1", "not a url", "hi")).is_err());
        assert!(provider.endpoint(&Message::new("n1", "https://example.com/h", "")).is_ok());
    }

    #[test]
    fn private_addresses_are_refused_unless_allowed() {
        for internal in ["http://127.0.0.1:9/h", "http://localhost/h", "http://169.254.169.254/"] {
            let message = Message::new("n1", internal, "hi");
            let error = provider(false).endpoint(&message).unwrap_err();
            assert!(!error.retryable && error.to_string().contains("private"), "{error}");
            assert!(provider(true).endpoint(&message).is_ok(), "{internal}");
        }
    }
}
