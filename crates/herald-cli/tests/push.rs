//! HTTP push subscriptions end to end: `herald subscriptions add`, a relay, and
//! `herald push` delivering to local HTTP receivers that verify every Standard Webhooks
//! signature. A receiver that fails twice per event gets each event once; one that
//! always fails leads to dead letters with the reasons.
#![allow(clippy::disallowed_methods)] // the webhook receivers here are not Herald APIs

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{KillOnDrop, child_stderr, spawn_relay};
use herald_bench::workload;
use herald_http::Secret;
use herald_outbox::{Outbox, OutboxConfig};
use herald_testkit::{TestDb, wait_until};

/// What a receiver saw.
#[derive(Default)]
struct Seen {
    /// Requests per event id (`webhook-id`).
    attempts: HashMap<String, u32>,
    /// Events accepted (answered 2xx), per id.
    accepted: HashMap<String, u32>,
    /// Requests whose signature did not verify.
    bad_signatures: u32,
}

#[derive(Clone)]
struct Receiver {
    secret: Arc<Mutex<Option<Secret>>>,
    /// Fail this many times per event before accepting; `u32::MAX` = always fail.
    fail_first: Arc<AtomicU32>,
    seen: Arc<Mutex<Seen>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let secret = receiver.secret.lock().expect("lock").clone().expect("the secret is known");
    let mut seen = receiver.seen.lock().expect("lock");
    if herald_http::verify(&secret, &headers, &body).is_err() {
        seen.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(headers.get("ce-type").and_then(|v| v.to_str().ok()), Some("shop.order_placed"));
    let attempt = seen.attempts.entry(id.clone()).or_default();
    *attempt += 1;
    if *attempt <= receiver.fail_first.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    *seen.accepted.entry(id).or_default() += 1;
    StatusCode::NO_CONTENT
}

/// Serves a receiver on a free loopback port; returns its URL.
async fn serve(receiver: Receiver) -> String {
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{address}/hook")
}

fn herald(args: &[&str]) -> serde_json::Value {
    let output =
        Command::new(env!("CARGO_BIN_EXE_herald")).args(args).output().expect("run herald");
    assert!(
        output.status.success(),
        "herald {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

fn spawn_push(url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["push", "--database", url, "--immediate-retries", "0", "--delayed-retries", "3"])
        .args(["--first-delay-ms", "100", "--timeout-ms", "2000", "--allow-private-endpoints"])
        .stdout(Stdio::null())
        .stderr(child_stderr())
        .spawn()
        .expect("start herald push")
}

fn receiver(fail_first: u32) -> Receiver {
    Receiver {
        secret: Arc::default(),
        fail_first: Arc::new(AtomicU32::new(fail_first)),
        seen: Arc::default(),
    }
}

/// Adds a subscription for `service`, telling the receiver its secret.
async fn subscribe(
    url: &str,
    service: &str,
    endpoint: &str,
    filter: Option<&str>,
    receiver: &Receiver,
) -> String {
    let mut args = vec![
        "subscriptions",
        "add",
        "--database",
        url,
        "--service",
        service,
        "--pattern",
        "integration.shop.#",
        "--endpoint",
        endpoint,
        "--json",
        "--allow-private-endpoints",
    ];
    if let Some(filter) = filter {
        args.extend(["--filter", filter]);
    }
    let added = herald(&args);
    let secret = Secret::parse(added["secret"].as_str().expect("secret")).expect("a whsec_ secret");
    *receiver.secret.lock().expect("lock") = Some(secret);
    added["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_dead_lettered() {
    let test_db = TestDb::postgres("push").await;
    let db = test_db.db.clone();
    workload::create_tables(&db, &db).await.expect("tables");
    let flaky = receiver(2);
    let broken = receiver(u32::MAX);
    let flaky_url = serve(flaky.clone()).await;
    let broken_url = serve(broken.clone()).await;
    subscribe(&test_db.url, "crm", &flaky_url, None, &flaky).await;
    let broken_id = subscribe(&test_db.url, "billing", &broken_url, None, &broken).await;

    let relay = KillOnDrop(spawn_relay(&test_db.url, "relay", 0));
    let push = KillOnDrop(spawn_push(&test_db.url));
    // Added while `herald push` runs: picked up within seconds. A CloudEvents SQL filter
    // narrows its pattern to one customer's events.
    let picky = receiver(0);
    let picky_url = serve(picky.clone()).await;
    let filter = "partitionkey = 'customer-3' AND eventkind = 'integration'";
    subscribe(&test_db.url, "vip", &picky_url, Some(filter), &picky).await;
    let listed = herald(&["subscriptions", "list", "--database", &test_db.url, "--json"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    assert!(listed.to_string().contains("customer-3"), "listings show the filter");
    assert!(!listed.to_string().contains("whsec_"), "listings never show secrets");
    let events = 10; // 40 failures at the broken endpoint: below the 50 that disable it
    let produced = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let plan = workload::ProducerPlan {
        run: "push".into(),
        events,
        rate: 0,
        customers: 5,
        producers: 1,
        producer: 0,
        events_per_tx: 1,
        api: workload::ProducerApi::default(),
        retry: workload::ProducerRetry::default(),
    };
    let outbox = Outbox::new(OutboxConfig::default()).expect("outbox");
    workload::produce(db.clone(), outbox, plan, &produced).await.expect("produce");

    wait_until(Duration::from_secs(60), "the flaky receiver to accept every event", || {
        let seen = Arc::clone(&flaky.seen);
        async move { seen.lock().expect("lock").accepted.len() == events as usize }
    })
    .await;
    let simple = broken_id.replace('-', "");
    let group = format!("push-billing-{}", &simple[simple.len() - 12..]);
    let dead_sql =
        "SELECT count(*) FROM herald_dead_letters WHERE service = $1 AND reason = 'handler_failed'";
    let herald_db::Database::Postgres(pool) = &db else { unreachable!() };
    wait_until(
        Duration::from_secs(60),
        "every event to the broken endpoint to be dead-lettered",
        || async {
            let dead: i64 =
                sqlx::query_scalar(dead_sql).bind(&group).fetch_one(pool).await.expect("count");
            dead == events as i64
        },
    )
    .await;

    {
        let flaky_seen = flaky.seen.lock().expect("lock");
        assert_eq!(flaky_seen.bad_signatures, 0, "every signature verifies");
        assert!(flaky_seen.accepted.values().all(|n| *n == 1), "each event accepted once");
        assert!(flaky_seen.attempts.values().all(|n| *n == 3), "two failures, then success");
        let broken_seen = broken.seen.lock().expect("lock");
        assert_eq!(broken_seen.bad_signatures, 0);
        // Four runs each: the first delivery and 3 delayed retries.
        assert_eq!(broken_seen.attempts.len(), events as usize);
        assert!(broken_seen.attempts.values().all(|n| *n == 4), "{:?}", broken_seen.attempts);
        assert!(broken_seen.accepted.is_empty());
    }
    let listed =
        herald(&["dlq", "list", "--database", &test_db.url, "--service", &group, "--json"]);
    let letters = listed.as_array().expect("a list");
    assert_eq!(letters.len(), events as usize);
    for letter in letters {
        assert!(
            letter["error"].as_str().is_some_and(|e| e.contains("503")),
            "the reason names the answer: {letter}"
        );
        assert_eq!(letter["attempts"], 4, "{letter}");
        assert_eq!(letter["routing_key"], "integration.shop.order_placed.v1");
    }

    // The endpoint is fixed: `herald dlq replay` sends each parked event again, once.
    broken.fail_first.store(0, Ordering::SeqCst);
    let dry = herald(&[
        "dlq",
        "replay",
        "--database",
        &test_db.url,
        "--service",
        &group,
        "--dry-run",
        "--json",
    ]);
    assert_eq!(dry["replayed"].as_array().map(Vec::len), Some(events as usize));
    let replayed =
        herald(&["dlq", "replay", "--database", &test_db.url, "--service", &group, "--json"]);
    assert_eq!(replayed["replayed"].as_array().map(Vec::len), Some(events as usize));
    wait_until(Duration::from_secs(60), "the replayed events to reach the fixed endpoint", || {
        let seen = Arc::clone(&broken.seen);
        async move { seen.lock().expect("lock").accepted.len() == events as usize }
    })
    .await;
    let for_customer_3: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM shop_orders WHERE run = 'push' AND customer = 'customer-3'",
    )
    .fetch_one(pool)
    .await
    .expect("count");
    assert!(for_customer_3 > 0, "the workload had orders of customer-3");
    wait_until(Duration::from_secs(30), "the subscription added later to get its events", || {
        let seen = Arc::clone(&picky.seen);
        async move { seen.lock().expect("lock").accepted.len() as i64 >= for_customer_3 }
    })
    .await;
    let picky_seen = picky.seen.lock().expect("lock").accepted.len();
    drop(push);
    drop(relay);
    assert_eq!(picky_seen as i64, for_customer_3, "exactly the events the filter selects");
    assert!(
        broken.seen.lock().expect("lock").accepted.values().all(|n| *n == 1),
        "each replayed event once"
    );
    let again = herald(&["dlq", "list", "--database", &test_db.url, "--service", &group, "--json"]);
    assert_eq!(again.as_array().map(Vec::len), Some(0), "nothing dead any more");
    test_db.cleanup().await;
}
