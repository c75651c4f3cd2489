//! The relay's vacuum of a bloated outbox (PostgreSQL only: SQLite keeps no dead rows).

use herald_outbox::{OutboxStore, Retention};
use sqlx::PgConnection;

/// Inserts and deletes `rows` outbox rows on `conn`, then makes the server count them
/// as dead at once (a backend otherwise flushes its statistics up to a second later).
async fn churn(conn: &mut PgConnection, rows: i64) {
    sqlx::query(
        "INSERT INTO herald_outbox \
         (event_id, partition, partition_key, event_type, kind, routing_key, payload) \
         SELECT gen_random_uuid(), 0, 'k', 't', 'integration', 'integration.t.v1', '\\x00' \
         FROM generate_series(1, $1)",
    )
    .bind(rows)
    .execute(&mut *conn)
    .await
    .expect("insert");
    sqlx::query("DELETE FROM herald_outbox").execute(&mut *conn).await.expect("delete");
    // Flushed when the connection goes idle after this statement.
    sqlx::query("SELECT pg_stat_force_next_flush()").execute(&mut *conn).await.expect("flush");
}

async fn vacuums(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'herald_outbox'::regclass",
    )
    .fetch_one(conn)
    .await
    .expect("vacuum count")
}

#[tokio::test]
async fn a_bloated_outbox_is_vacuumed_and_a_lean_one_is_not() {
    let test_db = herald_testkit::TestDb::postgres("outbox_vacuum").await;
    let herald_db::Database::Postgres(pool) = &test_db.db else { unreachable!("postgres") };
    let store = OutboxStore::new(test_db.db.clone(), Retention::default());
    let mut conn = pool.acquire().await.expect("connection");
    churn(&mut conn, 3_000).await;

    let before = vacuums(&mut conn).await;

    let not_yet = store.vacuum_if_bloated(5_000).await.expect("check");
    assert_eq!(not_yet, None, "3,000 dead rows < 5,000");
    let vacuumed = store.vacuum_if_bloated(1_000).await.expect("vacuum");
    let vacuumed = vacuumed.expect("3,000 dead rows > 1,000");
    assert_eq!((vacuumed.dead_before, vacuumed.dead_after), (3_000, 0));
    sqlx::query("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await.expect("clear");
    assert_eq!(vacuums(&mut conn).await, before + 1, "the server saw one vacuum");
    let again = store.vacuum_if_bloated(1_000).await.expect("check");
    assert_eq!(again, None, "after the vacuum no dead rows are left to clear");
    drop(conn);
    test_db.cleanup().await;
}
