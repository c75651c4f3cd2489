//! The global position on PostgreSQL: concurrent appenders to different streams get
//! positions 1..=N without gaps or duplicates, and a reader following `position >
//! checkpoint` while they append never skips an event that commits late.

mod common;

use std::collections::HashSet;

use herald_eventstore::{EventStore, ExpectedVersion, RecordedEvent};
use herald_testkit::TestDb;

const APPENDERS: usize = 8;
const APPENDS_EACH: usize = 25;

/// Appends to its own stream, one to three events at a time; returns the event ids.
async fn append_many(store: EventStore, appender: usize) -> Vec<uuid::Uuid> {
    let stream_id = format!("order-{appender}");
    let mut ids = Vec::new();
    for append in 0..APPENDS_EACH {
        let events: Vec<_> = (0..=append % 3).map(|_| common::item(&stream_id, "ann", 1)).collect();
        let expected = ExpectedVersion::Exactly(ids.len() as i64);
        let recorded = store.append(&stream_id, expected, &events).await.expect("append");
        ids.extend(recorded.iter().map(|event| event.event_id));
    }
    ids
}

/// Follows the store by position until it has read `total` events, checking that every
/// batch continues exactly where the last one ended.
async fn follow(store: EventStore, total: usize) -> Vec<RecordedEvent> {
    let mut read: Vec<RecordedEvent> = Vec::new();
    while read.len() < total {
        let after = read.last().map_or(0, |event| event.position);
        let batch = store.read_all(after, 7).await.expect("read");
        for (offset, event) in (1..).zip(&batch) {
            assert_eq!(event.position, after + offset, "a position was skipped or repeated");
        }
        read.extend(batch);
        tokio::task::yield_now().await;
    }
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_appenders_get_gapless_positions_that_a_follower_never_skips() {
    let test = TestDb::postgres("eventstore_position").await;
    let store = EventStore::new(test.db.clone());
    let total = APPENDERS * (0..APPENDS_EACH).map(|append| append % 3 + 1).sum::<usize>();
    let follower = tokio::spawn(follow(store.clone(), total));
    let appenders: Vec<_> =
        (0..APPENDERS).map(|appender| tokio::spawn(append_many(store.clone(), appender))).collect();
    let mut appended = HashSet::new();
    for appender in appenders {
        appended.extend(appender.await.expect("appender"));
    }
    assert_eq!(appended.len(), total);

    let followed = follower.await.expect("follower");
    let all = store.read_all(0, 10_000).await.expect("read all");
    let positions: Vec<i64> = all.iter().map(|event| event.position).collect();
    assert_eq!(positions, (1..=total as i64).collect::<Vec<_>>(), "gapless, strictly increasing");
    assert_eq!(all.iter().map(|event| event.event_id).collect::<HashSet<_>>(), appended);
    assert_eq!(followed, all, "the follower read every event once, in order");
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_append_that_collides_with_an_uncommitted_position_retries_after_it() {
    let test = TestDb::postgres("eventstore_retry").await;
    let herald_db::Database::Postgres(pool) = &test.db else { panic!("a PostgreSQL database") };
    let store = EventStore::new(test.db.clone());
    // A writer that bypasses the store's lock holds position 1, uncommitted.
    let mut bypass = pool.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO herald_events (stream_id, version, position, event_id, event_type, \
         schema_version, payload, metadata, recorded_at) \
         VALUES ('other', 1, 1, $1, 'orders.order_placed', 1, '{}', '{}', 0)",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&mut *bypass)
    .await
    .expect("insert position 1");
    let append = tokio::spawn({
        let store = store.clone();
        async move {
            let events = [common::placed("order-1", "ann")];
            store.append("order-1", ExpectedVersion::NoStream, &events).await
        }
    });
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    herald_testkit::wait_until(
        std::time::Duration::from_secs(10),
        "the append to wait",
        || async {
            sqlx::query_scalar::<_, i64>(waiting).fetch_one(pool).await.expect("activity") > 0
        },
    )
    .await;
    bypass.commit().await.expect("commit position 1");
    let recorded = append.await.expect("append task").expect("append retried");
    assert_eq!((recorded[0].version, recorded[0].position), (1, 2));
    test.cleanup().await;
}
