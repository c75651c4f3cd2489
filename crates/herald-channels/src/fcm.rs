//! [`FcmPushProvider`]: push notifications through Firebase Cloud Messaging's HTTP v1 API.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Map, Value, json};

use crate::http::{self, DEFAULT_TIMEOUT, USER_AGENT, base_url, invalid_base_url};
use crate::{ChannelError, ChannelKind, Message, Provider, Receipt, SendError};

/// How the [`FcmPushProvider`] reaches FCM.
///
/// Its `Debug` output never shows the bearer token.
#[derive(Clone)]
pub struct FcmConfig {
    /// The API's base URL. Default `https://fcm.googleapis.com`.
    pub base_url: String,
    /// The Firebase project id.
    pub project_id: String,
    /// An OAuth 2.0 access token of a service account with the
    /// `firebase.messaging` scope. A secret. Such tokens expire (after an hour): rebuild
    /// the provider with a fresh one.
    pub bearer_token: String,
    /// The longest one request may take, from connecting until the response is read.
    /// Default 10 s.
    pub timeout: Duration,
    /// The provider's name in receipts and errors. Default `fcm`.
    pub name: String,
}

impl FcmConfig {
    /// A configuration for FCM's public API, with the default timeout and name.
    pub fn new(project_id: impl Into<String>, bearer_token: impl Into<String>) -> FcmConfig {
        FcmConfig {
            base_url: "https://fcm.googleapis.com".to_owned(),
            project_id: project_id.into(),
            bearer_token: bearer_token.into(),
            timeout: DEFAULT_TIMEOUT,
            name: "fcm".to_owned(),
        }
    }
}

impl fmt::Debug for FcmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmConfig")
            .field("base_url", &self.base_url)
            .field("project_id", &self.project_id)
            .field("bearer_token", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("name", &self.name)
            .finish()
    }
}

/// Sends push notifications through FCM: `POST {base}/v1/projects/{project}/messages:send`
/// with a bearer token and `{"message": {"token", "notification": {"title", "body"},
/// "data"}}`. The `data` values are strings, as FCM requires: a non-string value of
/// [`Message::data`] is sent as its JSON text. The receipt's id is the response's `name`.
///
/// Its `Debug` output never shows the bearer token.
#[derive(Clone)]
pub struct FcmPushProvider {
    http: reqwest::Client,
    endpoint: Url,
    bearer_token: String,
    timeout: Duration,
    name: String,
}

impl FcmPushProvider {
    /// Builds the provider. Fails when the base URL is not an `http(s)` URL or the
    /// project id is not a Firebase project id (letters, digits and `-`).
    pub fn new(config: &FcmConfig) -> Result<FcmPushProvider, ChannelError> {
        let project = &config.project_id;
        let valid = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-';
        if project.is_empty() || !project.bytes().all(valid) {
            return Err(ChannelError::InvalidConfig {
                setting: "fcm.project_id",
                expected: "a Firebase project id: letters, digits and `-`".to_owned(),
            });
        }
        let endpoint = base_url(&config.base_url, "fcm.base_url")?
            .join(&format!("v1/projects/{project}/messages:send"))
            .map_err(|error| invalid_base_url("fcm.base_url", &error))?;
        Ok(FcmPushProvider {
            http: http::client(config.timeout, USER_AGENT, true)?,
            endpoint,
            bearer_token: config.bearer_token.clone(),
            timeout: config.timeout,
            name: config.name.clone(),
        })
    }
}

impl fmt::Debug for FcmPushProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmPushProvider")
            .field("endpoint", &self.endpoint.as_str())
            .field("bearer_token", &"<redacted>")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The request body for one message.
fn request_body(message: &Message) -> Result<Value, String> {
    let mut notification = Map::new();
    if let Some(subject) = &message.subject {
        notification.insert("title".to_owned(), json!(subject));
    }
    notification.insert("body".to_owned(), json!(message.body));
    let mut fcm_message = json!({ "token": message.to, "notification": notification });
    if let Some(data) = string_data(&message.data)? {
        fcm_message["data"] = Value::Object(data);
    }
    Ok(json!({ "message": fcm_message }))
}

/// FCM's `data`: a map of strings. `null` is no data; an object's string values are
/// kept, other values become their JSON text; anything but an object or `null` is an
/// error.
fn string_data(data: &Value) -> Result<Option<Map<String, Value>>, String> {
    let object = match data {
        Value::Null => return Ok(None),
        Value::Object(object) if object.is_empty() => return Ok(None),
        Value::Object(object) => object,
        _ => return Err("push data must be a JSON object (or null)".to_owned()),
    };
    let strings = object
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), Value::String(text))
        })
        .collect();
    Ok(Some(strings))
}

#[async_trait]
impl Provider for FcmPushProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Push
    }

    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let body =
            request_body(message).map_err(|reason| SendError::permanent(&self.name, reason))?;
        let request = self
            .http
            .post(self.endpoint.clone())
            .bearer_auth(&self.bearer_token)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let response = http::send(&self.name, request, self.timeout).await?;
        let name = http::json_string(&response, "name");
        if name.is_none() {
            tracing::warn!(provider = %self.name, message_id = %message.id, "FCM accepted the message without a name.");
        }
        Ok(Receipt { provider: self.name.clone(), provider_message_id: name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_values_become_strings() {
        let message = Message::new("n1", "device-token", "Your order shipped")
            .with_subject("Shipped")
            .with_data(json!({"order": 42, "express": true, "note": "fragile", "items": [1, 2]}));
        let body = request_body(&message).unwrap();
        assert_eq!(
            body,
            json!({"message": {
                "token": "device-token",
                "notification": {"title": "Shipped", "body": "Your order shipped"},
                "data": {"order": "42", "express": "true", "note": "fragile", "items": "[1,2]"},
            }})
        );
    }

    #[test]
    fn no_title_and_no_data_are_left_out() {
        let body = request_body(&Message::new("n1", "device-token", "Hello")).unwrap();
        assert_eq!(
            body,
            json!({"message": {"token": "device-token", "notification": {"body": "Hello"}}})
        );
        let array = Message::new("n1", "t", "b").with_data(json!([1]));
        assert!(request_body(&array).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_bearer_token() {
        let config = FcmConfig::new("my-project", "ya29.secret-token");
        let shown = format!("{config:?} {:?}", FcmPushProvider::new(&config).unwrap());
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("https://fcm.googleapis.com/v1/projects/my-project/messages:send"));
    }
}
