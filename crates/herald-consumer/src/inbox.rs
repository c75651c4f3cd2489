//! The inbox: `herald_inbox(consumer, event_id)`, written in the consumer's transaction.

use std::collections::HashSet;
use std::future::Future;

use sqlx::{Postgres, Sqlite};

/// A database that can hold a consumer's inbox.
pub trait InboxBackend: sqlx::Database {
    /// Records that `consumer` applies `event_id`; returns `false` when it already had.
    fn record<'c>(
        conn: &'c mut Self::Connection,
        consumer: &'c str,
        event_id: uuid::Uuid,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c;

    /// Records many event ids at once; returns those that were not there before.
    fn record_many<'c>(
        conn: &'c mut Self::Connection,
        consumer: &'c str,
        event_ids: &'c [uuid::Uuid],
    ) -> impl Future<Output = Result<HashSet<uuid::Uuid>, sqlx::Error>> + Send + 'c;
}

impl InboxBackend for Postgres {
    async fn record(
        conn: &mut Self::Connection,
        consumer: &str,
        event_id: uuid::Uuid,
    ) -> Result<bool, sqlx::Error> {
        {
            let inserted = sqlx::query(
                "INSERT INTO herald_inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(consumer)
            .bind(event_id)
            .execute(conn)
            .await?;
            Ok(inserted.rows_affected() == 1)
        }
    }

    async fn record_many(
        conn: &mut Self::Connection,
        consumer: &str,
        event_ids: &[uuid::Uuid],
    ) -> Result<HashSet<uuid::Uuid>, sqlx::Error> {
        {
            let inserted: Vec<uuid::Uuid> = sqlx::query_scalar(
                "INSERT INTO herald_inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) \
                 ON CONFLICT DO NOTHING RETURNING event_id",
            )
            .bind(consumer)
            .bind(event_ids)
            .fetch_all(conn)
            .await?;
            Ok(inserted.into_iter().collect())
        }
    }
}

impl InboxBackend for Sqlite {
    async fn record(
        conn: &mut Self::Connection,
        consumer: &str,
        event_id: uuid::Uuid,
    ) -> Result<bool, sqlx::Error> {
        {
            let inserted = sqlx::query(
                "INSERT INTO herald_inbox (consumer, event_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )
            .bind(consumer)
            .bind(event_id)
            .execute(conn)
            .await?;
            Ok(inserted.rows_affected() == 1)
        }
    }

    async fn record_many(
        conn: &mut Self::Connection,
        consumer: &str,
        event_ids: &[uuid::Uuid],
    ) -> Result<HashSet<uuid::Uuid>, sqlx::Error> {
        {
            let mut inserted = HashSet::with_capacity(event_ids.len());
            // Two parameters a row; SQLite allows 32766 a statement.
            for chunk in event_ids.chunks(10_000) {
                let mut builder =
                    sqlx::QueryBuilder::new("INSERT INTO herald_inbox (consumer, event_id) ");
                builder.push_values(chunk, |mut row, event_id| {
                    row.push_bind(consumer).push_bind(*event_id);
                });
                builder.push(" ON CONFLICT DO NOTHING RETURNING event_id");
                let ids: Vec<uuid::Uuid> =
                    builder.build_query_scalar().fetch_all(&mut *conn).await?;
                inserted.extend(ids);
            }
            Ok(inserted)
        }
    }
}
