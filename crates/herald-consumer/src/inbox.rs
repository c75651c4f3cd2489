//! The inbox: `herald_inbox(consumer, event_id, delivered_at)`, written in the consumer's
//! transaction.

use std::collections::HashSet;
use std::future::Future;

use herald_db::Statement;
use sqlx::{Postgres, Sqlite};

use crate::DeadLetter;

/// A database that can hold a consumer's inbox.
pub trait InboxBackend: sqlx::Database {
    /// Records that `consumer` applies `event_id`, delivered at `delivered_at_us`
    /// (microseconds since the Unix epoch); returns `false` when it already had.
    fn record<'c>(
        conn: &'c mut Self::Connection,
        consumer: &'c str,
        event_id: uuid::Uuid,
        delivered_at_us: i64,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c;

    /// Records many event ids delivered at once; returns those that were not there before.
    fn record_many<'c>(
        conn: &'c mut Self::Connection,
        consumer: &'c str,
        event_ids: &'c [uuid::Uuid],
        delivered_at_us: i64,
    ) -> impl Future<Output = Result<HashSet<uuid::Uuid>, sqlx::Error>> + Send + 'c;

    /// Records a step of an event's delivery the other tables do not keep (`retried`),
    /// with its detail, in the delivery ledger (`herald_ledger_steps`).
    fn ledger_step<'c>(
        conn: &'c mut Self::Connection,
        step: &'c LedgerStep<'c>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;

    /// Parks an event in the service's dead-letter queue (`herald_dead_letters`). An
    /// event dead-lettered again (after a replay) updates its row, keeping the replay count.
    fn dead_letter<'c>(
        conn: &'c mut Self::Connection,
        letter: &'c DeadLetter,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;
}

/// One step of an event's delivery, for the ledger.
#[derive(Debug, Clone, Copy)]
pub struct LedgerStep<'a> {
    /// The event.
    pub event_id: uuid::Uuid,
    /// The consuming service.
    pub service: &'a str,
    /// What happened (`retried`).
    pub state: &'a str,
    /// When, in microseconds since the Unix epoch.
    pub at_us: i64,
    /// The error, or what else explains it.
    pub detail: &'a str,
}

const LEDGER_STEP: &str = "INSERT INTO herald_ledger_steps (event_id, service, state, at, detail) VALUES ($1, $2, $3, $4, $5)";

/// The upsert shared by both dialects (only the placeholders differ).
const DEAD_LETTER_CONFLICT: &str = " ON CONFLICT (service, event_id) DO UPDATE SET \
    reason = excluded.reason, error = excluded.error, handler = excluded.handler, \
    attempts = excluded.attempts, first_failed_at = excluded.first_failed_at, \
    last_failed_at = excluded.last_failed_at, routing_key = excluded.routing_key, \
    payload = excluded.payload, status = 'dead', replayed_at = NULL";

impl InboxBackend for Postgres {
    async fn ledger_step(
        conn: &mut Self::Connection,
        step: &LedgerStep<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(LEDGER_STEP)
            .bind(step.event_id)
            .bind(step.service)
            .bind(step.state)
            .bind(step.at_us)
            .bind(step.detail)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn record(
        conn: &mut Self::Connection,
        consumer: &str,
        event_id: uuid::Uuid,
        delivered_at_us: i64,
    ) -> Result<bool, sqlx::Error> {
        {
            let inserted = sqlx::query(
                "INSERT INTO herald_inbox (consumer, event_id, delivered_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(consumer)
            .bind(event_id)
            .bind(delivered_at_us)
            .execute(conn)
            .await?;
            Ok(inserted.rows_affected() == 1)
        }
    }

    async fn record_many(
        conn: &mut Self::Connection,
        consumer: &str,
        event_ids: &[uuid::Uuid],
        delivered_at_us: i64,
    ) -> Result<HashSet<uuid::Uuid>, sqlx::Error> {
        {
            let inserted: Vec<uuid::Uuid> = sqlx::query_scalar(
                "INSERT INTO herald_inbox (consumer, event_id, delivered_at) \
                 SELECT $1, unnest($2::uuid[]), $3 ON CONFLICT DO NOTHING RETURNING event_id",
            )
            .bind(consumer)
            .bind(event_ids)
            .bind(delivered_at_us)
            .fetch_all(conn)
            .await?;
            Ok(inserted.into_iter().collect())
        }
    }

    async fn dead_letter(
        conn: &mut Self::Connection,
        letter: &DeadLetter,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO herald_dead_letters (id, service, event_id, event_type, routing_key, \
             partition_key, payload, reason, error, handler, attempts, first_failed_at, last_failed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13){DEAD_LETTER_CONFLICT}"
        ))
        .bind(uuid::Uuid::now_v7())
        .bind(&letter.service)
        .bind(letter.event_id)
        .bind(&letter.event_type)
        .bind(&letter.routing_key)
        .bind(&letter.partition_key)
        .bind(&letter.payload)
        .bind(letter.reason.as_str())
        .bind(&letter.error)
        .bind(&letter.handler)
        .bind(i32::try_from(letter.attempts).unwrap_or(i32::MAX))
        .bind(letter.first_failed_at.timestamp_micros())
        .bind(letter.last_failed_at.timestamp_micros())
        .execute(conn)
        .await?;
        Ok(())
    }
}

impl InboxBackend for Sqlite {
    async fn ledger_step(
        conn: &mut Self::Connection,
        step: &LedgerStep<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(LEDGER_STEP)
            .bind(step.event_id)
            .bind(step.service)
            .bind(step.state)
            .bind(step.at_us)
            .bind(step.detail)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn record(
        conn: &mut Self::Connection,
        consumer: &str,
        event_id: uuid::Uuid,
        delivered_at_us: i64,
    ) -> Result<bool, sqlx::Error> {
        {
            let inserted = sqlx::query(
                "INSERT INTO herald_inbox (consumer, event_id, delivered_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(consumer)
            .bind(event_id)
            .bind(delivered_at_us)
            .execute(conn)
            .await?;
            Ok(inserted.rows_affected() == 1)
        }
    }

    async fn record_many(
        conn: &mut Self::Connection,
        consumer: &str,
        event_ids: &[uuid::Uuid],
        delivered_at_us: i64,
    ) -> Result<HashSet<uuid::Uuid>, sqlx::Error> {
        {
            let mut inserted = HashSet::with_capacity(event_ids.len());
            // Three parameters a row; SQLite allows 32766 a statement.
            for chunk in event_ids.chunks(10_000) {
                let mut builder = sqlx::QueryBuilder::new(
                    "INSERT INTO herald_inbox (consumer, event_id, delivered_at) ",
                );
                builder.push_values(chunk, |mut row, event_id| {
                    row.push_bind(consumer).push_bind(*event_id).push_bind(delivered_at_us);
                });
                builder.push(" ON CONFLICT DO NOTHING RETURNING event_id");
                let ids: Vec<uuid::Uuid> =
                    builder.build_query_scalar().fetch_all(&mut *conn).await?;
                inserted.extend(ids);
            }
            Ok(inserted)
        }
    }

    async fn dead_letter(
        conn: &mut Self::Connection,
        letter: &DeadLetter,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO herald_dead_letters (id, service, event_id, event_type, routing_key, \
             partition_key, payload, reason, error, handler, attempts, first_failed_at, last_failed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13){DEAD_LETTER_CONFLICT}"
        ))
        .bind(uuid::Uuid::now_v7())
        .bind(&letter.service)
        .bind(letter.event_id)
        .bind(&letter.event_type)
        .bind(&letter.routing_key)
        .bind(&letter.partition_key)
        .bind(&letter.payload)
        .bind(letter.reason.as_str())
        .bind(&letter.error)
        .bind(&letter.handler)
        .bind(i64::from(letter.attempts))
        .bind(letter.first_failed_at.timestamp_micros())
        .bind(letter.last_failed_at.timestamp_micros())
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// The events each consumer recorded in its inbox at or after `since`, as
/// `(consumer, event id)`: which deliveries completed, for a census of a run.
pub async fn processed_since(
    db: &herald_db::Database,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(String, uuid::Uuid)>, sqlx::Error> {
    const SQL: &str = "SELECT consumer, event_id FROM herald_inbox WHERE processed_at >= $1";
    db.reader().fetch_all(Statement::new(SQL).bind(since.timestamp_micros())).await
}

/// How many events each consumer has recorded in its inbox, as `(consumer, count)`.
pub async fn processed_counts(db: &herald_db::Database) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str =
        "SELECT consumer, COUNT(*) FROM herald_inbox GROUP BY consumer ORDER BY consumer";
    db.reader().fetch_all(Statement::new(SQL)).await
}
