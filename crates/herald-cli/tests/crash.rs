//! The relay is killed with SIGKILL again and again during a run: every event still
//! reaches the consumer, and its effect is applied exactly once, in order per key.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{TestConsumer, kill_hard, produce, settle, spawn_relay, wait_for_produced};
use herald_bench::workload;
use herald_testkit::TestDb;

/// Produces `events` while killing the relay at each of `kill_at` (events produced so
/// far) and starting it again, then checks every event against the databases.
async fn relay_killed_repeatedly(test_db: &TestDb, events: u64, kill_at: &[u64], producers: u64) {
    assert!(kill_at.len() >= 5, "the issue asks for at least five kills");
    let db = test_db.db.clone();
    workload::create_tables(&db, &db).await.expect("tables");
    let run = "crash";
    let consumer = TestConsumer::start(&db, run);
    let mut relay = spawn_relay(&test_db.url, "crash-relay", 20);
    let produced = Arc::new(AtomicU64::new(0));
    let producer_task = produce(&db, run, events, producers, &produced);

    for threshold in kill_at.iter().copied() {
        wait_for_produced(&produced, threshold).await;
        kill_hard(&mut relay);
        relay = spawn_relay(&test_db.url, "crash-relay", 20);
    }
    assert_eq!(producer_task.await.expect("producers"), events);
    let verification = settle(&db, run, Duration::from_secs(180)).await;
    kill_hard(&mut relay);
    let duplicates = consumer.stats.duplicates_suppressed.load(Ordering::Relaxed);
    consumer.stop().await;

    assert_eq!(verification.produced, events as i64);
    assert_eq!(verification.delivered, events as i64, "{verification:?}");
    assert_eq!(verification.lost, 0, "{verification:?}");
    assert_eq!(
        verification.applied_twice, 0,
        "the inbox applies each event once: {verification:?}"
    );
    assert_eq!(verification.order_violations, 0, "{verification:?}");
    // The relay pauses 20 ms between confirmation and marking, so kills land there and
    // leave published-but-unmarked rows: they go out again and the inbox must drop them.
    assert!(duplicates > 0, "no kill left a redelivery behind; the crash path went untested");
    eprintln!(
        "crash test: {} kills, {duplicates} redeliveries suppressed by the inbox, {verification:?}",
        kill_at.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_killed_six_times_in_100k_events_loses_nothing_and_applies_everything_once()
{
    let test_db = TestDb::postgres("crash").await;
    relay_killed_repeatedly(&test_db, 100_000, &[8_000, 22_000, 38_000, 54_000, 70_000, 86_000], 4)
        .await;
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_relay_killed_six_times_loses_nothing_and_applies_everything_once() {
    let test_db = TestDb::sqlite("crash").await;
    relay_killed_repeatedly(&test_db, 20_000, &[2_000, 5_000, 8_000, 11_000, 14_000, 17_000], 1)
        .await;
    test_db.cleanup().await;
}
