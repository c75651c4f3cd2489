//! The consumer side: a notification event becomes planned deliveries, in the consumer's
//! transaction, one row per (idempotency key, recipient, channel).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use herald_consumer::{EnvelopeHandler, HandlerContext, HandlerError};
use herald_db::{Database, Dialect};
use herald_envelope::Envelope;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::deliveries::insert_planned;
use crate::recipients::{Recipient, check_channel};
use crate::templates::Template;
use crate::{
    Delivery, DeliveryStatus, NotificationRequest, NotifyError, Priority, RecipientRef,
    RecipientStore, TemplateStore,
};

/// Plans the deliveries of notification events (route it `notification.#`).
#[derive(Debug, Clone)]
pub struct NotifyHandler {
    recipients: RecipientStore,
    templates: TemplateStore,
    configured: Vec<String>,
    wake: Arc<Notify>,
}

/// One (recipient, channel) to plan.
struct Target<'a> {
    recipient: String,
    channel: String,
    address: Option<String>,
    profile: Option<&'a Recipient>,
}

impl NotifyHandler {
    /// A planner reading recipients and templates from `db`. `configured` are the
    /// channels that have providers: others plan as `failed`, saying so. `wake` is
    /// notified after each planned event (the dispatcher's wake-up).
    pub fn new(db: Database, configured: &[&str], wake: Arc<Notify>) -> NotifyHandler {
        NotifyHandler {
            recipients: RecipientStore::new(db.clone()),
            templates: TemplateStore::new(db),
            configured: configured.iter().map(|c| (*c).to_owned()).collect(),
            wake,
        }
    }

    /// The deliveries `envelope` asks for, as of `now`.
    pub async fn plan(
        &self,
        envelope: &Envelope,
        now: DateTime<Utc>,
    ) -> Result<Vec<Delivery>, HandlerError> {
        let request: NotificationRequest =
            serde_json::from_str(data_text(envelope)?).map_err(|error| {
                HandlerError::dead_letter(format!("not a notification request: {error}"))
            })?;
        if request.recipients.is_empty() {
            return Err(HandlerError::dead_letter(
                "a notification request needs at least one recipient",
            ));
        }
        let mut profiles = HashMap::new();
        for recipient in &request.recipients {
            if let RecipientRef::User(id) = recipient {
                profiles.insert(
                    id.clone(),
                    self.recipients.get(id).await.map_err(|error| retry(&error))?,
                );
            }
        }
        let base = Delivery {
            id: Uuid::nil(),
            event_id: *envelope.id.as_uuid(),
            idempotency_key: request
                .idempotency_key
                .clone()
                .unwrap_or_else(|| envelope.id.to_string()),
            recipient: String::new(),
            channel: String::new(),
            address: None,
            template: request.template.clone(),
            category: request.category.clone(),
            priority: request.priority.as_str().to_owned(),
            subject: None,
            body: None,
            data: request.data.to_string(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_error: None,
            provider: None,
            provider_message_id: None,
            not_before: now,
            created_at: now,
            sent_at: None,
        };
        let mut planned = Vec::new();
        let mut templates: HashMap<(String, String), Result<Template, String>> = HashMap::new();
        for recipient in &request.recipients {
            for target in targets(&request, recipient, &profiles) {
                let mut delivery = base.clone();
                delivery.id = Uuid::now_v7();
                delivery.recipient.clone_from(&target.recipient);
                delivery.channel.clone_from(&target.channel);
                delivery.address.clone_from(&target.address);
                match self.decide(&request, &target, &mut templates, now).await? {
                    Decision::Send { subject, body, not_before, held } => {
                        delivery.subject = subject;
                        delivery.body = Some(body);
                        delivery.not_before = not_before;
                        delivery.status =
                            if held { DeliveryStatus::Held } else { DeliveryStatus::Pending };
                    }
                    Decision::Suppress(reason) => {
                        delivery.status = DeliveryStatus::Suppressed;
                        delivery.last_error = Some(reason);
                    }
                    Decision::Fail(reason) => {
                        delivery.status = DeliveryStatus::Failed;
                        delivery.last_error = Some(reason);
                    }
                }
                planned.push(delivery);
            }
        }
        Ok(planned)
    }

    async fn decide(
        &self,
        request: &NotificationRequest,
        target: &Target<'_>,
        templates: &mut HashMap<(String, String), Result<Template, String>>,
        now: DateTime<Utc>,
    ) -> Result<Decision, HandlerError> {
        let channel = target.channel.as_str();
        if target.channel == "-" {
            return Ok(Decision::Fail(target.address.clone().unwrap_or_default()));
        }
        if let Err(error) = check_channel(channel) {
            return Ok(Decision::Fail(error.to_string()));
        }
        if !self.configured.iter().any(|c| c == channel) {
            return Ok(Decision::Fail(format!("channel `{channel}` has no provider configured")));
        }
        if target.address.is_none() {
            return Ok(Decision::Fail(format!(
                "missing contact: recipient `{}` has no {channel} address",
                target.recipient
            )));
        }
        let critical = request.priority == Priority::Critical;
        if let Some(profile) = target.profile
            && !critical
            && profile.opted_out(channel, request.category.as_deref())
        {
            let category = request.category.as_deref().unwrap_or("any category");
            return Ok(Decision::Suppress(format!("opted out of {channel} for {category}")));
        }
        let locale = target.profile.map_or("en", |p| p.locale.as_str());
        let key = (channel.to_owned(), locale.to_owned());
        if !templates.contains_key(&key) {
            let found = match self.templates.find(&request.template, channel, locale).await {
                Ok(template) => Ok(template),
                Err(NotifyError::Database(error)) => return Err(error.into()),
                Err(error) => Err(error.to_string()),
            };
            templates.insert(key.clone(), found);
        }
        let template = match &templates[&key] {
            Ok(template) => template,
            Err(reason) => return Ok(Decision::Fail(reason.clone())),
        };
        let rendered = match template.render(&request.data, &target.recipient, locale) {
            Ok(rendered) => rendered,
            Err(error) => return Ok(Decision::Fail(error.to_string())),
        };
        let hold = match target.profile {
            Some(profile) if !critical => match (profile.quiet_hours, profile.zone()) {
                (Some(quiet), Ok(zone)) => quiet.hold_until(zone, now),
                _ => None,
            },
            _ => None,
        };
        Ok(Decision::Send {
            subject: rendered.subject,
            body: rendered.body,
            not_before: hold.unwrap_or(now),
            held: hold.is_some(),
        })
    }
}

enum Decision {
    Send { subject: Option<String>, body: String, not_before: DateTime<Utc>, held: bool },
    Suppress(String),
    Fail(String),
}

/// The (recipient, channel) pairs a recipient reference stands for.
fn targets<'a>(
    request: &NotificationRequest,
    recipient: &RecipientRef,
    profiles: &'a HashMap<String, Option<Recipient>>,
) -> Vec<Target<'a>> {
    let direct = |channel: &str, address: &str| {
        vec![Target {
            recipient: recipient.key(),
            channel: channel.to_owned(),
            address: Some(address.to_owned()),
            profile: None,
        }]
    };
    let id = match recipient {
        RecipientRef::User(id) => id,
        RecipientRef::Email(address) => return direct("email", address),
        RecipientRef::Sms(address) => return direct("sms", address),
        RecipientRef::Push(address) => return direct("push", address),
        RecipientRef::Webhook(address) => return direct("webhook", address),
    };
    let unresolved = |reason: String| {
        vec![Target {
            recipient: id.clone(),
            channel: "-".into(),
            address: Some(reason),
            profile: None,
        }]
    };
    let Some(Some(profile)) = profiles.get(id) else {
        return unresolved(NotifyError::UnknownRecipient { id: id.clone() }.to_string());
    };
    let channels: Vec<String> = match &request.channels {
        Some(channels) => channels.clone(),
        None => profile.contacts.iter().map(|(channel, _)| channel.clone()).collect(),
    };
    if channels.is_empty() {
        return unresolved(format!("missing contact: recipient `{id}` has no contacts"));
    }
    channels
        .into_iter()
        .map(|channel| Target {
            recipient: id.clone(),
            address: profile.contact(&channel).map(str::to_owned),
            channel,
            profile: Some(profile),
        })
        .collect()
}

fn data_text(envelope: &Envelope) -> Result<&str, HandlerError> {
    match &envelope.data {
        Some(herald_envelope::Data::Json(raw)) => Ok(raw.get()),
        _ => Err(HandlerError::dead_letter("a notification event carries JSON data")),
    }
}

fn retry(error: &NotifyError) -> HandlerError {
    HandlerError::retry(error.to_string())
}

/// One body for both databases: the deliveries are planned in the consumer's transaction,
/// so they commit exactly when the event is marked processed.
#[async_trait]
impl<DB: Dialect> EnvelopeHandler<DB> for NotifyHandler {
    async fn handle(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError> {
        let planned = self.plan(ctx.envelope, Utc::now()).await?;
        for delivery in &planned {
            insert_planned::<DB>(&mut *ctx.tx, delivery).await?;
        }
        self.wake.notify_one();
        Ok(())
    }
}
