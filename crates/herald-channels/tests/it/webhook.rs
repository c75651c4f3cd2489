//! Webhooks to a local receiver that verifies every Standard Webhooks signature with
//! `herald_push`'s verifier.

use std::collections::HashSet;
use std::sync::Arc;

use axum::http::StatusCode;
use herald_channels::{Channel, ChannelKind, Message, Provider, WebhookConfig, WebhookProvider};
use herald_http::Secret;
use serde_json::json;

use crate::support::HttpServer;

/// A receiver that knows `secret`: 204 for a verified request, 401 otherwise.
async fn receiver(secret: &Secret) -> HttpServer {
    let secret = secret.clone();
    HttpServer::start(move |request| {
        match herald_http::verify(&secret, &request.headers, &request.body) {
            Ok(()) => (StatusCode::NO_CONTENT, String::new()),
            Err(error) => {
                (StatusCode::UNAUTHORIZED, json!({ "error": error.to_string() }).to_string())
            }
        }
    })
    .await
}

fn provider(secrets: &[&Secret]) -> WebhookProvider {
    let mut config = WebhookConfig::new(secrets[0].expose());
    config.secrets = secrets.iter().map(|secret| secret.expose().to_owned()).collect();
    config.allow_private_endpoints = true; // the receiver is on 127.0.0.1
    WebhookProvider::new(&config).unwrap()
}

fn webhooks(url: &str, count: usize) -> Vec<Message> {
    (0..count)
        .map(|index| {
            Message::new(format!("ntf_{index:02}"), format!("{url}/hooks/orders"), "Order shipped")
                .with_subject("Shipped")
                .with_data(json!({ "order": index, "carrier": "ups" }))
        })
        .collect()
}

#[tokio::test]
async fn every_webhook_is_signed_verified_and_received_once() {
    let secret = Secret::generate();
    let server = receiver(&secret).await;
    let channel =
        Channel::new(ChannelKind::Webhook).with_provider(Arc::new(provider(&[&secret])), None);
    let messages = webhooks(&server.url, 20);

    let results = channel.send(&messages).await;

    for result in &results {
        let receipt = result.as_ref().unwrap();
        assert_eq!(receipt.provider, "webhook");
        assert_eq!(receipt.provider_message_id, None);
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 20);
    assert!(requests.iter().all(|request| request.status == StatusCode::NO_CONTENT));
    let ids: HashSet<&str> = requests.iter().map(|request| request.header("webhook-id")).collect();
    let expected: HashSet<&str> = messages.iter().map(|message| message.id.as_str()).collect();
    assert_eq!(ids, expected);

    let first = requests.iter().find(|request| request.header("webhook-id") == "ntf_07").unwrap();
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/hooks/orders");
    assert_eq!(first.header("content-type"), "application/json");
    assert!(first.header("user-agent").starts_with("herald-channels/"));
    assert_eq!(
        first.json(),
        json!({
            "id": "ntf_07",
            "subject": "Shipped",
            "body": "Order shipped",
            "data": { "order": 7, "carrier": "ups" },
        })
    );
}

#[tokio::test]
async fn during_a_rotation_receivers_that_know_either_secret_verify() {
    let old = Secret::generate();
    let new = Secret::generate();
    let knows_new = receiver(&new).await;
    let knows_old = receiver(&old).await;
    let provider = provider(&[&new, &old]);
    let mut messages = webhooks(&knows_new.url, 3);
    messages.extend(webhooks(&knows_old.url, 3));

    let results = provider.send_many(&messages).await;

    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for request in knows_new.requests().iter().chain(&knows_old.requests()) {
        assert_eq!(request.status, StatusCode::NO_CONTENT);
        let signatures: Vec<&str> = request.header("webhook-signature").split(' ').collect();
        assert_eq!(signatures.len(), 2, "{signatures:?}");
        assert!(signatures.iter().all(|signature| signature.starts_with("v1,")));
    }
    assert_eq!(knows_new.requests().len(), 3);
    assert_eq!(knows_old.requests().len(), 3);
}

#[tokio::test]
async fn a_receiver_with_another_secret_refuses_for_good() {
    let server = receiver(&Secret::generate()).await;
    let provider = provider(&[&Secret::generate()]);

    let error = provider.send(&webhooks(&server.url, 1)[0]).await.unwrap_err();

    assert!(!error.retryable, "{error}");
    assert!(error.message.starts_with("http 401"), "{error}");
    assert!(error.message.contains("no webhook signature matches the secret"), "{error}");
}
