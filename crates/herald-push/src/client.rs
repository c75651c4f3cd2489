//! Delivering one event to one endpoint: a signed binary-mode CloudEvents `POST`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use herald_envelope::Envelope;
use herald_http::network::PublicAddressesOnly;
use http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use reqwest::Url;

use crate::{PushError, Result, validate};
use herald_http::binary_request;
use herald_http::signature::{
    Secret, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, signature_header,
};

/// The default limit on one delivery, from connecting to the end of the response: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a refusing response's body an error keeps, in bytes.
const EXCERPT_BYTES: usize = 512;
/// How much of an accepting response's body is read (so the connection can be reused)
/// before the connection is dropped instead, in bytes.
const MAX_DRAINED_BYTES: usize = 64 * 1024;

/// How the [`PushClient`] talks HTTP.
#[derive(Debug, Clone)]
pub struct PushClientConfig {
    /// The longest one delivery may take, from connecting until the response is read; a
    /// delivery that takes longer fails with [`PushError::TimedOut`]. Default 10 s.
    pub timeout: Duration,
    /// Idle connections kept open per host for the next delivery. Default 16.
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept open. Default 90 s.
    pub idle_timeout: Duration,
    /// The `User-Agent` header. Default `herald-push/<crate version>`.
    pub user_agent: String,
    /// Whether endpoints may be on loopback, link-local or private addresses. Default
    /// `false`: an endpoint whose address is one of them, literally or once its name is
    /// resolved, is refused before anything is sent (SSRF).
    pub allow_private_endpoints: bool,
}

impl Default for PushClientConfig {
    fn default() -> Self {
        PushClientConfig {
            timeout: DEFAULT_TIMEOUT,
            max_idle_per_host: 16,
            idle_timeout: Duration::from_secs(90),
            user_agent: concat!("herald-push/", env!("CARGO_PKG_VERSION")).to_owned(),
            allow_private_endpoints: false,
        }
    }
}

/// Where to deliver and with which secrets to sign: the current secret, and during a
/// rotation the previous one too.
///
/// Its `Debug` output shows the endpoint but never a secret.
#[derive(Debug, Clone)]
pub struct PushTarget {
    endpoint: Url,
    secrets: Vec<Secret>,
}

impl PushTarget {
    /// A target that signs with one secret. The endpoint must be an `http` or `https`
    /// URL with a host and without credentials.
    pub fn new(endpoint: &str, secret: Secret) -> Result<PushTarget> {
        Ok(PushTarget { endpoint: validate::endpoint(endpoint)?, secrets: vec![secret] })
    }

    /// Also signs with `previous`, so a receiver that still has the old secret verifies.
    #[must_use]
    pub fn with_previous_secret(mut self, previous: Secret) -> PushTarget {
        self.secrets.push(previous);
        self
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The signing secrets, current first.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }
}

/// Delivers events over HTTP, reusing connections between deliveries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PushClient {
    http: reqwest::Client,
    timeout: Duration,
    allow_private_endpoints: bool,
}

impl PushClient {
    /// Builds a client. Redirects are not followed: a `3xx` answer is a refusal, as the
    /// Standard Webhooks specification recommends (update the endpoint instead).
    pub fn new(config: &PushClientConfig) -> Result<PushClient> {
        let mut builder = reqwest::Client::builder();
        if !config.allow_private_endpoints {
            builder = builder.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        let http = builder
            .timeout(config.timeout)
            .pool_max_idle_per_host(config.max_idle_per_host)
            .pool_idle_timeout(config.idle_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.as_str())
            .build()
            .map_err(PushError::Client)?;
        Ok(PushClient {
            http,
            timeout: config.timeout,
            allow_private_endpoints: config.allow_private_endpoints,
        })
    }

    /// Sends `envelope` to the target as a binary-mode CloudEvents `POST`, signed with
    /// every secret of the target (`webhook-id` is the event id, the same on every
    /// attempt; `webhook-timestamp` is now).
    ///
    /// Succeeds on any `2xx`. Fails with a retryable error when the endpoint cannot be
    /// reached, times out, or answers 5xx, 408 or 429 (with `Retry-After` when sent), and
    /// with a permanent one for any other answer or an envelope that cannot be sent.
    pub async fn deliver(&self, target: &PushTarget, envelope: &Envelope) -> Result<()> {
        if !self.allow_private_endpoints {
            validate::refuse_internal(&target.endpoint)?;
        }
        let request = binary_request(envelope)?;
        let id = envelope.id.to_string();
        let timestamp = Utc::now().timestamp();
        let signatures = signature_header(&target.secrets, &id, timestamp, &request.body);
        let response = self
            .http
            .post(target.endpoint.clone())
            .headers(request.headers)
            .header(WEBHOOK_ID, id.as_str())
            .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(WEBHOOK_SIGNATURE, signatures)
            .body(request.body)
            .send()
            .await
            .map_err(|error| self.send_error(target, error))?;
        let status = response.status();
        outcome(target, response).await?;
        tracing::debug!(endpoint = %validate::shown_endpoint(target.endpoint.as_str()), event_id = %id, status = status.as_u16(), "Event pushed.");
        Ok(())
    }

    /// Classifies a failure to get a response: a timeout, or an unreachable endpoint.
    fn send_error(&self, target: &PushTarget, error: reqwest::Error) -> PushError {
        let endpoint = validate::shown_endpoint(target.endpoint.as_str());
        if error.is_timeout() {
            return PushError::TimedOut { endpoint, timeout: self.timeout };
        }
        PushError::Unreachable { endpoint, source: error.without_url() }
    }
}

/// Turns a response into the delivery's outcome.
async fn outcome(target: &PushTarget, response: reqwest::Response) -> Result<()> {
    let status = response.status();
    if status.is_success() {
        drain(response).await;
        return Ok(());
    }
    let endpoint = validate::shown_endpoint(target.endpoint.as_str());
    if !is_retryable(status) {
        let body = excerpt(response).await;
        return Err(PushError::Rejected { endpoint, status: status.as_u16(), body });
    }
    let retry_after = retry_after(response.headers(), Utc::now());
    let body = excerpt(response).await;
    Err(PushError::Unavailable { endpoint, status: status.as_u16(), retry_after, body })
}

/// Whether an answer asks to try again later: 5xx, 408 Request Timeout, 429 Too Many
/// Requests.
fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (a past date means now).
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some((date.with_timezone(&Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// The start of the body, as one line of text; empty when it cannot be read.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    let text = String::from_utf8_lossy(&bytes);
    let line: String = text
        .chars()
        .map(|character| if character.is_control() { ' ' } else { character })
        .collect();
    line.trim().to_owned()
}

/// Reads and drops a small body, so the connection goes back to the pool.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while read <= MAX_DRAINED_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn headers_with_retry_after(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, value.parse().unwrap());
        headers
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        let seconds = headers_with_retry_after("120");
        assert_eq!(retry_after(&seconds, now), Some(Duration::from_secs(120)));
        let date = headers_with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(retry_after(&date, now), Some(Duration::from_secs(60)));
        let past = headers_with_retry_after("Wed, 21 Oct 2015 07:00:00 GMT");
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers_with_retry_after("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn only_server_errors_408_and_429_are_retryable() {
        for code in [500, 502, 503, 504, 408, 429] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn target_debug_output_hides_the_secrets() {
        let secret = Secret::generate();
        let target = PushTarget::new("http://127.0.0.1:9/hook", secret.clone())
            .unwrap()
            .with_previous_secret(Secret::generate());
        let shown = format!("{target:?}");
        assert!(shown.contains("127.0.0.1"), "{shown}");
        assert!(!shown.contains(&secret.expose()[6..]), "{shown}");
    }
}
