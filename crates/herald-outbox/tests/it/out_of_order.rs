//! Out-of-order commits (PostgreSQL only: SQLite has one writer at a time, so a later
//! transaction can never commit before an earlier one that already wrote).

use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};

use crate::suite::pinged;

#[tokio::test]
async fn a_row_committed_late_is_still_fetched() {
    let test_db = herald_testkit::TestDb::postgres("out_of_order").await;
    let herald_db::Database::Postgres(pool) = &test_db.db else { unreachable!("postgres") };
    let outbox = Outbox::new(OutboxConfig::default()).expect("config");
    let store = OutboxStore::new(test_db.db.clone(), Retention::default());
    let partitions: Vec<u32> = (0..16).collect();

    let mut early = pool.begin().await.expect("begin");
    let early_id = outbox.enqueue(&mut early, &pinged("same-key", 1)).await.expect("enqueue");
    let mut late = pool.begin().await.expect("begin");
    let late_id = outbox.enqueue(&mut late, &pinged("same-key", 2)).await.expect("enqueue");
    assert!(early_id < late_id);
    late.commit().await.expect("commit");

    let first = store.fetch_unsent(&partitions, 10).await.expect("fetch");
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), vec![late_id]);
    store.mark_sent(&[late_id]).await.expect("mark");

    early.commit().await.expect("commit");
    let second = store.fetch_unsent(&partitions, 10).await.expect("fetch");
    assert_eq!(
        second.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![early_id],
        "the late commit is not skipped"
    );
    test_db.cleanup().await;
}

/// A relay with rows in flight reads the next rows without them, never "past the last
/// one in flight": a row of key K committed late, with a lower id than a row already in
/// flight, still comes before the next row of K.
#[tokio::test]
async fn with_rows_in_flight_a_late_commit_still_comes_before_its_keys_next_row() {
    let test_db = herald_testkit::TestDb::postgres("in_flight_late").await;
    let herald_db::Database::Postgres(pool) = &test_db.db else { unreachable!("postgres") };
    let outbox =
        Outbox::new(OutboxConfig { partitions: 1, ..OutboxConfig::default() }).expect("config");
    let store = OutboxStore::new(test_db.db.clone(), Retention::default());

    let mut late = pool.begin().await.expect("begin");
    let k1 = outbox.enqueue(&mut late, &pinged("key-k", 1)).await.expect("enqueue");
    let mut other = pool.begin().await.expect("begin");
    let other_id = outbox.enqueue(&mut other, &pinged("key-j", 1)).await.expect("enqueue");
    other.commit().await.expect("commit");
    let first = store.fetch_unsent_except(&[0], &[], 10).await.expect("fetch");
    assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), vec![other_id]);

    late.commit().await.expect("commit");
    let mut next = pool.begin().await.expect("begin");
    let k2 = outbox.enqueue(&mut next, &pinged("key-k", 2)).await.expect("enqueue");
    next.commit().await.expect("commit");
    assert!(k1 < other_id && other_id < k2);
    let second = store.fetch_unsent_except(&[0], &[other_id], 10).await.expect("fetch");
    assert_eq!(
        second.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![k1, k2],
        "key-k's first event comes before its second, though its id is below the one in flight"
    );
    test_db.cleanup().await;
}
