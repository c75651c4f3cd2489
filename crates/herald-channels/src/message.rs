//! What is sent ([`Message`]), through which kind of channel ([`ChannelKind`]), and the
//! provider's acknowledgement ([`Receipt`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ChannelError;

/// A kind of delivery channel. Shown and parsed as `email`, `sms`, `push` or `webhook`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Email over SMTP; the address is a mailbox (`ada@example.com`).
    Email,
    /// A text message; the address is an E.164 phone number (`+15551234567`).
    Sms,
    /// A mobile push notification; the address is a device registration token.
    Push,
    /// A signed HTTP `POST`; the address is the endpoint URL.
    Webhook,
}

impl ChannelKind {
    /// Every kind, in declaration order.
    pub const ALL: [ChannelKind; 4] =
        [ChannelKind::Email, ChannelKind::Sms, ChannelKind::Push, ChannelKind::Webhook];

    /// The lowercase name: `email`, `sms`, `push` or `webhook`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Sms => "sms",
            ChannelKind::Push => "push",
            ChannelKind::Webhook => "webhook",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelKind {
    type Err = ChannelError;

    /// Parses the lowercase name; anything else is [`ChannelError::UnknownKind`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ChannelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| ChannelError::UnknownKind { value: text.to_owned() })
    }
}

/// One rendered notification to one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The notification id, the idempotency key towards providers: the `webhook-id`
    /// header of a webhook and the local part of an email's `Message-ID`. The same on
    /// every attempt.
    pub id: String,
    /// The address: an email address, an E.164 phone number, a push device token or a
    /// webhook URL, depending on the channel.
    pub to: String,
    /// The email subject or the push notification's title; SMS ignores it.
    pub subject: Option<String>,
    /// The rendered text body.
    pub body: String,
    /// Structured data: the webhook body's `data`, and the push notification's `data`
    /// (a JSON object; non-string values are sent as their JSON text, as FCM requires
    /// strings). Email and SMS ignore it. `null` when there is none.
    pub data: serde_json::Value,
}

impl Message {
    /// A message without subject or data.
    pub fn new(id: impl Into<String>, to: impl Into<String>, body: impl Into<String>) -> Message {
        Message {
            id: id.into(),
            to: to.into(),
            subject: None,
            body: body.into(),
            data: serde_json::Value::Null,
        }
    }

    /// Sets the subject (email) or title (push).
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Message {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the structured data.
    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Message {
        self.data = data;
        self
    }
}

/// A provider's acknowledgement of one accepted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The name of the provider that accepted the message (after any failover).
    pub provider: String,
    /// The provider's id for the message, when it gives one: Twilio's `sid`, FCM's
    /// `name`, the `Message-ID` of an email; `None` for a webhook.
    pub provider_message_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_display_parse_and_serialise_as_lowercase_names() {
        for (kind, name) in ChannelKind::ALL.into_iter().zip(["email", "sms", "push", "webhook"]) {
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<ChannelKind>().unwrap(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(name));
            let parsed: ChannelKind = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(parsed, kind);
        }
    }

    #[test]
    fn an_unknown_kind_is_named_with_the_accepted_ones() {
        let error = "Email".parse::<ChannelKind>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown channel kind `Email`: expected email, sms, push or webhook"
        );
    }
}
