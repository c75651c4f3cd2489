//! The cases of the outbox suite, written once against [`Database`].

use std::time::Duration;

use herald_db::Database;
use herald_envelope::{Envelope, Event, EventKind, Limits, partition_of};
use herald_outbox::{Outbox, OutboxConfig, OutboxError, OutboxStore, Retention};
use serde::{Deserialize, Serialize};

/// A small typed event for the suite.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct Pinged {
    pub(crate) key: String,
    pub(crate) n: u32,
    pub(crate) note: String,
}

impl Event for Pinged {
    const TYPE: &'static str = "suite.pinged";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.key.clone()
    }
}

pub(crate) fn pinged(key: &str, n: u32) -> Envelope {
    Envelope::from_event("/suite", &Pinged { key: key.into(), n, note: String::new() })
        .expect("valid event")
}

/// Enqueues in a transaction of its own, committed or rolled back.
pub(crate) async fn enqueue(
    db: &Database,
    outbox: &Outbox,
    envelope: &Envelope,
    commit: bool,
) -> Result<i64, OutboxError> {
    match db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let id = outbox.enqueue(&mut tx, envelope).await?;
            if commit {
                tx.commit().await?
            } else {
                tx.rollback().await?
            }
            Ok(id)
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.writer.begin().await?;
            let id = outbox.enqueue(&mut tx, envelope).await?;
            if commit {
                tx.commit().await?
            } else {
                tx.rollback().await?
            }
            Ok(id)
        }
    }
}

pub(crate) async fn count_rows(db: &Database) -> i64 {
    let sql = "SELECT count(*) FROM herald_outbox";
    match db {
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        Database::Sqlite(sqlite) => sqlx::query_scalar(sql).fetch_one(&sqlite.reader).await,
    }
    .expect("count outbox rows")
}

fn all_partitions() -> Vec<u32> {
    (0..16).collect()
}

fn outbox() -> Outbox {
    Outbox::new(OutboxConfig::default()).expect("default config is valid")
}

pub(crate) async fn committed_event_is_fetched_with_its_partition(db: &Database) {
    let outbox = outbox();
    let envelope = pinged("order-7", 1);
    let id = enqueue(db, &outbox, &envelope, true).await.expect("enqueue");
    let rows = OutboxStore::new(db.clone(), Retention::default())
        .fetch_unsent(&all_partitions(), 10)
        .await
        .expect("fetch");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id, id);
    assert_eq!(row.event_id, *envelope.id.as_uuid());
    assert_eq!(row.partition, partition_of("order-7", 16));
    assert_eq!(row.partition_key, "order-7");
    assert_eq!(row.routing_key, "integration.suite.pinged.v1");
    let decoded = Envelope::from_json(&row.payload, &Limits::default()).expect("payload decodes");
    assert_eq!(decoded, envelope);
}

pub(crate) async fn rolled_back_event_never_exists(db: &Database) {
    let outbox = outbox();
    enqueue(db, &outbox, &pinged("a", 1), false).await.expect("enqueue");
    enqueue(db, &outbox, &pinged("a", 2), true).await.expect("enqueue");
    let rows = OutboxStore::new(db.clone(), Retention::default())
        .fetch_unsent(&all_partitions(), 10)
        .await
        .expect("fetch");
    assert_eq!(rows.len(), 1, "only the committed event exists");
    assert_eq!(count_rows(db).await, 1);
}

pub(crate) async fn unsent_rows_come_in_id_order_per_partition(db: &Database) {
    let outbox = outbox();
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(
            enqueue(db, &outbox, &pinged(&format!("k{}", n % 3), n), true).await.expect("enqueue"),
        );
    }
    let rows = OutboxStore::new(db.clone(), Retention::default())
        .fetch_unsent(&all_partitions(), 100)
        .await
        .expect("fetch");
    let fetched: Vec<i64> = rows.iter().map(|row| row.id).collect();
    assert_eq!(fetched, ids, "every row, in id order");
}

pub(crate) async fn fetch_respects_partitions_and_limit(db: &Database) {
    let outbox = outbox();
    for n in 0..40 {
        enqueue(db, &outbox, &pinged(&format!("key-{}", n % 8), n), true).await.expect("enqueue");
    }
    let store = OutboxStore::new(db.clone(), Retention::default());
    let wanted = partition_of("key-1", 16);
    let rows = store.fetch_unsent(&[wanted], 3).await.expect("fetch");
    assert!(!rows.is_empty() && rows.len() <= 3, "got {}", rows.len());
    assert!(rows.iter().all(|row| row.partition == wanted));
    assert!(rows.windows(2).all(|pair| pair[0].id < pair[1].id));
    let none = store.fetch_unsent(&[], 10).await.expect("fetch none");
    assert!(none.is_empty());
}

pub(crate) async fn sent_rows_are_no_longer_fetched(db: &Database) {
    let outbox = outbox();
    let first = enqueue(db, &outbox, &pinged("a", 1), true).await.expect("enqueue");
    let second = enqueue(db, &outbox, &pinged("a", 2), true).await.expect("enqueue");
    let store = OutboxStore::new(db.clone(), Retention::default());
    store.mark_sent(&[first]).await.expect("mark");
    let rows = store.fetch_unsent(&all_partitions(), 10).await.expect("fetch");
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![second]);
    assert_eq!(count_rows(db).await, 2, "retained for inspection");
    assert!(store.status().await.expect("status").iter().all(|p| p.pending == 1));
}

pub(crate) async fn delete_on_send_removes_rows(db: &Database) {
    let outbox = outbox();
    let id = enqueue(db, &outbox, &pinged("a", 1), true).await.expect("enqueue");
    OutboxStore::new(db.clone(), Retention::DeleteOnSend).mark_sent(&[id]).await.expect("mark");
    assert_eq!(count_rows(db).await, 0);
}

pub(crate) async fn failure_is_recorded_and_row_stays_unsent(db: &Database) {
    let outbox = outbox();
    let id = enqueue(db, &outbox, &pinged("a", 1), true).await.expect("enqueue");
    let store = OutboxStore::new(db.clone(), Retention::default());
    store.record_failure(id, "broker said no").await.expect("record");
    let rows = store.fetch_unsent(&all_partitions(), 10).await.expect("fetch");
    assert_eq!(rows.len(), 1);
    let sql = "SELECT attempts, last_error FROM herald_outbox";
    let (attempts, error): (i32, String) = match db {
        Database::Postgres(pool) => sqlx::query_as(sql).fetch_one(pool).await,
        Database::Sqlite(sqlite) => sqlx::query_as(sql).fetch_one(&sqlite.reader).await,
    }
    .expect("read failure");
    assert_eq!((attempts, error.as_str()), (1, "broker said no"));
}

pub(crate) async fn purge_removes_only_old_sent_rows_in_bounded_batches(db: &Database) {
    let outbox = outbox();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(enqueue(db, &outbox, &pinged("a", n), true).await.expect("enqueue"));
    }
    let keep_long = OutboxStore::new(db.clone(), Retention::Keep(Duration::from_secs(3600)));
    keep_long.mark_sent(&ids[..4]).await.expect("mark");
    assert_eq!(keep_long.purge_sent(100).await.expect("purge"), 0, "nothing is old enough");
    let keep_none = OutboxStore::new(db.clone(), Retention::Keep(Duration::ZERO));
    assert_eq!(keep_none.purge_sent(3).await.expect("purge"), 3, "bounded by max_rows");
    assert_eq!(keep_none.purge_sent(100).await.expect("purge"), 1);
    assert_eq!(count_rows(db).await, 1, "the unsent row stays");
}

/// Runs one statement with an event id and two times bound (microseconds).
async fn execute(db: &Database, sql: &str, id: uuid::Uuid, first: i64, second: i64) {
    let done = match db {
        Database::Postgres(pool) => {
            sqlx::query(sql).bind(id).bind(first).bind(second).execute(pool).await.map(drop)
        }
        Database::Sqlite(sqlite) => {
            let query = sqlx::query(sql).bind(id).bind(first).bind(second);
            query.execute(&sqlite.writer).await.map(drop)
        }
    };
    done.expect("statement");
}

async fn count(db: &Database, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    match db {
        Database::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await,
        Database::Sqlite(sqlite) => sqlx::query_scalar(&sql).fetch_one(&sqlite.reader).await,
    }
    .expect("count")
}

pub(crate) async fn ledger_records_past_retention_are_purged_in_bounded_batches(db: &Database) {
    let outbox = outbox();
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(enqueue(db, &outbox, &pinged("a", n), true).await.expect("enqueue"));
    }
    let week = Duration::from_secs(7 * 86_400);
    let store = OutboxStore::new(db.clone(), Retention::Keep(Duration::from_secs(3600)))
        .with_ledger_retention(week);
    store.mark_sent(&ids).await.expect("mark");
    assert_eq!(count(db, "herald_ledger_events").await, 3, "marking sent records the ledger");
    assert_eq!(store.purge_ledger(100).await.expect("purge"), 0, "nothing is a week old");

    // Two events committed eight days ago; a retry step as old, and a fresh one.
    let now = i64::try_from(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros(),
    )
    .unwrap();
    let eight_days_ago = now - 8 * 86_400 * 1_000_000;
    let age = "UPDATE herald_ledger_events SET committed_at = $2 WHERE event_id IN ( \
               SELECT event_id FROM herald_ledger_events WHERE event_id <> $1 \
               ORDER BY committed_at LIMIT $3)";
    let unrelated = uuid::Uuid::now_v7(); // the steps' event; no ledger record has it
    execute(db, age, unrelated, eight_days_ago, 2).await;
    let steps = "INSERT INTO herald_ledger_steps (event_id, service, state, at, detail) \
                 VALUES ($1, 'billing', 'retried', $2, 'old'), ($1, 'billing', 'retried', $3, 'new')";
    execute(db, steps, unrelated, eight_days_ago, now).await;

    assert_eq!(store.purge_ledger(1).await.expect("purge"), 2, "one of each, bounded by max_rows");
    assert_eq!(store.purge_ledger(100).await.expect("purge"), 1, "the other old event");
    assert_eq!(store.purge_ledger(100).await.expect("purge"), 0);
    assert_eq!(count(db, "herald_ledger_events").await, 1, "the recent event stays");
    assert_eq!(count(db, "herald_ledger_steps").await, 1, "the recent step stays");
}

pub(crate) async fn status_counts_unsent_rows_per_partition(db: &Database) {
    let outbox = outbox();
    for n in 0..3 {
        enqueue(db, &outbox, &pinged("alpha", n), true).await.expect("enqueue");
    }
    enqueue(db, &outbox, &pinged("beta", 0), true).await.expect("enqueue");
    let status = OutboxStore::new(db.clone(), Retention::default()).status().await.expect("status");
    let total: i64 = status.iter().map(|p| p.pending).sum();
    assert_eq!(total, 4);
    let alpha = status.iter().find(|p| p.partition == partition_of("alpha", 16)).expect("alpha");
    assert!(alpha.pending >= 3);
}

pub(crate) async fn invalid_envelope_is_refused_and_nothing_is_written(db: &Database) {
    let outbox = outbox();
    let mut envelope = pinged("a", 1);
    envelope.partition_key = String::new();
    let error = enqueue(db, &outbox, &envelope, true).await.expect_err("empty key is invalid");
    assert!(error.to_string().contains("partitionkey"), "{error}");
    let mut envelope = pinged("a", 1);
    envelope.event_type = "Not A Type".into();
    let error = enqueue(db, &outbox, &envelope, true).await.expect_err("bad type is invalid");
    assert!(error.to_string().contains("type"), "{error}");
    assert_eq!(count_rows(db).await, 0);
}

pub(crate) async fn oversize_event_is_refused_and_nothing_is_written(db: &Database) {
    let outbox = Outbox::new(OutboxConfig {
        limits: Limits { max_event_bytes: 4096 },
        ..OutboxConfig::default()
    })
    .expect("config");
    let big = Pinged { key: "a".into(), n: 1, note: "x".repeat(5000) };
    let envelope = Envelope::from_event("/suite", &big).expect("valid event");
    let error = enqueue(db, &outbox, &envelope, true).await.expect_err("too large");
    assert!(error.to_string().contains("limit of 4096 bytes"), "{error}");
    assert_eq!(count_rows(db).await, 0);
}

/// Enqueues a batch in a transaction of its own, which commits whether the batch was
/// refused or not (so a refused batch shows it wrote nothing).
async fn enqueue_many_then_commit(
    db: &Database,
    outbox: &Outbox,
    envelopes: &[Envelope],
) -> Result<Vec<i64>, OutboxError> {
    match db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let ids = outbox.enqueue_many(&mut tx, envelopes).await;
            tx.commit().await?;
            ids
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.writer.begin().await?;
            let ids = outbox.enqueue_many(&mut tx, envelopes).await;
            tx.commit().await?;
            ids
        }
    }
}

pub(crate) async fn a_batch_is_enqueued_in_order_and_each_id_is_its_rows(db: &Database) {
    let outbox = outbox();
    let envelopes: Vec<Envelope> = (0..6).map(|n| pinged(&format!("key-{n}"), n)).collect();
    let ids = enqueue_many_then_commit(db, &outbox, &envelopes).await.expect("enqueue batch");
    assert_eq!(ids.len(), envelopes.len());
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids ascend in the batch's order");
    let store = OutboxStore::new(db.clone(), Retention::default());
    let rows = store.fetch_unsent(&all_partitions(), 100).await.expect("fetch");
    assert_eq!(rows.len(), envelopes.len());
    for (id, envelope) in ids.iter().zip(&envelopes) {
        let row = rows.iter().find(|row| row.id == *id).expect("the id's row");
        assert_eq!(row.event_id, *envelope.id.as_uuid(), "row {id}");
        assert_eq!(row.partition_key, envelope.partition_key);
    }
    let none = enqueue_many_then_commit(db, &outbox, &[]).await.expect("empty batch");
    assert!(none.is_empty());
}

pub(crate) async fn a_batch_with_one_invalid_envelope_writes_nothing(db: &Database) {
    let outbox = outbox();
    let mut envelopes: Vec<Envelope> = (0..4).map(|n| pinged("key", n)).collect();
    envelopes[2].partition_key = String::new();
    let error =
        enqueue_many_then_commit(db, &outbox, &envelopes).await.expect_err("one is invalid");
    let message = error.to_string();
    assert!(message.contains("event 2 of the batch"), "{message}");
    assert!(message.contains(&envelopes[2].id.to_string()), "{message}");
    assert!(message.contains("partitionkey"), "{message}");
    assert_eq!(count_rows(db).await, 0);
}

/// More rows than one SQLite statement takes: every row written once, ids in order.
pub(crate) async fn a_batch_larger_than_one_statement_is_written_whole(db: &Database) {
    let outbox = outbox();
    let envelopes: Vec<Envelope> = (0..1201).map(|n| pinged(&format!("key-{n}"), n)).collect();
    let ids = enqueue_many_then_commit(db, &outbox, &envelopes).await.expect("enqueue batch");
    assert_eq!(ids.len(), 1201);
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids ascend in the batch's order");
    assert_eq!(count_rows(db).await, 1201);
    let store = OutboxStore::new(db.clone(), Retention::default());
    let rows = store.fetch_unsent(&all_partitions(), 2000).await.expect("fetch");
    let last = rows.iter().find(|row| row.id == ids[1200]).expect("the last id's row");
    assert_eq!(last.event_id, *envelopes[1200].id.as_uuid());
}
