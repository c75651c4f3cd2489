//! The DLQ through the admin API, on both databases: a dead-lettered event is listed with
//! its reason, shown with the event, refused a replay without the token, and replayed with
//! it — after which its service processes it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Billing, SERVICE, Service, TOKEN, get_json, publish, serve};
use herald_testkit::{TestDb, wait_until};

async fn processed(db: &herald_db::Database, event_id: uuid::Uuid) -> bool {
    let counts =
        herald_consumer::processed_since(db, chrono::DateTime::UNIX_EPOCH).await.expect("inbox");
    counts.iter().any(|(service, id)| service == SERVICE && *id == event_id)
}

async fn replay(base: &str, body: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/api/dlq/replay"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("replay request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

async fn a_dead_letter_is_listed_shown_and_replayed_with_the_token(test: TestDb) {
    let broken = Arc::new(AtomicBool::new(true));
    let service =
        Service::start(&test.db, Billing { broken: common::flag(&broken), retryable: false });
    let base = serve(&test.db, Arc::clone(&service.log), None).await;
    let ids = publish(&service.log, 7..8).await;
    let event_id = ids[0];
    wait_until(Duration::from_secs(10), "the event is dead-lettered", || async {
        get_json(&format!("{base}/api/dlq")).await["entries"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    })
    .await;
    let listed = get_json(&format!("{base}/api/dlq?service={SERVICE}&type=test.invoiced")).await;
    let entry = &listed["entries"][0];
    assert_eq!(entry["event_id"], event_id.to_string());
    assert_eq!(entry["reason"], "rejected");
    assert_eq!(entry["error"], "invoice 7 is broken");
    assert_eq!(entry["status"], "dead");
    let none = get_json(&format!("{base}/api/dlq?service=shipping")).await;
    assert_eq!(none["entries"], serde_json::json!([]), "the filter narrows");
    let id = entry["id"].as_str().expect("id").to_owned();
    for private in [format!("{base}/api/dlq"), format!("{base}/api/dlq/{id}")] {
        let anonymous = reqwest::get(&private).await.expect("GET without a token");
        assert_eq!(anonymous.status().as_u16(), 401, "{private} shows payloads: it needs a token");
        let wrong = reqwest::Client::new().get(&private).bearer_auth("not-the-token-0123");
        assert_eq!(wrong.send().await.expect("GET").status().as_u16(), 401, "{private}");
    }
    let shown = get_json(&format!("{base}/api/dlq/{id}")).await;
    assert_eq!(shown["event"]["data"]["number"], 7, "{shown:#}");
    assert_eq!(shown["event"]["type"], "test.invoiced");

    let body = format!(r#"{{"id": "{id}"}}"#);
    assert_eq!(replay(&base, &body, None).await.0, 401);
    assert_eq!(replay(&base, &body, Some("wrong-token-0123456789abcdefghij")).await.0, 401);
    let (status, refused) = replay(&base, "{}", Some(TOKEN)).await;
    assert_eq!(status, 400, "a replay names what it replays: {refused}");
    let (status, refused) = replay(&base, r#"{"id": "nope"}"#, Some(TOKEN)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("`nope`")), "{refused}");
    assert_eq!(get_json(&format!("{base}/api/dlq")).await["entries"][0]["status"], "dead");
    assert!(!processed(&test.db, event_id).await, "refused replays change nothing");

    broken.store(false, Ordering::Relaxed);
    let (status, report) = replay(&base, &body, Some(TOKEN)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["replayed"], serde_json::json!([id]));
    wait_until(Duration::from_secs(10), "the replayed event is processed", || {
        processed(&test.db, event_id)
    })
    .await;
    assert_eq!(get_json(&format!("{base}/api/dlq")).await["entries"], serde_json::json!([]));
    let all = get_json(&format!("{base}/api/dlq?include_replayed=true")).await;
    assert_eq!(all["entries"][0]["status"], "replayed");
    assert_eq!(all["entries"][0]["replays"], 1);
    let consumers = get_json(&format!("{base}/api/consumers")).await;
    assert_eq!(consumers["consumers"][0]["service"], SERVICE, "{consumers:#}");
    assert_eq!(consumers["consumers"][0]["processed_total"], 1, "{consumers:#}");
    service.stop().await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_dead_letter_is_listed_shown_and_replayed_with_the_token() {
    a_dead_letter_is_listed_shown_and_replayed_with_the_token(TestDb::sqlite("admin_dlq").await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_dead_letter_is_listed_shown_and_replayed_with_the_token() {
    a_dead_letter_is_listed_shown_and_replayed_with_the_token(TestDb::postgres("admin_dlq").await)
        .await;
}
