//! What the HTTP providers share: building the client, and turning a failed request or a
//! refusing response into a classified [`SendError`].

use std::time::Duration;

use std::fmt;

use herald_http::network::PublicAddressesOnly;
use reqwest::{StatusCode, Url};

use crate::error::{chain, quote};
use crate::{ChannelError, SendError};

/// The default `User-Agent` of the HTTP providers.
pub(crate) const USER_AGENT: &str = concat!("herald-channels/", env!("CARGO_PKG_VERSION"));
/// The default limit on one HTTP send, from connecting to the end of the response: 10 s.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a response body is read, in bytes; a longer body is cut.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A client with a whole-request `timeout` that follows no redirects: a `3xx` answer is a
/// permanent refusal (the endpoint moved; fix the configuration).
/// Unless `allow_private`, names are resolved to public addresses only (SSRF).
pub(crate) fn client(
    timeout: Duration,
    user_agent: &str,
    allow_private: bool,
) -> Result<reqwest::Client, ChannelError> {
    let mut builder = reqwest::Client::builder();
    if !allow_private {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicAddressesOnly));
    }
    builder
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .map_err(ChannelError::HttpClient)
}

/// Parses a provider's base URL, so that paths can be joined onto it.
pub(crate) fn base_url(text: &str, setting: &'static str) -> Result<Url, ChannelError> {
    let mut url = Url::parse(text).map_err(|error| invalid_base_url(setting, &error))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ChannelError::InvalidConfig {
            setting,
            expected: format!("an http or https url, not scheme `{}`", url.scheme()),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The error for a base URL that does not parse.
pub(crate) fn invalid_base_url(setting: &'static str, error: &dyn fmt::Display) -> ChannelError {
    ChannelError::InvalidConfig { setting, expected: format!("an http or https url ({error})") }
}

/// Classifies a request that got no response. A timeout or a connection failure is
/// retryable; a request that could not even be built (a bad header value) is permanent.
/// The URL is left out, as it may carry a token.
pub(crate) fn request_error(provider: &str, error: reqwest::Error, timeout: Duration) -> SendError {
    if error.is_timeout() {
        return SendError::retryable(provider, format!("no answer within {timeout:?}"));
    }
    let (is_builder, is_connect) = (error.is_builder(), error.is_connect());
    let reason = chain(&error.without_url());
    if is_builder {
        return SendError::permanent(provider, format!("invalid request: {reason}"));
    }
    if is_connect {
        return SendError::retryable(provider, format!("cannot connect: {reason}"));
    }
    SendError::retryable(provider, format!("request failed: {reason}"))
}

/// Whether an HTTP status asks to try again (later or elsewhere): 5xx, 408 Request
/// Timeout, 429 Too Many Requests.
pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// Sends a request and returns the body of a `2xx` answer. Any other answer is an error,
/// retryable as [`is_retryable`] says, whose message has the status and the provider's
/// own reason when its JSON body has one.
pub(crate) async fn send(
    provider: &str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Vec<u8>, SendError> {
    let response = request.send().await.map_err(|error| request_error(provider, error, timeout))?;
    let status = response.status();
    let body = read_body(response).await;
    if status.is_success() {
        return Ok(body);
    }
    let reason = provider_reason(&body).map(|reason| format!(": {reason}")).unwrap_or_default();
    let message = format!("http {status}{reason}");
    if is_retryable(status) {
        Err(SendError::retryable(provider, message))
    } else {
        Err(SendError::permanent(provider, message))
    }
}

/// Reads up to [`MAX_BODY_BYTES`] of a body. A body that breaks off is kept as far as it
/// came: the status has already decided the outcome.
async fn read_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(MAX_BODY_BYTES);
    body
}

/// The reason a provider gives in a JSON error body: Twilio's `message`, FCM's
/// `error.message` (with `error.status`), or a plain `error` string. Only these fields are
/// quoted, never the whole body.
fn provider_reason(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = json.get("error");
    let text = json
        .get("message")
        .and_then(serde_json::Value::as_str)
        .or_else(|| error?.get("message")?.as_str())
        .or_else(|| error?.as_str())?;
    let status = error.and_then(|error| error.get("status")).and_then(serde_json::Value::as_str);
    Some(match status {
        Some(status) => format!("{} {}", quote(status), quote(text)),
        None => quote(text),
    })
}

/// Reads a string field from a JSON response body (the id of an accepted message).
pub(crate) fn json_string(body: &[u8], field: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    json.get(field)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_throttling_and_request_timeouts_are_retryable() {
        for code in [500, 502, 503, 504, 408, 429] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [300, 301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn the_reasons_of_twilio_and_fcm_are_quoted() {
        let twilio = br#"{"code":21211,"message":"The 'To' number is not valid.","status":400}"#;
        assert_eq!(provider_reason(twilio).unwrap(), "The 'To' number is not valid.");
        let fcm = br#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;
        assert_eq!(provider_reason(fcm).unwrap(), "NOT_FOUND Requested entity was not found.");
        assert_eq!(provider_reason(b"<html>oops</html>"), None);
        assert_eq!(provider_reason(br#"{"error":"quota"}"#).unwrap(), "quota");
    }
}
