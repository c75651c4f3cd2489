//! The inbox: `herald_inbox(consumer, event_id, delivered_at)`, written in the consumer's
//! transaction.

use std::collections::HashSet;
use std::future::Future;

use herald_db::{Dialect, Statement};
use sqlx::{Postgres, Sqlite};

use crate::DeadLetter;

/// A database that can hold a consumer's inbox.
pub trait InboxBackend: Dialect {
    /// Records that `consumer` applies `event_id`, delivered at `delivered_at_us`
    /// (microseconds since the Unix epoch); returns `false` when it already had.
    fn record<'c>(
        conn: &'c mut Self::Connection,
        consumer: &'c str,
        event_id: uuid::Uuid,
        delivered_at_us: i64,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c {
        record_one::<Self>(conn, consumer, event_id, delivered_at_us)
    }

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
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c {
        record_ledger_step::<Self>(conn, step)
    }

    /// Parks an event in the service's dead-letter queue (`herald_dead_letters`). An
    /// event dead-lettered again (after a replay) updates its row, keeping the replay count.
    fn dead_letter<'c>(
        conn: &'c mut Self::Connection,
        letter: &'c DeadLetter,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c {
        record_dead_letter::<Self>(conn, letter)
    }
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

async fn record_ledger_step<DB: Dialect>(
    conn: &mut DB::Connection,
    step: &LedgerStep<'_>,
) -> Result<(), sqlx::Error> {
    Statement::new(
        "INSERT INTO herald_ledger_steps (event_id, service, state, at, detail) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(step.event_id)
    .bind(step.service)
    .bind(step.state)
    .bind(step.at_us)
    .bind(step.detail)
    .execute::<DB>(conn)
    .await?;
    Ok(())
}

async fn record_one<DB: Dialect>(
    conn: &mut DB::Connection,
    consumer: &str,
    event_id: uuid::Uuid,
    delivered_at_us: i64,
) -> Result<bool, sqlx::Error> {
    let inserted = Statement::new(
        "INSERT INTO herald_inbox (consumer, event_id, delivered_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(delivered_at_us)
    .execute::<DB>(conn)
    .await?;
    Ok(inserted == 1)
}

/// Parks an event; one dead-lettered again (after a replay) updates its row, keeping
/// the replay count.
async fn record_dead_letter<DB: Dialect>(
    conn: &mut DB::Connection,
    letter: &DeadLetter,
) -> Result<(), sqlx::Error> {
    Statement::new(
        "INSERT INTO herald_dead_letters (id, service, event_id, event_type, routing_key, \
         partition_key, payload, reason, error, handler, attempts, first_failed_at, \
         last_failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (service, event_id) DO UPDATE SET \
         reason = excluded.reason, error = excluded.error, handler = excluded.handler, \
         attempts = excluded.attempts, first_failed_at = excluded.first_failed_at, \
         last_failed_at = excluded.last_failed_at, routing_key = excluded.routing_key, \
         payload = excluded.payload, status = 'dead', replayed_at = NULL",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(&letter.service)
    .bind(letter.event_id)
    .bind(letter.event_type.as_deref())
    .bind(&letter.routing_key)
    .bind(&letter.partition_key)
    .bind(letter.payload.as_slice())
    .bind(letter.reason.as_str())
    .bind(&letter.error)
    .bind(letter.handler.as_deref())
    .bind(i32::try_from(letter.attempts).unwrap_or(i32::MAX))
    .bind(letter.first_failed_at.timestamp_micros())
    .bind(letter.last_failed_at.timestamp_micros())
    .execute::<DB>(conn)
    .await?;
    Ok(())
}

/// Array parameters differ: `unnest` on PostgreSQL, a multi-row `VALUES` on SQLite.
impl InboxBackend for Postgres {
    async fn record_many(
        conn: &mut Self::Connection,
        consumer: &str,
        event_ids: &[uuid::Uuid],
        delivered_at_us: i64,
    ) -> Result<HashSet<uuid::Uuid>, sqlx::Error> {
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

impl InboxBackend for Sqlite {
    async fn record_many(
        conn: &mut Self::Connection,
        consumer: &str,
        event_ids: &[uuid::Uuid],
        delivered_at_us: i64,
    ) -> Result<HashSet<uuid::Uuid>, sqlx::Error> {
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
            let ids: Vec<uuid::Uuid> = builder.build_query_scalar().fetch_all(&mut *conn).await?;
            inserted.extend(ids);
        }
        Ok(inserted)
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
