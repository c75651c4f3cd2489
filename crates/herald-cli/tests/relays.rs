//! Several relay processes on one PostgreSQL: no loss, and each key's events applied in
//! commit order (its `sequence` strictly increasing).

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use common::{TestConsumer, kill_hard, produce, settle, spawn_relay};
use herald_bench::workload;
use herald_testkit::TestDb;

async fn run_with_relays(relays: usize) {
    let test_db = TestDb::postgres(&format!("relays_{relays}")).await;
    let db = test_db.db.clone();
    workload::create_tables(&db, &db).await.expect("tables");
    let run = format!("relays-{relays}");
    let consumer = TestConsumer::start(&db, &run);
    let mut children: Vec<_> =
        (0..relays).map(|n| spawn_relay(&test_db.url, &format!("relay-{n}"), 0)).collect();
    let events = 20_000;
    let producers = produce(&db, &run, events, 4, &Arc::new(AtomicU64::new(0)));
    assert_eq!(producers.await.expect("producers"), events);
    let verification = settle(&db, &run, Duration::from_secs(120)).await;
    let owners: i64 = match &db {
        herald_db::Database::Postgres(pool) => sqlx::query_scalar(
            "SELECT count(DISTINCT owner) FROM herald_leases WHERE scope = 'relay' AND owner IS NOT NULL",
        )
        .fetch_one(pool)
        .await
        .expect("lease owners"),
        herald_db::Database::Sqlite(_) => unreachable!("postgres"),
    };
    for child in &mut children {
        kill_hard(child);
    }
    consumer.stop().await;
    assert_eq!(verification.produced, events as i64);
    assert_eq!(verification.lost, 0, "{verification:?}");
    assert_eq!(verification.applied_twice, 0, "{verification:?}");
    assert_eq!(
        verification.order_violations, 0,
        "sequence strictly increasing per key: {verification:?}"
    );
    assert!(owners >= 2, "the partitions were shared by {owners} relays");
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relays_share_the_outbox_without_loss_or_reordering() {
    run_with_relays(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_relays_share_the_outbox_without_loss_or_reordering() {
    run_with_relays(4).await;
}
