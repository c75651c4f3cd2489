//! `herald notify` as a process: its API manages recipients and templates (changes need
//! the token), a notification event on the embedded log reaches a webhook receiver that
//! verifies the signature, and `herald notify status` reports it sent.
#![allow(clippy::disallowed_methods)] // the webhook receiver here are not Herald APIs

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::KillOnDrop;
use herald_envelope::{Envelope, Limits};
use herald_http::Secret;
use herald_log::{SqlLog, SqlLogConfig};
use herald_notify::{NotificationRequest, Priority, RecipientRef};
use herald_testkit::{TestDb, wait_until};
use herald_transport::{Message, Publisher};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_notify_sends_a_signed_webhook_and_reports_it() {
    let test_db = TestDb::sqlite("notify_cli").await;
    let none = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["notify", "--database", &test_db.url])
        .env_remove("HERALD_SMTP_URL")
        .env_remove("HERALD_WEBHOOK_SECRETS")
        .output()
        .expect("run herald notify");
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no channel has a provider"));

    let secret = Secret::generate();
    let verified = Arc::new(AtomicUsize::new(0));
    let state = (Arc::new(secret.clone()), Arc::clone(&verified));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State((secret, verified)): axum::extract::State<(
                    Arc<Secret>,
                    Arc<AtomicUsize>,
                )>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    if herald_http::verify(&secret, &headers, &body).is_err() {
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    verified.fetch_add(1, Ordering::SeqCst);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["notify", "--database", &test_db.url, "--webhook-secret", secret.expose()])
        .arg("--allow-private-endpoints") // the receiver is on 127.0.0.1
        .args(["--listen", "127.0.0.1:0", "--token", "t0ken-0123456789abcdef"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald notify");
    let stderr = child.stderr.take().expect("stderr");
    let service = KillOnDrop(child);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let api = lines
        .by_ref()
        .find_map(|line| line.strip_prefix("Notification API on ").map(str::to_owned))
        .expect("the API address");

    let http = reqwest::Client::new();
    let recipient =
        json!({ "locale": "en", "timezone": "Europe/Berlin", "contacts": { "webhook": hook } });
    let refused = http
        .put(format!("{api}/recipients/ada"))
        .header("content-type", "application/json")
        .body(recipient.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(refused.status().as_u16(), 401, "changes need the token");
    let saved = http
        .put(format!("{api}/recipients/ada"))
        .bearer_auth("t0ken-0123456789abcdef")
        .header("content-type", "application/json")
        .body(recipient.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(saved.status().as_u16(), 200);
    let template = json!({ "subject": "Welcome {{ name }}", "body": "Hello {{ name }}!" });
    let created = http
        .put(format!("{api}/templates/welcome/webhook/en"))
        .bearer_auth("t0ken-0123456789abcdef")
        .header("content-type", "application/json")
        .body(template.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(created.status().as_u16(), 201);
    let bad = json!({ "body": "Hello {{ name" });
    let refused = http
        .put(format!("{api}/templates/welcome/webhook/en"))
        .bearer_auth("t0ken-0123456789abcdef")
        .header("content-type", "application/json")
        .body(bad.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(refused.status().as_u16(), 422, "a template that does not parse");

    let request = NotificationRequest {
        template: "welcome".into(),
        recipients: vec![RecipientRef::User("ada".into())],
        channels: None,
        category: None,
        data: json!({ "name": "Ada" }),
        idempotency_key: None,
        priority: Priority::Normal,
    };
    let event = Envelope::from_event("/accounts", &request).expect("envelope");
    let log = SqlLog::new(test_db.db.clone(), SqlLogConfig::default());
    let message = Message {
        event_id: *event.id.as_uuid(),
        routing_key: event.routing_key(),
        partition_key: event.partition_key.clone(),
        payload: event.encode(&Limits::default()).expect("encode"),
    };
    for result in log.publish(std::slice::from_ref(&message)).await {
        result.expect("published to the embedded log");
    }
    wait_until(Duration::from_secs(30), "the webhook verified", || async {
        verified.load(Ordering::SeqCst) == 1
    })
    .await;

    let summary_url = format!("{api}/notifications/summary");
    wait_until(Duration::from_secs(10), "sent recorded", || async {
        let text = http.get(&summary_url).send().await.expect("get").text().await.expect("text");
        let summary: serde_json::Value = serde_json::from_str(&text).expect("json");
        summary["sent"] == 1
    })
    .await;
    let status = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "notify",
            "status",
            "--database",
            &test_db.url,
            "--event",
            &event.id.to_string(),
            "--json",
        ])
        .output()
        .expect("herald notify status");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(report["counts"]["sent"], 1, "{report}");
    let delivery = &report["notifications"][0];
    assert_eq!(
        (delivery["recipient"].as_str(), delivery["status"].as_str()),
        (Some("ada"), Some("sent"))
    );
    assert_eq!(delivery["subject"], "Welcome Ada");
    drop(service);
    drop(lines);
    test_db.cleanup().await;
}
