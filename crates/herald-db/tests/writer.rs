//! The embedded engine's writer thread: jobs queued together share one commit, and each
//! stays all or nothing within it.

use std::sync::mpsc;
use std::time::Duration;

use herald_db::rusqlite;
use herald_db::{Database, SqliteWriter};
use herald_testkit::TestDb;

async fn notes(db: &Database) -> Vec<String> {
    let Database::Sqlite(sqlite) = db else { panic!("SQLite expected") };
    sqlx::query_scalar("SELECT body FROM notes ORDER BY body")
        .fetch_all(&sqlite.reader)
        .await
        .expect("read notes")
}

fn writer_of(db: &TestDb) -> SqliteWriter {
    let Database::Sqlite(sqlite) = &db.db else { panic!("SQLite expected") };
    sqlite.engine.clone().expect("a file database has an engine")
}

async fn create_notes(writer: &SqliteWriter) {
    writer
        .transaction(|tx| {
            tx.execute("CREATE TABLE notes (body TEXT NOT NULL UNIQUE)", [])?;
            Ok::<_, rusqlite::Error>(())
        })
        .await
        .expect("create table");
}

fn insert(tx: &rusqlite::Transaction<'_>, body: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT INTO notes (body) VALUES (?1)")?.execute([body]).map(drop)
}

#[tokio::test]
async fn a_failed_job_is_undone_alone_and_the_rest_of_its_batch_commits() {
    let db = TestDb::sqlite("writer_batch").await;
    let writer = writer_of(&db);
    create_notes(&writer).await;
    // The first job holds the writer thread until the next three are queued, so that
    // those three run in one batch, one transaction.
    let (release, hold) = mpsc::channel::<()>();
    let (started, has_started) = tokio::sync::oneshot::channel::<()>();
    let blocker = tokio::spawn({
        let writer = writer.clone();
        async move {
            writer
                .transaction(move |tx| {
                    let _ = started.send(());
                    hold.recv_timeout(Duration::from_secs(10)).expect("released");
                    insert(tx, "first")
                })
                .await
        }
    });
    has_started.await.expect("the first job runs");
    let kept = writer.transaction(|tx| insert(tx, "kept"));
    let refused = writer.transaction(|tx| {
        insert(tx, "written then undone")?;
        insert(tx, "first") // violates UNIQUE: the job fails after one write
    });
    let panicked = writer.transaction(|tx| -> rusqlite::Result<()> {
        insert(tx, "by a panicking job")?;
        panic!("a job that panics")
    });
    release.send(()).expect("release the first job");
    blocker.await.expect("task").expect("the first job commits");
    let (kept, refused, panicked) = tokio::join!(kept, refused, panicked);
    kept.expect("a good job of the batch commits");
    let refusal = refused.expect_err("the failing job reports its own error");
    assert!(refusal.to_string().contains("UNIQUE"), "{refusal}");
    let dropped = panicked.expect_err("the panicking job reports an error");
    assert!(dropped.to_string().contains("panicked"), "{dropped}");
    assert_eq!(notes(&db.db).await, vec!["first".to_owned(), "kept".to_owned()]);
    db.cleanup().await;
}

#[tokio::test]
async fn concurrent_jobs_all_commit_and_are_visible_to_other_connections() {
    let db = TestDb::sqlite("writer_many").await;
    let writer = writer_of(&db);
    create_notes(&writer).await;
    let jobs: Vec<_> = (0..500)
        .map(|n| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer.transaction(move |tx| insert(tx, &format!("note-{n:03}"))).await
            })
        })
        .collect();
    for job in jobs {
        job.await.expect("task").expect("every job commits");
    }
    let bodies = notes(&db.db).await;
    assert_eq!(bodies.len(), 500);
    assert_eq!(bodies.first().map(String::as_str), Some("note-000"));
    assert_eq!(bodies.last().map(String::as_str), Some("note-499"));
    db.cleanup().await;
}

#[tokio::test]
async fn a_job_waits_for_another_connections_write_lock_then_commits() {
    let db = TestDb::sqlite("writer_lock").await;
    let writer = writer_of(&db);
    create_notes(&writer).await;
    let Database::Sqlite(sqlite) = &db.db else { panic!("SQLite expected") };
    let mut other = sqlite.writer.begin_with("BEGIN IMMEDIATE").await.expect("take the lock");
    sqlx::query("INSERT INTO notes (body) VALUES ('by sqlx')")
        .execute(&mut *other)
        .await
        .expect("insert");
    let mut job = tokio::spawn({
        let writer = writer.clone();
        async move { writer.transaction(|tx| insert(tx, "by the engine")).await }
    });
    let early = tokio::time::timeout(Duration::from_millis(300), &mut job).await;
    assert!(early.is_err(), "the job cannot commit while another connection writes");
    other.commit().await.expect("commit and free the lock");
    job.await.expect("task").expect("the job commits once the lock is free");
    assert_eq!(notes(&db.db).await, vec!["by sqlx".to_owned(), "by the engine".to_owned()]);
    db.cleanup().await;
}

/// SQLite ends a transaction by itself after a full disk or an I/O error; the `ROLLBACK`
/// sqlx then sends fails, and sqlx 0.8 counts the transaction as open for good. The
/// writer pool has one connection: it must not be handed out again in that state, or
/// every later transaction of the process fails.
#[tokio::test]
async fn a_transaction_sqlite_ended_itself_does_not_wedge_the_writer_pool() {
    let test = TestDb::sqlite("wedge").await;
    let Database::Sqlite(sqlite) = &test.db else { panic!("SQLite expected") };
    let mut tx = sqlite.begin_write().await.expect("begin");
    sqlx::query("CREATE TABLE wedge (n INTEGER)").execute(&mut *tx).await.expect("create");
    // What SQLite does on its own after SQLITE_FULL: the transaction is gone.
    sqlx::query("ROLLBACK").execute(&mut *tx).await.expect("SQLite rolls back");
    assert!(tx.commit().await.is_err(), "there is no transaction left to commit");
    let mut next = sqlite.begin_write().await.expect("the writer pool begins again");
    sqlx::query("CREATE TABLE wedge (n INTEGER)").execute(&mut *next).await.expect("create");
    next.commit().await.expect("commit");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM wedge")
        .fetch_one(&sqlite.reader)
        .await
        .expect("the table the second transaction made");
    assert_eq!(count, 0);
    test.cleanup().await;
}
