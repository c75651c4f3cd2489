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
