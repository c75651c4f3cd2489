//! Deliveries to a local receiver: signatures, headers and body, and the classification
//! of failures.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use herald_envelope::{Data, Envelope, EventId, EventKind, ExtensionValue};
use herald_http::binding::decode_header_value;
use herald_http::signature::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use herald_http::{HttpError, verify};
use herald_push::{PushClient, PushClientConfig, PushError, PushTarget, Secret};
use serde_json::value::RawValue;

use crate::receiver::{Received, Receiver};

/// An envelope with every optional attribute, and values that need percent-encoding.
pub(crate) fn envelope() -> Envelope {
    let mut extensions = BTreeMap::new();
    extensions.insert("tenant".to_owned(), ExtensionValue::from("Zürich \"HQ\" 100%"));
    Envelope {
        id: EventId::new(),
        source: "/shop/orders".into(),
        event_type: "orders.order_placed".into(),
        time: Utc.with_ymd_and_hms(2024, 7, 1, 12, 0, 0).unwrap(),
        datacontenttype: Some("application/json".into()),
        dataschema: Some("https://registry.example/orders.order_placed/2".into()),
        subject: Some("order 7".into()),
        kind: EventKind::Integration,
        schema_version: 2,
        partition_key: "customer-€42".into(),
        sequence: Some("000017".into()),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        extensions,
        data: Some(Data::Json(
            RawValue::from_string(r#"{"order_id":"7","total":"12.50"}"#.into()).unwrap(),
        )),
    }
}

/// A client that may reach the test's receivers on 127.0.0.1.
fn client() -> PushClient {
    PushClient::new(&allowing_private()).unwrap()
}

fn allowing_private() -> PushClientConfig {
    PushClientConfig { allow_private_endpoints: true, ..PushClientConfig::default() }
}

#[tokio::test]
async fn private_endpoints_are_refused_before_anything_is_sent_unless_allowed() {
    let mut receiver = Receiver::start().await;
    let guarded = PushClient::new(&PushClientConfig::default()).unwrap();
    let literal = PushTarget::new(&receiver.url("/ok"), Secret::generate()).unwrap();
    let error = guarded.deliver(&literal, &envelope()).await.unwrap_err();
    assert!(matches!(error, PushError::Invalid { field: "endpoint", .. }), "{error}");
    assert!(!error.is_retryable(), "{error}");
    let port = receiver.base_url.rsplit(':').next().unwrap().to_owned();
    let by_name = format!("http://localhost:{port}/refuse");
    let named = PushTarget::new(&by_name, Secret::generate()).unwrap();
    let error = guarded.deliver(&named, &envelope()).await.unwrap_err();
    assert!(error.to_string().contains("private"), "{error}");

    let allowed = PushTarget::new(&receiver.url("/unavailable"), Secret::generate()).unwrap();
    let _ = client().deliver(&allowed, &envelope()).await;
    let first = receiver.next().await;
    assert_eq!(first.path, "/unavailable", "the refused deliveries never reached the receiver");
}

/// A header of a received request, percent-decoded.
fn ce(received: &Received, name: &str) -> String {
    let value = received.headers.get(name).unwrap_or_else(|| panic!("no header {name}"));
    decode_header_value(value.to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_delivery_is_signed_and_carries_every_attribute_as_a_ce_header() {
    let mut receiver = Receiver::start().await;
    let secret = Secret::generate();
    let target = PushTarget::new(&receiver.url("/ok"), secret.clone()).unwrap();
    let envelope = envelope();

    client().deliver(&target, &envelope).await.unwrap();
    let received = receiver.next().await;

    verify(&secret, &received.headers, &received.body).unwrap();
    let id = envelope.id.to_string();
    assert_eq!(received.headers[WEBHOOK_ID], id.as_str());
    for (name, expected) in [
        ("ce-id", id.as_str()),
        ("ce-specversion", "1.0"),
        ("ce-source", "/shop/orders"),
        ("ce-type", "orders.order_placed"),
        ("ce-time", "2024-07-01T12:00:00Z"),
        ("ce-dataschema", "https://registry.example/orders.order_placed/2"),
        ("ce-subject", "order 7"),
        ("ce-eventkind", "integration"),
        ("ce-schemaversion", "2"),
        ("ce-partitionkey", "customer-€42"),
        ("ce-sequence", "000017"),
        ("ce-traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        ("ce-tenant", "Zürich \"HQ\" 100%"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(ce(&received, name), expected, "{name}");
    }
    assert_eq!(received.headers["ce-partitionkey"], "customer-%E2%82%AC42");
    assert_eq!(received.headers["ce-tenant"], "Z%C3%BCrich%20%22HQ%22%20100%25");
    assert!(received.headers.get("ce-datacontenttype").is_none());
    assert_eq!(&received.body[..], br#"{"order_id":"7","total":"12.50"}"#);
}

#[tokio::test]
async fn a_request_signed_with_another_secret_or_altered_fails_verification() {
    let mut receiver = Receiver::start().await;
    let secret = Secret::generate();
    let target = PushTarget::new(&receiver.url("/ok"), secret.clone()).unwrap();
    client().deliver(&target, &envelope()).await.unwrap();
    let received = receiver.next().await;

    let other = Secret::generate();
    let error = verify(&other, &received.headers, &received.body).unwrap_err();
    assert!(matches!(error, HttpError::SignatureMismatch { signatures: 1 }), "{error}");
    let error = verify(&secret, &received.headers, b"{\"order_id\":\"8\"}").unwrap_err();
    assert!(matches!(error, HttpError::SignatureMismatch { .. }), "{error}");
    let timestamp: i64 = received.headers[WEBHOOK_TIMESTAMP].to_str().unwrap().parse().unwrap();
    assert!(timestamp.abs_diff(Utc::now().timestamp()) <= 5);
    assert!(received.headers[WEBHOOK_SIGNATURE].to_str().unwrap().starts_with("v1,"));
}

#[tokio::test]
async fn server_errors_and_429_are_retryable_with_the_status_and_retry_after() {
    let mut receiver = Receiver::start().await;
    let secret = Secret::generate();

    let unavailable = PushTarget::new(&receiver.url("/unavailable"), secret.clone()).unwrap();
    let error = client().deliver(&unavailable, &envelope()).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.retry_after(), None);
    assert!(
        matches!(&error, PushError::Unavailable { body, .. } if body == "down for maintenance")
    );
    assert_eq!(receiver.next().await.path, "/unavailable");

    let slow_down = PushTarget::new(&receiver.url("/slow-down"), secret).unwrap();
    let error = client().deliver(&slow_down, &envelope()).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert!(error.to_string().contains("retry after 30s"), "{error}");
}

#[tokio::test]
async fn other_client_errors_and_redirects_are_permanent() {
    let mut receiver = Receiver::start().await;
    let secret = Secret::generate();

    let refuse = PushTarget::new(&receiver.url("/refuse"), secret.clone()).unwrap();
    let error = client().deliver(&refuse, &envelope()).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(error.status(), Some(400));
    assert!(error.to_string().contains("unknown event type"), "{error}");
    assert_eq!(receiver.next().await.path, "/refuse");

    let moved = PushTarget::new(&receiver.url("/moved"), secret).unwrap();
    let error = client().deliver(&moved, &envelope()).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert_eq!(error.status(), Some(308));
    assert_eq!(receiver.next().await.path, "/moved");
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_in_time_is_retryable() {
    let mut receiver = Receiver::start().await;
    let config = PushClientConfig { timeout: Duration::from_millis(300), ..allowing_private() };
    let client = PushClient::new(&config).unwrap();
    let target = PushTarget::new(&receiver.url("/hang"), Secret::generate()).unwrap();

    let error = client.deliver(&target, &envelope()).await.unwrap_err();
    assert!(matches!(error, PushError::TimedOut { .. }), "{error}");
    assert!(error.is_retryable());
    assert_eq!(receiver.next().await.path, "/hang");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let target = PushTarget::new(&closed, Secret::generate()).unwrap();

    let error = client().deliver(&target, &envelope()).await.unwrap_err();
    assert!(matches!(error, PushError::Unreachable { .. }), "{error}");
    assert!(error.is_retryable());
    assert_eq!(error.status(), None);
    assert!(error.to_string().contains("refused"), "the cause is shown: {error}");
}

#[tokio::test]
async fn connections_are_reused_between_deliveries() {
    let mut receiver = Receiver::start().await;
    let secret = Secret::generate();
    let target = PushTarget::new(&receiver.url("/ok"), secret.clone()).unwrap();
    let client = client();
    let mut peers = Vec::new();
    for _ in 0..3 {
        client.deliver(&target, &envelope()).await.unwrap();
        let received = receiver.next().await;
        verify(&secret, &received.headers, &received.body).unwrap();
        peers.push(received.peer);
    }
    assert!(peers.iter().all(|peer| *peer == peers[0]), "{peers:?}");
}
