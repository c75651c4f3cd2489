//! Partition leases on PostgreSQL and SQLite: fair shares, takeover, self-fencing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use herald_db::Database;
use herald_db::lease::{LeaseConfig, Leases};
use herald_testkit::TestDb;

async fn leases(db: &Database, owner: &str) -> Leases {
    Leases::new(
        db.clone(),
        LeaseConfig {
            scope: "relay".into(),
            owner: owner.into(),
            partitions: 16,
            ttl: Duration::from_secs(3),
        },
    )
    .await
    .expect("lease rows")
}

async fn two_owners_share_then_survivor_takes_over(db: &Database) {
    let mut first = leases(db, "first").await;
    let mut second = leases(db, "second").await;
    assert_eq!(first.tick().await.expect("tick").len(), 16, "a lone owner takes every partition");
    assert!(second.tick().await.expect("tick").is_empty(), "held partitions are not stolen");
    assert_eq!(first.tick().await.expect("tick").len(), 8, "the surplus is released");
    let second_share = second.tick().await.expect("tick");
    assert_eq!(second_share.len(), 8);
    let first_share = first.owned();
    assert!(first_share.is_disjoint(&second_share));
    let all: BTreeSet<u32> = first_share.union(&second_share).copied().collect();
    assert_eq!(all, (0..16).collect());

    // `first` dies: it stops renewing. `second` keeps ticking as a live relay does.
    let died = Instant::now();
    loop {
        let held = second.tick().await.expect("tick");
        if held.len() == 16 {
            break;
        }
        assert!(died.elapsed() < Duration::from_secs(5), "takeover took longer than 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(died.elapsed() < Duration::from_secs(5));
    assert!(first.owned().is_empty(), "a relay that could not renew stops trusting its leases");
}

async fn release_hands_partitions_over_at_once(db: &Database) {
    let mut first = leases(db, "first").await;
    let mut second = leases(db, "second").await;
    first.tick().await.expect("tick");
    first.release_all().await.expect("release");
    assert!(first.owned().is_empty());
    assert_eq!(second.tick().await.expect("tick").len(), 16, "no wait for expiry");
}

#[tokio::test]
async fn postgres_two_owners_share_then_survivor_takes_over() {
    let test_db = TestDb::postgres("leases_share").await;
    two_owners_share_then_survivor_takes_over(&test_db.db).await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn sqlite_two_owners_share_then_survivor_takes_over() {
    let test_db = TestDb::sqlite("leases_share").await;
    two_owners_share_then_survivor_takes_over(&test_db.db).await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn postgres_release_hands_partitions_over_at_once() {
    let test_db = TestDb::postgres("leases_release").await;
    release_hands_partitions_over_at_once(&test_db.db).await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn sqlite_release_hands_partitions_over_at_once() {
    let test_db = TestDb::sqlite("leases_release").await;
    release_hands_partitions_over_at_once(&test_db.db).await;
    test_db.cleanup().await;
}

#[tokio::test]
async fn malformed_urls_are_refused_before_connecting() {
    for (url, expected) in [
        ("nonsense", "no scheme"),
        ("mysql://root@127.0.0.1/test", "unsupported scheme `mysql`"),
        ("postgres://user:hunter2@127.0.0.1:notaport/db", "invalid database URL"),
    ] {
        let error = Database::connect(url, &herald_db::DatabaseOptions::default())
            .await
            .expect_err(url)
            .to_string();
        assert!(error.contains(expected), "{url}: {error}");
        assert!(!error.contains("hunter2"), "passwords never appear in errors: {error}");
    }
}
