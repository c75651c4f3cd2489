//! Optimistic concurrency: of two appends at one expected version exactly one commits,
//! together with its outbox row; the loser gets a conflict naming the actual version and
//! leaves nothing behind.

mod common;

use std::sync::Arc;

use common::{paid, placed};
use herald_db::{Database, Statement};
use herald_envelope::Envelope;
use herald_eventstore::{
    EventStore, EventStoreBackend, EventStoreError, ExpectedVersion, NewEvent, RecordedEvent,
};
use herald_outbox::{Outbox, OutboxBackend};
use herald_testkit::TestDb;
use tokio::sync::Barrier;

/// A payment event and the envelope announcing it, sharing one id.
fn payment(order_id: &str) -> (NewEvent, Envelope) {
    let event = common::OrderPaid { order_id: order_id.into(), customer: "ann".into() };
    let envelope = Envelope::from_event("orders", &event).expect("envelope");
    let new_event = NewEvent { event_id: *envelope.id.as_uuid(), ..paid(order_id, "ann") };
    (new_event, envelope)
}

/// Enqueues the envelope, then appends the event, in one transaction; commits only if
/// the append succeeded.
async fn pay_with_outbox<DB: EventStoreBackend + OutboxBackend>(
    db: &Database,
    order_id: &str,
    expected: ExpectedVersion,
) -> Result<Vec<RecordedEvent>, EventStoreError> {
    let (event, envelope) = payment(order_id);
    let mut tx = DB::begin_write(db).await?;
    Outbox::default().enqueue(&mut tx, &envelope).await.expect("enqueue");
    let recorded = EventStore::append_in(&mut tx, order_id, expected, &[event]).await?;
    tx.commit().await?;
    Ok(recorded)
}

async fn pay(
    db: &Database,
    order_id: &str,
    expected: ExpectedVersion,
) -> Result<Vec<RecordedEvent>, EventStoreError> {
    match db {
        Database::Postgres(_) => pay_with_outbox::<sqlx::Postgres>(db, order_id, expected).await,
        Database::Sqlite(_) => pay_with_outbox::<sqlx::Sqlite>(db, order_id, expected).await,
    }
}

async fn count(db: &Database, sql: &str) -> i64 {
    let (count,): (i64,) = db.reader().fetch_one(Statement::new(sql)).await.expect("count");
    count
}

async fn outbox_event_ids(db: &Database) -> Vec<uuid::Uuid> {
    let sql = "SELECT event_id FROM herald_outbox ORDER BY id";
    let rows: Vec<(uuid::Uuid,)> =
        db.reader().fetch_all(Statement::new(sql)).await.expect("outbox ids");
    rows.into_iter().map(|(id,)| id).collect()
}

async fn two_racing_appends_commit_exactly_one_with_its_outbox_row(test: TestDb) {
    let store = EventStore::new(test.db.clone());
    let rounds = 10;
    let mut winners = Vec::new();
    for round in 0..rounds {
        let order_id = format!("order-{round}");
        store
            .append(&order_id, ExpectedVersion::NoStream, &[placed(&order_id, "ann")])
            .await
            .expect("place");
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (db, barrier, order_id) = (test.db.clone(), barrier.clone(), order_id.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    pay(&db, &order_id, ExpectedVersion::Exactly(1)).await
                })
            })
            .collect();
        let mut won = Vec::new();
        let mut conflicts = 0;
        for racer in racers {
            match racer.await.expect("racer") {
                Ok(recorded) => won.extend(recorded),
                Err(EventStoreError::Conflict { actual, expected, stream_id }) => {
                    assert_eq!((actual, expected), (2, ExpectedVersion::Exactly(1)));
                    assert_eq!(stream_id, order_id);
                    conflicts += 1;
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert_eq!((won.len(), conflicts), (1, 1), "round {round}: exactly one wins");
        let stored = store.load(&order_id, 0).await.expect("load");
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1], won[0]);
        winners.push(won[0].event_id);
    }
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM herald_events").await, rounds * 2);
    assert_eq!(outbox_event_ids(&test.db).await, winners, "only the winners' envelopes");
    test.cleanup().await;
}

async fn no_stream_on_an_existing_stream_conflicts_and_writes_nothing(test: TestDb) {
    let store = EventStore::new(test.db.clone());
    store
        .append("order-1", ExpectedVersion::NoStream, &[placed("order-1", "ann")])
        .await
        .expect("place");
    let again = [placed("order-1", "bob")];
    match store.append("order-1", ExpectedVersion::NoStream, &again).await {
        Err(EventStoreError::Conflict {
            actual: 1, expected: ExpectedVersion::NoStream, ..
        }) => {}
        other => panic!("expected a conflict at version 1, got {other:?}"),
    }
    let stale = pay(&test.db, "order-1", ExpectedVersion::Exactly(0)).await;
    assert!(matches!(stale, Err(EventStoreError::Conflict { actual: 1, .. })), "{stale:?}");
    assert_eq!(store.load("order-1", 0).await.expect("load").len(), 1);
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM herald_outbox").await, 0);
    let appended = store.append("order-1", ExpectedVersion::Any, &[paid("order-1", "ann")]).await;
    assert_eq!(appended.expect("any").first().map(|event| event.version), Some(2));
    test.cleanup().await;
}

async fn a_conflict_inside_a_transaction_leaves_it_usable<DB: EventStoreBackend>(db: &Database) {
    let mut tx = DB::begin_write(db).await.expect("begin");
    let wrong = EventStore::append_in(
        &mut tx,
        "order-1",
        ExpectedVersion::Exactly(5),
        &[paid("order-1", "ann")],
    )
    .await;
    assert!(matches!(wrong, Err(EventStoreError::Conflict { actual: 1, .. })), "{wrong:?}");
    let right = EventStore::append_in(
        &mut tx,
        "order-1",
        ExpectedVersion::Exactly(1),
        &[paid("order-1", "ann")],
    )
    .await
    .expect("append after the conflict");
    assert_eq!(right[0].version, 2);
    tx.commit().await.expect("commit");
}

async fn a_conflicting_append_in_keeps_the_callers_transaction(test: TestDb) {
    let store = EventStore::new(test.db.clone());
    store
        .append("order-1", ExpectedVersion::NoStream, &[placed("order-1", "ann")])
        .await
        .expect("place");
    match &test.db {
        Database::Postgres(_) => {
            a_conflict_inside_a_transaction_leaves_it_usable::<sqlx::Postgres>(&test.db).await
        }
        Database::Sqlite(_) => {
            a_conflict_inside_a_transaction_leaves_it_usable::<sqlx::Sqlite>(&test.db).await
        }
    }
    let versions: Vec<i64> =
        store.load("order-1", 0).await.expect("load").iter().map(|event| event.version).collect();
    assert_eq!(versions, [1, 2]);
    test.cleanup().await;
}

async fn a_reused_event_id_is_refused_and_writes_nothing(test: TestDb) {
    let store = EventStore::new(test.db.clone());
    let first = placed("order-1", "ann");
    store
        .append("order-1", ExpectedVersion::NoStream, std::slice::from_ref(&first))
        .await
        .expect("place");
    let copy = NewEvent { event_id: first.event_id, ..paid("order-2", "ann") };
    let refused =
        store.append("order-2", ExpectedVersion::Any, &[paid("order-2", "ann"), copy]).await;
    assert!(matches!(refused, Err(EventStoreError::DuplicateEvent { .. })), "{refused:?}");
    assert_eq!(store.version("order-2").await.expect("version"), 0);
    test.cleanup().await;
}

on_both_databases!(
    two_racing_appends_commit_exactly_one_with_its_outbox_row,
    no_stream_on_an_existing_stream_conflicts_and_writes_nothing,
    a_conflicting_append_in_keeps_the_callers_transaction,
    a_reused_event_id_is_refused_and_writes_nothing,
);
