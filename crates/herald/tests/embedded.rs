//! `Herald::write`, the embedded engine's fast path: the service's rows and its events
//! commit together on SQLite's writer thread, or not at all.

use herald::prelude::*;
use herald::{Database, Statement};
use herald_testkit::TestDb;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct NoteTaken {
    id: i64,
}

impl Event for NoteTaken {
    const TYPE: &'static str = "test.note_taken";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.id.to_string()
    }
}

async fn counts(db: &Database) -> (i64, i64) {
    let Database::Sqlite(sqlite) = db else { panic!("SQLite expected") };
    let notes = sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&sqlite.reader);
    let events = sqlx::query_scalar("SELECT count(*) FROM herald_outbox WHERE event_type = ?1")
        .bind(NoteTaken::TYPE)
        .fetch_one(&sqlite.reader);
    (notes.await.expect("notes"), events.await.expect("events"))
}

#[tokio::test]
async fn rows_and_events_commit_together_or_not_at_all() {
    let db = TestDb::sqlite("facade_write").await;
    let herald = Herald::builder().database(&db.url).build().await.expect("herald");
    let mut setup = herald.begin().await.expect("begin");
    setup
        .execute(Statement::new("CREATE TABLE notes (id INTEGER PRIMARY KEY)"))
        .await
        .expect("table");
    setup.commit().await.expect("commit");

    let envelope = herald
        .write(|tx| {
            tx.execute("INSERT INTO notes (id) VALUES (1)", [])?;
            tx.enqueue_event("/notes", &NoteTaken { id: 1 })
        })
        .await
        .expect("the transaction commits");
    assert_eq!(envelope.partition_key, "1");
    assert_eq!(counts(&db.db).await, (1, 1));

    let refused = herald
        .write(|tx| {
            tx.execute("INSERT INTO notes (id) VALUES (2)", [])?;
            tx.enqueue_event("/notes", &NoteTaken { id: 2 })?;
            tx.execute("INSERT INTO notes (id) VALUES (1)", [])?; // duplicate key
            Ok(())
        })
        .await;
    let error = refused.expect_err("a failing statement fails the transaction");
    assert!(error.to_string().contains("UNIQUE"), "{error}");
    assert_eq!(counts(&db.db).await, (1, 1), "neither the row nor the event of the failed one");

    let mut bad = Envelope::from_event("/notes", &NoteTaken { id: 3 }).expect("envelope");
    bad.source = String::new();
    let refused = herald
        .write(move |tx| {
            tx.execute("INSERT INTO notes (id) VALUES (3)", [])?;
            tx.enqueue(&bad)
        })
        .await;
    assert!(refused.is_err(), "an invalid event is refused");
    assert_eq!(counts(&db.db).await, (1, 1), "and its transaction's row is not written");
    herald.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn write_on_postgres_says_to_use_begin() {
    let db = TestDb::postgres("facade_write_pg").await;
    let herald = Herald::builder().database(&db.url).build().await.expect("herald");
    let error = herald.write(|_tx| Ok(())).await.expect_err("PostgreSQL has no writer thread");
    assert!(error.to_string().contains("Herald::begin"), "{error}");
    herald.close().await;
    db.cleanup().await;
}
