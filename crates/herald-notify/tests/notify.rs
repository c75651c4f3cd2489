//! The notification service end to end over real HTTP: events on `notification.#` are
//! planned (idempotently), rendered from templates, filtered by preferences and quiet
//! hours, and sent as signed webhooks to a local receiver that verifies every signature;
//! bad input ends as `failed` with the reason, never a crash.
#![allow(clippy::disallowed_methods)] // the webhook receivers here are not Herald APIs

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use common::Service;
use herald_channels::{Channel, ChannelKind, WebhookConfig, WebhookProvider};
use herald_http::Secret;
use herald_notify::{DeliveryStatus, NotificationRequest, Priority, QuietHours, RecipientRef};
use herald_testkit::TestDb;
use serde_json::json;

/// A webhook endpoint that verifies each signature and counts deliveries per id.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<HashMap<String, (usize, serde_json::Value)>>>,
    forged: Arc<Mutex<usize>>,
}

async fn receive(
    State((receiver, secret)): State<(Receiver, Arc<Secret>)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    if herald_http::verify(&secret, &headers, &body).is_err() {
        *receiver.forged.lock().expect("lock") += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut received = receiver.received.lock().expect("lock");
    received.entry(id).or_insert((0, json)).0 += 1;
    StatusCode::NO_CONTENT
}

/// Serves a receiver; returns it, its URL and the webhook channel that signs for it.
async fn webhook_endpoint() -> (Receiver, String, Channel) {
    let secret = Secret::generate();
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state((receiver.clone(), Arc::new(secret.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let provider = WebhookProvider::new(&local_webhooks(&secret)).expect("webhook provider");
    let channel = Channel::new(ChannelKind::Webhook).with_provider(Arc::new(provider), None);
    (receiver, url, channel)
}

fn request(template: &str, recipients: Vec<RecipientRef>) -> NotificationRequest {
    NotificationRequest {
        template: template.into(),
        recipients,
        channels: None,
        category: Some("orders".into()),
        data: json!({ "order_id": "o-7", "carrier": "post" }),
        idempotency_key: None,
        priority: Priority::Normal,
    }
}

async fn shipped_template(service: &Service) {
    service
        .templates
        .save(
            "order_shipped",
            "webhook",
            "en",
            Some("Order {{ order_id }} shipped"),
            "By {{ carrier }}",
            None,
        )
        .await
        .expect("template en");
    service
        .templates
        .save(
            "order_shipped",
            "webhook",
            "de",
            Some("Bestellung {{ order_id }} versandt"),
            "Mit {{ carrier }}",
            None,
        )
        .await
        .expect("template de");
}

async fn webhooks_are_rendered_signed_and_sent_once(test_db: TestDb) {
    let mut service = Service::new(test_db).await;
    let (receiver, url, channel) = webhook_endpoint().await;
    shipped_template(&service).await;
    service.recipients.upsert("anna", "de-CH", "Europe/Zurich", None).await.expect("anna");
    service.recipients.set_contact("anna", "webhook", &url).await.expect("contact");
    service.start(vec![channel]);

    let mut asked = request(
        "order_shipped",
        vec![RecipientRef::User("anna".into()), RecipientRef::Webhook(url.clone())],
    );
    asked.idempotency_key = Some("shipment-o-7".into());
    let first = service.notify(&asked).await;
    let sent = service.settled(&first, 2).await;
    assert!(sent.iter().all(|d| d.status == DeliveryStatus::Sent), "{sent:?}");
    assert!(sent.iter().all(|d| d.provider.as_deref() == Some("webhook") && d.sent_at.is_some()));
    let anna = sent.iter().find(|d| d.recipient == "anna").expect("anna's");
    assert_eq!(anna.subject.as_deref(), Some("Bestellung o-7 versandt"), "de-CH falls back to de");
    let direct = sent.iter().find(|d| d.recipient.starts_with("webhook:")).expect("direct");
    assert_eq!(direct.body.as_deref(), Some("By post"), "a direct address renders in en");

    // The same event again, and another event with the same idempotency key.
    service.publish(std::slice::from_ref(&first)).await;
    let second = service.notify(&asked).await;
    let later =
        service.notify(&request("order_shipped", vec![RecipientRef::Webhook(url.clone())])).await;
    service.settled(&later, 1).await;
    assert!(service.settled(&second, 0).await.is_empty(), "the key was used: nothing planned");
    let received = receiver.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 3, "two for the first event, one for the last");
    assert!(received.values().all(|(count, _)| *count == 1), "each sent once: {received:?}");
    assert_eq!(*receiver.forged.lock().expect("lock"), 0, "every signature verified");
    let body = &received[&anna.id.to_string()].1;
    assert_eq!(body["subject"], "Bestellung o-7 versandt", "{body}");
    service.stop().await;
}

async fn preferences_suppress_hold_and_critical_bypasses(test_db: TestDb) {
    let mut service = Service::new(test_db).await;
    let (receiver, url, channel) = webhook_endpoint().await;
    shipped_template(&service).await;
    let recipients = &service.recipients;
    recipients.upsert("opted", "en", "UTC", None).await.expect("opted");
    recipients.set_contact("opted", "webhook", &url).await.expect("contact");
    recipients.set_opt_out("opted", "webhook", "orders", true).await.expect("opt out");
    // Quiet hours around now, wherever the clock stands: from an hour ago to an hour ahead.
    let now = Utc::now();
    let quiet = format!(
        "{}-{}",
        (now - chrono::Duration::hours(1)).format("%H:%M"),
        (now + chrono::Duration::hours(1)).format("%H:%M")
    );
    recipients
        .upsert("sleeping", "en", "UTC", Some(QuietHours::parse(&quiet).expect("quiet")))
        .await
        .expect("sleeping");
    recipients.set_contact("sleeping", "webhook", &url).await.expect("contact");
    service.start(vec![channel]);

    let users = vec![RecipientRef::User("opted".into()), RecipientRef::User("sleeping".into())];
    let normal = service.notify(&request("order_shipped", users.clone())).await;
    let planned = service.settled(&normal, 2).await;
    assert_eq!(planned[0].recipient, "opted");
    assert_eq!(planned[0].status, DeliveryStatus::Suppressed);
    assert!(
        planned[0].last_error.as_deref().is_some_and(|e| e.contains("opted out")),
        "{planned:?}"
    );
    assert_eq!(planned[1].status, DeliveryStatus::Held);
    let minute = |t: chrono::DateTime<Utc>| t.format("%H:%M").to_string();
    assert_eq!(minute(planned[1].not_before), minute(now + chrono::Duration::hours(1)));
    assert!(
        planned[1].not_before > now + chrono::Duration::minutes(58),
        "held until the quiet hours end"
    );

    let mut urgent = request("order_shipped", users);
    urgent.priority = Priority::Critical;
    let critical = service.notify(&urgent).await;
    let sent = service.settled(&critical, 2).await;
    assert!(
        sent.iter().all(|d| d.status == DeliveryStatus::Sent),
        "critical bypasses both: {sent:?}"
    );

    // The quiet hours end: the held delivery becomes due, and goes.
    let held = planned[1].id;
    assert!(service.deliveries.release_held(held, Utc::now()).await.expect("quiet hours over"));
    let released = service.reaches(held, DeliveryStatus::Sent).await;
    assert_eq!(released.attempts, 1);
    assert_eq!(receiver.received.lock().expect("lock").len(), 3, "2 critical + 1 released");
    service.stop().await;
}

async fn bad_input_fails_with_the_reason(test_db: TestDb) {
    let mut service = Service::new(test_db).await;
    let (_receiver, url, channel) = webhook_endpoint().await;
    shipped_template(&service).await;
    service.recipients.upsert("mute", "en", "UTC", None).await.expect("mute");
    service.recipients.set_contact("mute", "webhook", &url).await.expect("contact");
    service.start(vec![channel]);

    let mut unknown = request("no_such_template", vec![RecipientRef::Webhook(url.clone())]);
    unknown.idempotency_key = Some("a".into());
    let mut no_contact = request("order_shipped", vec![RecipientRef::User("mute".into())]);
    no_contact.channels = Some(vec!["email".into(), "webhook".into()]);
    let mut lacking = request("order_shipped", vec![RecipientRef::Webhook(url.clone())]);
    lacking.data = json!({ "order_id": "o-8" });
    let stranger = request("order_shipped", vec![RecipientRef::User("nobody".into())]);

    let event = service.notify(&unknown).await;
    let found = service.settled(&event, 1).await;
    assert_eq!(found[0].status, DeliveryStatus::Failed);
    assert_eq!(
        found[0].last_error.as_deref(),
        Some("no template `no_such_template` for channel `webhook`")
    );

    let event = service.notify(&no_contact).await;
    let found = service.settled(&event, 2).await;
    assert_eq!((found[0].channel.as_str(), found[0].status), ("email", DeliveryStatus::Failed));
    assert!(
        found[0].last_error.as_deref().is_some_and(|e| e.contains("no provider configured") || e.contains("no email address")),
        "{found:?}"
    );
    assert_eq!(found[1].status, DeliveryStatus::Sent, "the webhook still goes");

    let event = service.notify(&lacking).await;
    let found = service.settled(&event, 1).await;
    assert_eq!(found[0].status, DeliveryStatus::Failed);
    assert!(
        found[0].last_error.as_deref().is_some_and(|e| e.contains("cannot be rendered")),
        "{found:?}"
    );

    let event = service.notify(&stranger).await;
    let found = service.settled(&event, 1).await;
    assert_eq!(found[0].status, DeliveryStatus::Failed);
    assert!(
        found[0].last_error.as_deref().is_some_and(|e| e.contains("no recipient `nobody`")),
        "{found:?}"
    );
    service.stop().await;
}

/// Email over real SMTP: the message the server received has the recipient's address, and
/// the subject and body rendered from the recipient's locale's template.
async fn emails_reach_a_real_smtp_server_rendered(test_db: TestDb) {
    let mut service = Service::new(test_db).await;
    let smtp = herald_testkit::smtp::SmtpServer::start().await;
    let mut config = herald_channels::SmtpConfig::new("127.0.0.1", "shop@herald.test");
    config.port = smtp.port;
    config.tls = herald_channels::SmtpTls::None;
    let provider = herald_channels::SmtpProvider::new(&config).expect("smtp provider");
    let channel = Channel::new(ChannelKind::Email).with_provider(Arc::new(provider), None);
    let templates = &service.templates;
    templates
        .save(
            "order_shipped",
            "email",
            "en",
            Some("Your order {{ order_id }} shipped"),
            "It comes by {{ carrier }}.",
            None,
        )
        .await
        .expect("en");
    templates
        .save(
            "order_shipped",
            "email",
            "fr",
            Some("Commande {{ order_id }} expédiée"),
            "Elle arrive par {{ carrier }}.",
            None,
        )
        .await
        .expect("fr");
    service.recipients.upsert("claire", "fr-CA", "America/Montreal", None).await.expect("claire");
    service
        .recipients
        .set_contact("claire", "email", "claire@example.test")
        .await
        .expect("contact");
    service.start(vec![channel]);

    let asked = request(
        "order_shipped",
        vec![RecipientRef::User("claire".into()), RecipientRef::Email("ops@example.test".into())],
    );
    let event = service.notify(&asked).await;
    let sent = service.settled(&event, 2).await;
    assert!(
        sent.iter()
            .all(|d| d.status == DeliveryStatus::Sent && d.provider.as_deref() == Some("smtp")),
        "{sent:?}"
    );
    let mut received = smtp.messages();
    received.sort_by(|a, b| a.to.cmp(&b.to));
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].rcpt_tos, ["claire@example.test"]);
    assert_eq!(received[0].subject.as_deref(), Some("Commande o-7 expédiée"));
    assert_eq!(received[0].body.trim(), "Elle arrive par post.");
    assert_eq!(received[1].rcpt_tos, ["ops@example.test"]);
    assert_eq!(received[1].subject.as_deref(), Some("Your order o-7 shipped"));
    assert!(received.iter().all(|m| m.from.contains("shop@herald.test")));
    service.stop().await;
}

/// A provider that keeps failing: retried with backoff, then `failed` after the last
/// attempt with every error counted; `retry_failed` sends it again once the endpoint works.
async fn failing_deliveries_are_retried_then_failed_then_replayed(test_db: TestDb) {
    let mut service = Service::new(test_db).await;
    let secret = Secret::generate();
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let state = (Arc::clone(&healthy), Arc::clone(&calls));
    let app = axum::Router::new()
        .route(
            "/flaky",
            axum::routing::post(
                |State((healthy, calls)): State<(
                    Arc<std::sync::atomic::AtomicBool>,
                    Arc<std::sync::atomic::AtomicUsize>,
                )>| async move {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if healthy.load(std::sync::atomic::Ordering::SeqCst) {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/flaky", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let provider = WebhookProvider::new(&local_webhooks(&secret)).expect("provider");
    shipped_template(&service).await;
    service.start(vec![Channel::new(ChannelKind::Webhook).with_provider(Arc::new(provider), None)]);

    let event = service.notify(&request("order_shipped", vec![RecipientRef::Webhook(url)])).await;
    let found = service.settled(&event, 1).await;
    assert_eq!(found[0].status, DeliveryStatus::Failed);
    assert_eq!(found[0].attempts, 3, "max_attempts in the test service");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3, "one request per attempt");
    let error = found[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("gave up after 3 attempts") && error.contains("503"), "{error}");

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let replayed = service.deliveries.retry_failed(Some(*event.id.as_uuid())).await.expect("retry");
    assert_eq!(replayed, 1);
    let sent = service.reaches(found[0].id, DeliveryStatus::Sent).await;
    assert_eq!(sent.attempts, 1, "attempts start over");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
    service.stop().await;
}

/// A slow provider holds up only its own channel: while every webhook request hangs at
/// the receiver, the email of the same event is sent.
async fn a_slow_channel_does_not_stall_the_others(test_db: TestDb) {
    let mut service = Service::new(test_db).await;
    let (release, released) = tokio::sync::watch::channel(false);
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<()>();
    type Receiver = (tokio::sync::watch::Receiver<bool>, tokio::sync::mpsc::UnboundedSender<()>);
    let app = axum::Router::new()
        .route(
            "/slow",
            axum::routing::post(|State((mut released, arrived)): State<Receiver>| async move {
                let _ = arrived.send(());
                let _ = released.wait_for(|go| *go).await;
                StatusCode::NO_CONTENT
            }),
        )
        .with_state((released, arrived));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/slow", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let secret = Secret::generate();
    let webhook = WebhookProvider::new(&local_webhooks(&secret)).expect("provider");
    let smtp = herald_testkit::smtp::SmtpServer::start().await;
    let mut config = herald_channels::SmtpConfig::new("127.0.0.1", "shop@herald.test");
    config.port = smtp.port;
    config.tls = herald_channels::SmtpTls::None;
    let email = herald_channels::SmtpProvider::new(&config).expect("smtp provider");
    shipped_template(&service).await;
    service
        .templates
        .save("order_shipped", "email", "en", Some("Shipped"), "By {{ carrier }}", None)
        .await
        .expect("email template");
    service.start(vec![
        Channel::new(ChannelKind::Webhook).with_provider(Arc::new(webhook), None),
        Channel::new(ChannelKind::Email).with_provider(Arc::new(email), None),
    ]);

    let asked = request(
        "order_shipped",
        vec![RecipientRef::Webhook(url), RecipientRef::Email("fast@example.test".into())],
    );
    let event = service.notify(&asked).await;
    let filter =
        herald_notify::DeliveryFilter { event_id: Some(*event.id.as_uuid()), ..Default::default() };
    herald_testkit::wait_until(std::time::Duration::from_secs(30), "both planned", || async {
        service.deliveries.list(&filter).await.expect("list").len() == 2
    })
    .await;
    let planned = service.deliveries.list(&filter).await.expect("list");
    let id_of = |channel: &str| planned.iter().find(|d| d.channel == channel).expect("planned").id;
    let (hook_id, mail_id) = (id_of("webhook"), id_of("email"));
    // The webhook is at the receiver, which holds it until released.
    tokio::time::timeout(std::time::Duration::from_secs(30), arrivals.recv())
        .await
        .expect("the webhook reaches the receiver");
    service.reaches(mail_id, DeliveryStatus::Sent).await;
    let hook = service.deliveries.get(hook_id).await.expect("get");
    assert_eq!(hook.status, DeliveryStatus::Sending, "the webhook still hangs at the receiver");
    assert_eq!(smtp.messages().len(), 1);

    release.send(true).expect("release the receiver");
    service.reaches(hook_id, DeliveryStatus::Sent).await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_using_a_field_its_schema_lacks_is_refused_when_saved() {
    let test_db = TestDb::sqlite("notify_template_schema").await;
    let registry = herald_registry::SchemaStore::new(test_db.db.clone());
    let schema = r#"{"type":"object","properties":{"order_id":{"type":"string"},"customer":{"type":"object","properties":{"name":{"type":"string"}}}}}"#;
    registry.register("shop.order_shipped_notice.v1", "JSON", schema).await.expect("register");
    let templates = herald_notify::TemplateStore::new(test_db.db.clone());
    let subject = Some("shop.order_shipped_notice.v1");
    templates
        .save("shipped", "email", "en", Some("{{ order_id }}"), "Dear {{ customer.name }}", subject)
        .await
        .expect("declared fields");
    let error = templates
        .save("shipped", "email", "en", None, "Dear {{ customer.email }}, {{ total }}", subject)
        .await
        .expect_err("undeclared fields");
    let message = error.to_string();
    assert!(message.contains("`customer.email`") && message.contains("`total`"), "{message}");
    assert!(message.contains("shop.order_shipped_notice.v1"), "{message}");
    let kept = templates.find("shipped", "email", "en").await.expect("the first version stays");
    assert_eq!(kept.version, 1);
    test_db.cleanup().await;
}

macro_rules! on_both_databases {
    ($($case:ident),+) => {
        mod sqlite { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { super::$case(TestDb::sqlite("notify").await).await } )+ }
        mod postgres { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { super::$case(TestDb::postgres("notify").await).await } )+ }
    };
}

on_both_databases!(
    webhooks_are_rendered_signed_and_sent_once,
    preferences_suppress_hold_and_critical_bypasses,
    bad_input_fails_with_the_reason,
    emails_reach_a_real_smtp_server_rendered,
    failing_deliveries_are_retried_then_failed_then_replayed,
    a_slow_channel_does_not_stall_the_others
);

/// Webhooks to the test's receivers on 127.0.0.1.
fn local_webhooks(secret: &herald_http::Secret) -> WebhookConfig {
    WebhookConfig { allow_private_endpoints: true, ..WebhookConfig::new(secret.expose()) }
}
