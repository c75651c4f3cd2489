//! The consumer process is killed with SIGKILL again and again: every event is still
//! applied, and none twice, because the inbox row and the effect commit together and the
//! offset is committed only afterwards.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use common::{kill_hard, produce, settle, spawn_relay, wait_for_produced};
use herald_cli::workload;
use herald_testkit::TestDb;

fn spawn_consumer(url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["shop-consumer", "--database", url, "--member", "shipping-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the shop consumer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_consumer_killed_five_times_applies_every_event_exactly_once() {
    let test_db = TestDb::postgres("consumer_crash").await;
    let db = test_db.db.clone();
    workload::create_tables(&db, &db).await.expect("tables");
    let run = "consumer-crash";
    let mut relay = spawn_relay(&test_db.url, "relay", 0);
    let mut consumer = spawn_consumer(&test_db.url);
    let events = 20_000;
    let produced = Arc::new(AtomicU64::new(0));
    let producers = produce(&db, run, events, 2, &produced);
    let mut applied_at_kills = Vec::new();
    for threshold in [3_000, 6_000, 9_000, 12_000, 15_000] {
        wait_for_produced(&produced, threshold).await;
        applied_at_kills.push(workload::verify(&db, &db, run).await.expect("verify").delivered);
        kill_hard(&mut consumer);
        consumer = spawn_consumer(&test_db.url);
    }
    assert_eq!(producers.await.expect("producers"), events);
    let verification = settle(&db, run, Duration::from_secs(180)).await;
    kill_hard(&mut consumer);
    kill_hard(&mut relay);
    assert!(
        applied_at_kills.windows(2).all(|pair| pair[0] < pair[1]),
        "every restarted consumer was applying events when it was killed: {applied_at_kills:?}"
    );
    assert_eq!(verification.produced, events as i64);
    assert_eq!(verification.lost, 0, "{verification:?}");
    assert_eq!(
        verification.applied_twice, 0,
        "the inbox applies each event once: {verification:?}"
    );
    assert_eq!(verification.order_violations, 0, "{verification:?}");
    test_db.cleanup().await;
}
