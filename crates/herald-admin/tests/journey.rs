//! The delivery ledger: an event committed to the outbox, published by the relay, retried
//! by its consumer, dead-lettered, replayed through the admin API, then delivered and processed is
//! reported with each of those states, in order; and the search finds it by key, type and
//! subscriber.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Billing, Invoiced, SERVICE, Service, TOKEN, get_json, serve};
use herald_consumer::{ConsumerConfig, RetryPolicy};
use herald_db::Database;
use herald_envelope::Envelope;
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig};
use herald_testkit::{TestDb, wait_until};
use tokio::sync::watch;

/// Commits one invoice to the outbox; returns its event id.
async fn commit(db: &Database, number: u32) -> uuid::Uuid {
    let outbox = Outbox::new(OutboxConfig::default()).expect("outbox");
    let envelope = Envelope::from_event("/billing-test", &Invoiced { number }).expect("envelope");
    match db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await.expect("begin");
            outbox.enqueue(&mut tx, &envelope).await.expect("enqueue");
            tx.commit().await.expect("commit");
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.writer.begin().await.expect("begin");
            outbox.enqueue(&mut tx, &envelope).await.expect("enqueue");
            tx.commit().await.expect("commit");
        }
    }
    *envelope.id.as_uuid()
}

async fn states(base: &str, event_id: uuid::Uuid) -> Vec<(String, Option<String>)> {
    let journey = get_json(&format!("{base}/api/events/{event_id}")).await;
    journey["states"]
        .as_array()
        .expect("states")
        .iter()
        .map(|s| {
            (
                s["state"].as_str().unwrap_or_default().to_owned(),
                s["service"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn an_events_journey_is_reported_in_order(test: TestDb) {
    let broken = Arc::new(AtomicBool::new(true));
    let retry = RetryPolicy {
        immediate: 0,
        delayed: 1,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(50),
        jitter: 0.0,
    };
    let config = ConsumerConfig { retry, ..ConsumerConfig::new(SERVICE) };
    let service = Service::start_with(
        &test.db,
        Billing { broken: common::flag(&broken), retryable: true },
        config,
    );
    let relay = Relay::new(
        OutboxStore::new(test.db.clone(), Retention::Keep(Duration::from_secs(3600))),
        Arc::clone(&service.log) as Arc<dyn herald_transport::Publisher>,
        RelayConfig { poll_interval: Duration::from_millis(20), ..RelayConfig::default() },
    );
    let (stop_relay, mut relay_stopped) = watch::channel(false);
    let relay_task = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = relay_stopped.wait_for(|s| *s).await;
            })
            .await
            .expect("relay");
    });
    let base = serve(&test.db, Arc::clone(&service.log), None).await;

    let event_id = commit(&test.db, 4).await;
    wait_until(Duration::from_secs(10), "the event is retried, then dead-lettered", || async {
        get_json(&format!("{base}/api/dlq")).await["entries"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    })
    .await;
    broken.store(false, Ordering::Relaxed);
    let response = reqwest::Client::new()
        .post(format!("{base}/api/dlq/replay"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(r#"{"all": true}"#)
        .send()
        .await
        .expect("replay");
    assert_eq!(response.status().as_u16(), 200);
    wait_until(Duration::from_secs(10), "the replayed event is processed", || async {
        states(&base, event_id).await.iter().any(|(state, _)| state == "processed")
    })
    .await;

    let journey = get_json(&format!("{base}/api/events/{event_id}")).await;
    let mut got = states(&base, event_id).await;
    // The relay records `published` when it marks the row, after the transport's
    // confirmation; a fast consumer may act on the event before that. So `published`
    // must follow `committed`, and the consumer's states keep their own order.
    let published = got.iter().position(|(state, _)| state == "published").expect("published");
    assert!(published > 0, "published after committed: {journey:#}");
    got.remove(published);
    let billing = Some(SERVICE.to_owned());
    assert_eq!(
        got,
        vec![
            ("committed".to_owned(), None),
            ("retried".to_owned(), billing.clone()),
            ("dead_lettered".to_owned(), billing.clone()),
            ("replayed".to_owned(), billing.clone()),
            ("delivered".to_owned(), billing.clone()),
            ("processed".to_owned(), billing.clone()),
        ],
        "{journey:#}"
    );
    assert_eq!(journey["type"], "test.invoiced");
    assert_eq!(journey["partition_key"], "customer-1");
    let detail = |state: &str| {
        let steps = journey["states"].as_array().expect("states");
        let step = steps.iter().find(|step| step["state"] == state).expect("the state");
        step["detail"].as_str().unwrap_or_default().to_owned()
    };
    assert!(detail("retried").contains("invoice 4 is broken"), "{journey:#}");
    assert!(detail("dead_lettered").contains("after 2 attempts"), "{journey:#}");

    let found = |query: &str| {
        let url = format!("{base}/api/events?{query}");
        async move {
            get_json(&url).await["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let id = event_id.to_string();
    assert_eq!(found("key=customer-1").await, vec![id.clone()]);
    assert_eq!(found(&format!("service={SERVICE}&type=test.invoiced")).await, vec![id.clone()]);
    assert_eq!(found("since=2000-01-01T00:00:00Z").await, vec![id.clone()]);
    assert!(found("key=customer-2").await.is_empty());
    assert!(found("service=shipping").await.is_empty());
    assert!(found("until=2000-01-01T00:00:00Z").await.is_empty());
    let unknown =
        common::get_with_token(&format!("{base}/api/events/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(unknown.status().as_u16(), 404);
    let bad = common::get_with_token(&format!("{base}/api/events?since=yesterday")).await;
    assert_eq!(bad.status().as_u16(), 400);

    stop_relay.send_replace(true);
    relay_task.await.expect("relay task");
    service.stop().await;
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_events_journey_is_reported_in_order() {
    an_events_journey_is_reported_in_order(TestDb::sqlite("admin_journey").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_events_journey_is_reported_in_order() {
    an_events_journey_is_reported_in_order(TestDb::postgres("admin_journey").await).await;
}
