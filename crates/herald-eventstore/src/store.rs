//! [`EventStore`]: appends, reads and snapshots.

use chrono::Utc;
use herald_db::{Backend, Database, Statement};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::event::{COLUMNS, EventRow};
use crate::{
    EventStoreBackend, EventStoreError, ExpectedVersion, NewEvent, RecordedEvent, Result, micros,
};

/// The event store over a Herald database.
#[derive(Debug, Clone)]
pub struct EventStore {
    db: Database,
}

impl EventStore {
    /// A store over `db` (migrated by `herald-db`).
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Appends `events` to a stream in a transaction of its own, if the stream is at the
    /// `expected` version; returns them as stored. On a conflict nothing is written.
    pub async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Vec<RecordedEvent>> {
        match self.db.backend() {
            Backend::Postgres => self.append_alone::<Postgres>(stream_id, expected, events).await,
            Backend::Sqlite => self.append_alone::<Sqlite>(stream_id, expected, events).await,
        }
    }

    async fn append_alone<DB: EventStoreBackend>(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Vec<RecordedEvent>> {
        let mut tx = DB::begin_write(&self.db).await?;
        let recorded = DB::append(&mut tx, stream_id, expected, events).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    /// Appends `events` inside the caller's transaction, so that other writes (the outbox
    /// rows announcing the events) commit with them or not at all.
    ///
    /// The append runs under a savepoint: on [`EventStoreError::Conflict`] (or any other
    /// error) nothing of it remains and the transaction can still be used or committed.
    /// On PostgreSQL the transaction must be READ COMMITTED (the default), so that a retry
    /// after a lost position race sees the winner. On SQLite, begin it with
    /// `SqliteDb::begin_write`.
    pub async fn append_in<DB: EventStoreBackend>(
        tx: &mut Transaction<'_, DB>,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
    ) -> Result<Vec<RecordedEvent>> {
        DB::append(tx, stream_id, expected, events).await
    }

    /// The stream's current version (0 when it has no events).
    pub async fn version(&self, stream_id: &str) -> Result<i64> {
        let sql = "SELECT COALESCE(MAX(version), 0) FROM herald_events WHERE stream_id = $1";
        let (version,): (i64,) =
            self.db.reader().fetch_one(Statement::new(sql).bind(stream_id)).await?;
        Ok(version)
    }

    /// The stream's events after `after_version`, in version order (0 reads them all).
    pub async fn load(&self, stream_id: &str, after_version: i64) -> Result<Vec<RecordedEvent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM herald_events WHERE stream_id = $1 AND version > $2 \
             ORDER BY version"
        );
        let rows: Vec<EventRow> = self
            .db
            .reader()
            .fetch_all(Statement::new(&sql).bind(stream_id).bind(after_version))
            .await?;
        rows.into_iter().map(EventRow::into_recorded).collect()
    }

    /// Up to `limit` events of every stream after `after_position`, in position order
    /// (0 reads from the start). Positions become visible in order (see the crate docs),
    /// so reading on from the last position returned never skips an event.
    pub async fn read_all(&self, after_position: i64, limit: i64) -> Result<Vec<RecordedEvent>> {
        check_limit(limit)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM herald_events WHERE position > $1 ORDER BY position LIMIT $2"
        );
        let rows: Vec<EventRow> = self
            .db
            .reader()
            .fetch_all(Statement::new(&sql).bind(after_position).bind(limit))
            .await?;
        rows.into_iter().map(EventRow::into_recorded).collect()
    }

    /// Stores the folded state of a stream at `version`, replacing an older snapshot (a
    /// snapshot never goes back to an older version).
    pub async fn save_snapshot(
        &self,
        stream_id: &str,
        version: i64,
        state: &serde_json::Value,
    ) -> Result<()> {
        let sql = "INSERT INTO herald_snapshots (stream_id, version, state, taken_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (stream_id) DO UPDATE \
                   SET version = excluded.version, state = excluded.state, \
                   taken_at = excluded.taken_at WHERE herald_snapshots.version < excluded.version";
        let statement = Statement::new(sql)
            .bind(stream_id)
            .bind(version)
            .bind(state.to_string())
            .bind(micros(Utc::now()));
        self.db.writer().execute(statement).await?;
        Ok(())
    }

    /// The stream's latest snapshot: its version and state.
    pub async fn snapshot(&self, stream_id: &str) -> Result<Option<(i64, serde_json::Value)>> {
        let sql = "SELECT version, state FROM herald_snapshots WHERE stream_id = $1";
        let row: Option<(i64, String)> =
            self.db.reader().fetch_optional(Statement::new(sql).bind(stream_id)).await?;
        let Some((version, state)) = row else {
            return Ok(None);
        };
        let state = serde_json::from_str(&state).map_err(|source| EventStoreError::Json {
            what: format!("snapshot of stream `{stream_id}`"),
            source,
        })?;
        Ok(Some((version, state)))
    }
}

pub(crate) fn check_limit(limit: i64) -> Result<()> {
    if limit < 1 {
        return Err(EventStoreError::Invalid {
            field: "limit",
            reason: format!("must be at least 1, got {limit}"),
        });
    }
    Ok(())
}
