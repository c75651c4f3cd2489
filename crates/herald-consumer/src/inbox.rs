//! The inbox: `herald_inbox(consumer, event_id)`, written in the consumer's transaction.

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
}

impl InboxBackend for Postgres {
    fn record<'c>(
        conn: &'c mut Self::Connection,
        consumer: &'c str,
        event_id: uuid::Uuid,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c {
        async move {
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
}

impl InboxBackend for Sqlite {
    fn record<'c>(
        conn: &'c mut Self::Connection,
        consumer: &'c str,
        event_id: uuid::Uuid,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c {
        async move {
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
}
