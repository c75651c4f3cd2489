//! SMS and push through local servers standing for Twilio and FCM, which check the
//! request's path, authentication and fields.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use herald_channels::{
    FcmConfig, FcmPushProvider, Message, Provider, TwilioConfig, TwilioSmsProvider,
};
use serde_json::json;

use crate::support::HttpServer;

pub(crate) const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const AUTH_TOKEN: &str = "twilio-auth-token-secret";
const SENDER: &str = "+15550000000";

/// A Twilio stand-in that accepts every message, with a `sid` made from its `To`.
pub(crate) async fn twilio_server() -> HttpServer {
    HttpServer::start(|request| {
        let to = request.form().get("To").cloned().unwrap_or_default();
        let sid = format!("SM{}", to.trim_start_matches('+'));
        (StatusCode::CREATED, json!({ "sid": sid, "status": "queued" }).to_string())
    })
    .await
}

/// A Twilio configuration for the server at `url`, named `name`.
pub(crate) fn twilio_config(url: &str, name: &str) -> TwilioConfig {
    let mut config = TwilioConfig::new(ACCOUNT_SID, AUTH_TOKEN, SENDER);
    config.base_url = url.to_owned();
    config.name = name.to_owned();
    config
}

#[tokio::test]
async fn sms_are_posted_as_twilio_forms_with_basic_auth_and_the_sid_is_the_receipt() {
    let server = twilio_server().await;
    let provider = TwilioSmsProvider::new(&twilio_config(&server.url, "twilio")).unwrap();
    let messages: Vec<Message> = ["+15551110001", "+15551110002", "+15551110003"]
        .into_iter()
        .map(|to| Message::new(format!("n{to}"), to, format!("Code for {to}: 1234 & more")))
        .collect();

    let results = provider.send_many(&messages).await;

    for (message, result) in messages.iter().zip(&results) {
        let receipt = result.as_ref().unwrap();
        assert_eq!(receipt.provider, "twilio");
        let expected_sid = format!("SM{}", message.to.trim_start_matches('+'));
        assert_eq!(receipt.provider_message_id.as_deref(), Some(expected_sid.as_str()));
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let credentials = STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"));
        assert_eq!(request.header("authorization"), format!("Basic {credentials}"));
        assert_eq!(request.header("content-type"), "application/x-www-form-urlencoded");
        let form = request.form();
        let to = &form["To"];
        assert_eq!(form["From"], SENDER);
        assert_eq!(form["Body"], format!("Code for {to}: 1234 & more"));
        assert_eq!(form.len(), 3, "{form:?}");
    }
}

#[tokio::test]
async fn push_notifications_are_fcm_v1_json_with_a_bearer_token_and_string_data() {
    let server = HttpServer::start(|request| {
        let token = request.json()["message"]["token"].as_str().unwrap_or_default().to_owned();
        (
            StatusCode::OK,
            json!({ "name": format!("projects/demo-project/messages/{token}") }).to_string(),
        )
    })
    .await;
    let mut config = FcmConfig::new("demo-project", "ya29.fcm-bearer-secret");
    config.base_url = server.url.clone();
    let provider = FcmPushProvider::new(&config).unwrap();
    let message = Message::new("n1", "device-token-1", "Your order shipped")
        .with_subject("Shipped")
        .with_data(json!({ "order": 42, "express": true, "carrier": "ups" }));

    let receipt = provider.send(&message).await.unwrap();

    assert_eq!(receipt.provider, "fcm");
    assert_eq!(
        receipt.provider_message_id.as_deref(),
        Some("projects/demo-project/messages/device-token-1")
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/projects/demo-project/messages:send");
    assert_eq!(request.header("authorization"), "Bearer ya29.fcm-bearer-secret");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(
        request.json(),
        json!({ "message": {
            "token": "device-token-1",
            "notification": { "title": "Shipped", "body": "Your order shipped" },
            "data": { "order": "42", "express": "true", "carrier": "ups" },
        }})
    );
}

#[tokio::test]
async fn an_unregistered_push_token_is_permanent_and_the_reason_is_fcms() {
    let server = HttpServer::answering(
        404,
        r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#,
    )
    .await;
    let mut config = FcmConfig::new("demo-project", "ya29.fcm-bearer-secret");
    config.base_url = server.url.clone();
    let provider = FcmPushProvider::new(&config).unwrap();

    let error = provider.send(&Message::new("n1", "stale-token", "Hi")).await.unwrap_err();

    assert!(!error.retryable, "{error}");
    assert_eq!(error.provider, "fcm");
    assert_eq!(error.message, "http 404 Not Found: NOT_FOUND Requested entity was not found.");
}
