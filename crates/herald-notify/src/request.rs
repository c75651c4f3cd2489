//! The payload of a notification event (`notification.#`): what to send to whom.

use serde::{Deserialize, Serialize};

/// How urgent a notification is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Whenever convenient.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Sooner than the others.
    High,
    /// Bypasses quiet hours and opt-outs (legal and security notices).
    Critical,
}

impl Priority {
    /// The name stored in `herald_notifications.priority`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

/// Who receives a notification: a user Herald knows, or a direct address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecipientRef {
    /// A recipient id whose contacts, locale, time zone and preferences are stored.
    User(String),
    /// An email address.
    Email(String),
    /// A phone number (E.164) for SMS.
    Sms(String),
    /// A push device token.
    Push(String),
    /// A webhook URL.
    Webhook(String),
}

impl RecipientRef {
    /// The recipient as stored in `herald_notifications.recipient`: the user id, or
    /// `<channel>:<address>`.
    pub fn key(&self) -> String {
        match self {
            RecipientRef::User(id) => id.clone(),
            RecipientRef::Email(address) => format!("email:{address}"),
            RecipientRef::Sms(address) => format!("sms:{address}"),
            RecipientRef::Push(address) => format!("push:{address}"),
            RecipientRef::Webhook(address) => format!("webhook:{address}"),
        }
    }
}

/// A notification event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotificationRequest {
    /// The template's name, e.g. `order_shipped`.
    pub template: String,
    /// One or more recipients.
    pub recipients: Vec<RecipientRef>,
    /// The channels to use (`email`, `sms`, `push`, `webhook`); default: every channel a
    /// user has a contact for, or the channel of a direct address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// The category, for opt-outs (e.g. `marketing`, `orders`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The values the template renders.
    #[serde(default)]
    pub data: serde_json::Value,
    /// Deduplicates notifications across events: the same key, recipient and channel
    /// are sent once. Default: the event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The priority.
    #[serde(default)]
    pub priority: Priority,
}

/// The notification event type Herald's own producers use (`herald.notify`, routing key `notification.herald.notify.v1`).
impl herald_envelope::Event for NotificationRequest {
    const TYPE: &'static str = "herald.notify";
    const VERSION: u32 = 1;
    const KIND: herald_envelope::EventKind = herald_envelope::EventKind::Notification;

    fn partition_key(&self) -> String {
        self.idempotency_key.clone().unwrap_or_else(|| self.template.clone())
    }
}
