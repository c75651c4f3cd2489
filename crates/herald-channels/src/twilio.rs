//! [`TwilioSmsProvider`]: SMS through Twilio's Messages API.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;

use crate::http::{self, DEFAULT_TIMEOUT, USER_AGENT, base_url, invalid_base_url};
use crate::{ChannelError, ChannelKind, Message, Provider, Receipt, SendError};

/// How the [`TwilioSmsProvider`] reaches Twilio.
///
/// Its `Debug` output never shows the auth token.
#[derive(Clone)]
pub struct TwilioConfig {
    /// The API's base URL, without a trailing path. Default `https://api.twilio.com`.
    pub base_url: String,
    /// The account SID (`AC…`), also the user name of HTTP Basic authentication.
    pub account_sid: String,
    /// The auth token, the password of HTTP Basic authentication. A secret.
    pub auth_token: String,
    /// The sender: an E.164 number of the account, or a messaging service SID.
    pub from: String,
    /// The longest one request may take, from connecting until the response is read.
    /// Default 10 s.
    pub timeout: Duration,
    /// The provider's name in receipts and errors. Default `twilio`; give each of two
    /// Twilio providers in one channel its own.
    pub name: String,
}

impl TwilioConfig {
    /// A configuration for Twilio's public API, with the default timeout and name.
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        from: impl Into<String>,
    ) -> TwilioConfig {
        TwilioConfig {
            base_url: "https://api.twilio.com".to_owned(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            from: from.into(),
            timeout: DEFAULT_TIMEOUT,
            name: "twilio".to_owned(),
        }
    }
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("name", &self.name)
            .finish()
    }
}

/// Sends SMS through Twilio: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` with the
/// form fields `To`, `From` and `Body`, HTTP Basic `sid:token`. The receipt's id is the
/// message's `sid`. [`Message::subject`] and [`Message::data`] are not sent.
///
/// Its `Debug` output never shows the auth token.
#[derive(Clone)]
pub struct TwilioSmsProvider {
    http: reqwest::Client,
    endpoint: Url,
    account_sid: String,
    auth_token: String,
    from: String,
    timeout: Duration,
    name: String,
}

impl TwilioSmsProvider {
    /// Builds the provider. Fails when the base URL is not an `http(s)` URL or the
    /// account SID is not made of letters and digits.
    pub fn new(config: &TwilioConfig) -> Result<TwilioSmsProvider, ChannelError> {
        let sid = &config.account_sid;
        if sid.is_empty() || !sid.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(ChannelError::InvalidConfig {
                setting: "twilio.account_sid",
                expected: "letters and digits (`AC` and 32 hexadecimal digits)".to_owned(),
            });
        }
        let path = format!("2010-04-01/Accounts/{sid}/Messages.json");
        let endpoint = base_url(&config.base_url, "twilio.base_url")?
            .join(&path)
            .map_err(|error| invalid_base_url("twilio.base_url", &error))?;
        Ok(TwilioSmsProvider {
            http: http::client(config.timeout, USER_AGENT, true)?,
            endpoint,
            account_sid: sid.clone(),
            auth_token: config.auth_token.clone(),
            from: config.from.clone(),
            timeout: config.timeout,
            name: config.name.clone(),
        })
    }
}

impl fmt::Debug for TwilioSmsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSmsProvider")
            .field("endpoint", &self.endpoint.as_str())
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for TwilioSmsProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        let form = [("To", &message.to), ("From", &self.from), ("Body", &message.body)];
        let request = self
            .http
            .post(self.endpoint.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form[..]);
        let body = http::send(&self.name, request, self.timeout).await?;
        let sid = http::json_string(&body, "sid");
        if sid.is_none() {
            tracing::warn!(provider = %self.name, message_id = %message.id, "Twilio accepted the message without a sid.");
        }
        Ok(Receipt { provider: self.name.clone(), provider_message_id: sid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_joins_the_base_url_and_the_account() {
        let mut config = TwilioConfig::new("AC123", "token-secret", "+15550001111");
        let provider = TwilioSmsProvider::new(&config).unwrap();
        assert_eq!(
            provider.endpoint.as_str(),
            "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        );
        config.base_url = "http://127.0.0.1:9/twilio".to_owned();
        let provider = TwilioSmsProvider::new(&config).unwrap();
        assert_eq!(
            provider.endpoint.as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC123/Messages.json"
        );
    }

    #[test]
    fn an_account_sid_with_a_path_in_it_is_refused() {
        let config = TwilioConfig::new("AC1/../x", "token", "+15550001111");
        let error = TwilioSmsProvider::new(&config).unwrap_err();
        assert!(error.to_string().starts_with("invalid twilio.account_sid"), "{error}");
    }

    #[test]
    fn debug_output_never_shows_the_auth_token() {
        let config = TwilioConfig::new("AC123", "token-secret", "+15550001111");
        let shown = format!("{config:?} {:?}", TwilioSmsProvider::new(&config).unwrap());
        assert!(!shown.contains("token-secret"), "{shown}");
    }
}
