//! Failover between the providers of a channel: retryable failures move on to the next
//! provider, permanent ones stop.

use std::sync::Arc;
use std::time::Duration;

use herald_channels::{
    Channel, ChannelKind, FcmConfig, FcmPushProvider, Message, TwilioSmsProvider,
};

use crate::sms_push::{AUTH_TOKEN, twilio_config, twilio_server};
use crate::support::{HttpServer, SilentServer, free_port};

fn sms(count: usize) -> Vec<Message> {
    (0..count)
        .map(|index| Message::new(format!("n{index}"), format!("+1555222000{index}"), "Hello"))
        .collect()
}

fn channel(providers: &[(&str, &str)]) -> Channel {
    providers.iter().fold(Channel::new(ChannelKind::Sms), |channel, (name, url)| {
        let mut config = twilio_config(url, name);
        config.timeout = Duration::from_millis(500);
        let provider = TwilioSmsProvider::new(&config).unwrap();
        channel.with_provider(Arc::new(provider), None)
    })
}

#[tokio::test]
async fn an_unavailable_or_throttling_first_provider_fails_over_to_the_second() {
    for status in [503, 500, 429] {
        let first = HttpServer::answering(status, r#"{"code":20500,"message":"try later"}"#).await;
        let second = twilio_server().await;
        let channel = channel(&[("twilio-a", &first.url), ("twilio-b", &second.url)]);

        let results = channel.send(&sms(3)).await;

        for result in &results {
            let receipt = result.as_ref().unwrap();
            assert_eq!(receipt.provider, "twilio-b", "after {status}");
            assert!(receipt.provider_message_id.as_deref().unwrap().starts_with("SM"));
        }
        assert_eq!(first.requests().len(), 3, "after {status}");
        assert_eq!(second.requests().len(), 3, "after {status}");
    }
}

#[tokio::test]
async fn a_bad_request_does_not_fail_over_and_is_permanent() {
    let first = HttpServer::answering(
        400,
        r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}"#,
    )
    .await;
    let second = twilio_server().await;
    let channel = channel(&[("twilio-a", &first.url), ("twilio-b", &second.url)]);

    let results = channel.send(&sms(2)).await;

    for result in &results {
        let error = result.as_ref().unwrap_err();
        assert_eq!(error.provider, "twilio-a");
        assert!(!error.retryable);
        assert_eq!(
            error.message,
            "http 400 Bad Request: The 'To' number is not a valid phone number."
        );
        assert!(!error.to_string().contains(AUTH_TOKEN), "{error}");
    }
    assert_eq!(first.requests().len(), 2);
    assert!(second.requests().is_empty(), "a permanent failure must not fail over");
}

#[tokio::test]
async fn when_every_provider_fails_the_last_error_lists_the_earlier_ones() {
    let first = HttpServer::answering(503, "{}").await;
    let second = HttpServer::answering(429, r#"{"message":"Too many requests"}"#).await;
    let channel = channel(&[("twilio-a", &first.url), ("twilio-b", &second.url)]);

    let results = channel.send(&sms(1)).await;

    let error = results[0].as_ref().unwrap_err();
    assert_eq!(error.provider, "twilio-b");
    assert!(error.retryable);
    assert_eq!(
        error.message,
        "http 429 Too Many Requests: Too many requests; earlier providers: twilio-a: http 503 Service Unavailable"
    );
}

#[tokio::test]
async fn unreachable_and_silent_providers_fail_over_as_retryable() {
    let refused = format!("http://127.0.0.1:{}", free_port());
    let silent = SilentServer::start().await;
    let working = twilio_server().await;
    let channel =
        channel(&[("refused", &refused), ("silent", &silent.url), ("working", &working.url)]);

    let results = channel.send(&sms(2)).await;

    for result in &results {
        assert_eq!(result.as_ref().unwrap().provider, "working");
    }
    let everything_fails = self::channel(&[("refused", &refused), ("silent", &silent.url)]);
    let error = everything_fails.send(&sms(1)).await.remove(0).unwrap_err();
    assert!(error.retryable, "{error}");
    assert!(error.message.starts_with("no answer within 500ms"), "{error}");
    assert!(error.message.contains("refused: cannot connect"), "{error}");
}

#[tokio::test]
async fn a_channel_without_a_provider_of_its_kind_refuses_permanently() {
    let empty = Channel::new(ChannelKind::Sms);
    let error = empty.send(&sms(1)).await.remove(0).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.message, "the sms channel has no provider");

    let push = FcmPushProvider::new(&FcmConfig::new("demo-project", "token")).unwrap();
    let mismatched = Channel::new(ChannelKind::Sms).with_provider(Arc::new(push), None);
    assert_eq!(mismatched.provider_names(), ["fcm"]);
    assert_eq!(mismatched.kind(), ChannelKind::Sms);
    let error = mismatched.send(&sms(1)).await.remove(0).unwrap_err();
    assert!(!error.retryable);
    assert_eq!(error.message, "the provider sends push, not sms");
}
