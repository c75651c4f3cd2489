//! A database created by the release before migration 0010 (times as PostgreSQL
//! `TIMESTAMPTZ`, leases in milliseconds) keeps working after the upgrade: every time it
//! held reads back unchanged through Herald's APIs, and a lease it held is still held.
//!
//! The old release is reproduced by applying this crate's migrations 0001 to 0009 only,
//! then writing rows the way that release wrote them.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use herald_consumer::{DeadLetterFilter, DeadLetterStore};
use herald_db::lease::{LeaseConfig, Leases};
use herald_db::{Backend, Database, Param, Statement};
use herald_outbox::{OutboxStore, Retention};
use herald_testkit::TestDb;
use uuid::Uuid;

/// The last migration of the release before times were stored one way.
const LAST_OLD_MIGRATION: u32 = 9;

/// Applies the migrations up to [`LAST_OLD_MIGRATION`], as the old release did.
async fn migrate_as_old_release(db: &Database) {
    let dialect = match db {
        Database::Postgres(_) => "postgres",
        Database::Sqlite(_) => "sqlite",
    };
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("../herald-db/migrations").join(dialect);
    let old = tempfile::tempdir().expect("temporary directory");
    for entry in std::fs::read_dir(&all).expect("migrations directory") {
        let path = entry.expect("migration file").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("file name").to_owned();
        let version: u32 = name[..4].parse().expect("a migration starts with its version");
        if version <= LAST_OLD_MIGRATION {
            std::fs::copy(&path, old.path().join(&name)).expect("copy migration");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.expect("old migrations");
    assert_eq!(migrator.iter().count(), 9, "the old release had nine migrations");
    match db {
        Database::Postgres(pool) => migrator.run(pool).await,
        Database::Sqlite(sqlite) => migrator.run(&sqlite.writer).await,
    }
    .expect("apply the old release's migrations");
}

/// What the old release wrote, and when.
struct OldRows {
    event_id: Uuid,
    committed: DateTime<Utc>,
    processed: DateTime<Utc>,
    first_failed: DateTime<Utc>,
    last_failed: DateTime<Utc>,
}

impl OldRows {
    fn new() -> OldRows {
        let committed: DateTime<Utc> = "2026-01-02T03:04:05.123456Z".parse().expect("a valid time");
        OldRows {
            event_id: Uuid::now_v7(),
            committed,
            processed: committed + Duration::from_secs(1),
            first_failed: committed + Duration::from_secs(2),
            last_failed: committed + Duration::from_secs(3),
        }
    }
}

/// Writes an unsent outbox row, an inbox record, a dead letter and a lease held for an
/// hour more, each with its times in the old release's form on that database.
async fn write_as_old_release(db: &Database, rows: &OldRows) {
    const OUTBOX: &str = "INSERT INTO herald_outbox (event_id, partition, partition_key, \
         event_type, kind, routing_key, payload, created_at) \
         VALUES ($1, 0, 'customer-1', 'test.invoiced', 'integration', \
         'integration.test.invoiced.v1', $2, $3)";
    const INBOX: &str =
        "INSERT INTO herald_inbox (consumer, event_id, processed_at) VALUES ('billing', $1, $2)";
    const DEAD_LETTER: &str = "INSERT INTO herald_dead_letters (id, service, event_id, \
         event_type, routing_key, partition_key, payload, reason, error, attempts, \
         first_failed_at, last_failed_at) VALUES ($1, 'billing', $2, 'test.invoiced', \
         'integration.test.invoiced.v1', 'customer-1', $3, 'rejected', 'no such customer', 3, $4, $5)";
    const LEASE: &str = "INSERT INTO herald_leases (scope, partition, owner, expires_at) \
         VALUES ('relay', 0, 'old-relay', $1)";
    // The old release: TIMESTAMPTZ on PostgreSQL, INTEGER microseconds on SQLite.
    let time = |time: DateTime<Utc>| -> Param<'static> {
        match db.backend() {
            Backend::Postgres => time.into(),
            Backend::Sqlite => time.timestamp_micros().into(),
        }
    };
    let in_an_hour_ms = (Utc::now() + Duration::from_secs(3600)).timestamp_millis();
    let (writer, id, payload) = (db.writer(), rows.event_id, b"{}".as_slice());
    let statements = [
        Statement::new(OUTBOX).bind(id).bind(payload).bind(time(rows.committed)),
        Statement::new(INBOX).bind(id).bind(time(rows.processed)),
        Statement::new(DEAD_LETTER)
            .bind(Uuid::now_v7())
            .bind(id)
            .bind(payload)
            .bind(time(rows.first_failed))
            .bind(time(rows.last_failed)),
        Statement::new(LEASE).bind(in_an_hour_ms),
    ];
    for statement in statements {
        writer.execute(statement).await.expect("a row as the old release wrote it");
    }
}

async fn an_old_database_keeps_its_times_and_leases(db: &Database) {
    migrate_as_old_release(db).await;
    let rows = OldRows::new();
    write_as_old_release(db, &rows).await;

    db.migrate().await.expect("upgrade to this release");

    let journey = herald_admin::ledger::journey(db, rows.event_id)
        .await
        .expect("read the journey")
        .expect("the event is known");
    let at = |state: &str| at_state(&journey, state);
    assert_eq!(at("committed"), Some(rows.committed), "outbox created_at: {journey:?}");
    assert_eq!(at("processed"), Some(rows.processed), "inbox processed_at: {journey:?}");
    assert_eq!(at("dead_lettered"), Some(rows.last_failed), "last_failed_at: {journey:?}");

    let letters = DeadLetterStore::new(db.clone())
        .list(&DeadLetterFilter::default())
        .await
        .expect("list dead letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].first_failed_at, rows.first_failed);
    assert_eq!(letters[0].last_failed_at, rows.last_failed);

    let store = OutboxStore::new(db.clone(), Retention::default());
    let status = store.status().await.expect("outbox status");
    let age = (Utc::now() - rows.committed).to_std().expect("committed in the past");
    assert_eq!(status.len(), 1, "one partition has an unsent row: {status:?}");
    let drift = status[0].oldest_age.abs_diff(age);
    assert!(drift < Duration::from_secs(60), "oldest age {:?}, expected {age:?}", status[0]);

    // The old relay's lease on partition 0 runs for another hour, in microseconds now:
    // a new relay must not take it.
    let mut leases = Leases::new(
        db.clone(),
        LeaseConfig {
            scope: "relay".into(),
            owner: "new-relay".into(),
            partitions: 4,
            ttl: Duration::from_secs(5),
        },
    )
    .await
    .expect("lease rows");
    let held = leases.tick().await.expect("tick");
    assert_eq!(
        held,
        [1, 2, 3].into(),
        "the new relay takes every partition but the one whose old lease runs on"
    );

    // New rows get the database's clock in the same unit.
    let fetched = store.fetch_unsent(&[0], 10).await.expect("fetch");
    assert_eq!(fetched[0].created_at_us, rows.committed.timestamp_micros());
    store.mark_sent(&[fetched[0].id]).await.expect("mark sent");
    let journey = herald_admin::ledger::journey(db, rows.event_id)
        .await
        .expect("read the journey")
        .expect("the event is known");
    let published = at_state(&journey, "published").expect("published");
    let since_publish = Utc::now() - published;
    assert!(
        since_publish >= chrono::TimeDelta::zero() && since_publish.num_seconds() < 60,
        "published at {published}, now {}",
        Utc::now()
    );
}

fn at_state(journey: &herald_admin::ledger::Journey, state: &str) -> Option<DateTime<Utc>> {
    journey.states.iter().find(|step| step.state == state).map(|step| step.at)
}

#[tokio::test]
async fn a_postgres_database_of_the_previous_release_upgrades_in_place() {
    let test = TestDb::postgres_unmigrated("upgrade").await;
    an_old_database_keeps_its_times_and_leases(&test.db).await;
    test.cleanup().await;
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_release_upgrades_in_place() {
    let test = TestDb::sqlite_unmigrated("upgrade").await;
    an_old_database_keeps_its_times_and_leases(&test.db).await;
    test.cleanup().await;
}
