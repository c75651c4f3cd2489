//! The queries that run inside a caller's transaction, for PostgreSQL and SQLite: the
//! append (version check, global position, insert) and projection checkpoints.
//!
//! Their SQL is the same on both engines (`$n` placeholders), so each is written once,
//! generic over [`Dialect`], as a [`Statement`]. What genuinely differs is the lock that
//! queues appenders (`position_lock`); how a write transaction begins is
//! [`Dialect::begin_write`].

use std::future::Future;

use chrono::Utc;
use herald_db::{Backend, Dialect, Statement};
use sqlx::{Connection, Postgres, Sqlite, Transaction};

use crate::event::{COLUMNS, EventRow};
use crate::{EventStoreError, ExpectedVersion, NewEvent, RecordedEvent, Result, micros};

/// How many times an append is tried when concurrent appenders take the global position
/// it read (see the crate docs); after that it fails with [`EventStoreError::Contention`].
pub const APPEND_ATTEMPTS: u32 = 16;

const STREAM_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM herald_events WHERE stream_id = $1";
const LAST_POSITION: &str = "SELECT COALESCE(MAX(position), 0) FROM herald_events";
const INSERT_EVENT: &str = "INSERT INTO herald_events (stream_id, version, position, event_id, \
     event_type, schema_version, payload, metadata, recorded_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// Creates the checkpoint at 0 if missing and locks it (the update takes the row lock on
/// PostgreSQL), so two catch-ups of one projection run one after the other.
const CLAIM_CHECKPOINT: &str = "INSERT INTO herald_projections (name, position, updated_at) \
     VALUES ($1, 0, $2) ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at \
     RETURNING position";
const SET_CHECKPOINT: &str = "INSERT INTO herald_projections (name, position, updated_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE \
     SET position = excluded.position, updated_at = excluded.updated_at";

/// A database the event store runs on: PostgreSQL or SQLite. Every query is written
/// once, generic over [`Dialect`]; a write transaction begins with
/// [`Dialect::begin_write`].
pub trait EventStoreBackend: Dialect {
    /// Checks the stream's version and appends the events in the caller's transaction,
    /// under a savepoint; see [`crate::EventStore::append_in`].
    fn append<'t>(
        tx: &'t mut Transaction<'_, Self>,
        stream_id: &'t str,
        expected: ExpectedVersion,
        events: &'t [NewEvent],
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + Send + 't {
        append::<Self>(tx, stream_id, expected, events)
    }

    /// Reads up to `limit` events after `after_position`, in position order.
    fn read_after(
        conn: &mut Self::Connection,
        after_position: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>>> + Send + '_ {
        read_after::<Self>(conn, after_position, limit)
    }

    /// Returns a projection's checkpoint (creating it at 0) and locks it until the
    /// transaction ends.
    fn claim_checkpoint<'t>(
        conn: &'t mut Self::Connection,
        name: &'t str,
    ) -> impl Future<Output = Result<i64>> + Send + 't {
        claim_checkpoint::<Self>(conn, name)
    }

    /// Sets a projection's checkpoint.
    fn set_checkpoint<'t>(
        conn: &'t mut Self::Connection,
        name: &'t str,
        position: i64,
    ) -> impl Future<Output = Result<()>> + Send + 't {
        set_checkpoint::<Self>(conn, name, position)
    }
}

impl EventStoreBackend for Postgres {}
impl EventStoreBackend for Sqlite {}

/// The statement that queues appenders for the global position, run first in an append
/// that writes events (released at commit or rollback).
///
/// On PostgreSQL, appenders would otherwise all race for `MAX(position) + 1` on the
/// unique index and all but one retry, again and again: eight concurrent appenders
/// exhausted [`APPEND_ATTEMPTS`] within a second. The unique index stays the guarantee;
/// the lock only makes it fair. SQLite's single writer already queues appenders.
fn position_lock(engine: Backend) -> Option<&'static str> {
    match engine {
        Backend::Postgres => Some("SELECT pg_advisory_xact_lock(7234017283807667571)"),
        Backend::Sqlite => None,
    }
}

/// Why one try of an append failed.
enum Attempt {
    /// Another appender took the position or version: try again with fresh ones.
    Raced,
    /// Final.
    Failed(EventStoreError),
}

impl From<sqlx::Error> for Attempt {
    fn from(error: sqlx::Error) -> Attempt {
        if lost_race(&error) { Attempt::Raced } else { Attempt::Failed(error.into()) }
    }
}

/// Whether an insert collided with a concurrent appender's position or version. Only
/// PostgreSQL names the constraint; SQLite's single writer never races.
fn lost_race(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    error.is_unique_violation()
        && matches!(error.constraint(), Some("herald_events_pkey" | "herald_events_position_key"))
}

/// Whether an insert collided with an already stored event id.
fn duplicate_event_id(error: &EventStoreError) -> bool {
    let EventStoreError::Database(sqlx::Error::Database(error)) = error else {
        return false;
    };
    error.is_unique_violation()
        && (error.constraint() == Some("herald_events_event_id_key")
            || error.message().contains("herald_events.event_id"))
}

/// Names a duplicate event id as such.
fn classify(error: EventStoreError, stream_id: &str) -> EventStoreError {
    if duplicate_event_id(&error) {
        EventStoreError::DuplicateEvent { stream_id: stream_id.to_owned() }
    } else {
        error
    }
}

/// The rows an append writes, versions and positions counted on from the current ones.
fn to_record(
    stream_id: &str,
    events: &[NewEvent],
    version: i64,
    position: i64,
) -> Vec<RecordedEvent> {
    let recorded_at = crate::from_micros(micros(Utc::now()));
    (1..)
        .zip(events)
        .map(|(offset, event)| RecordedEvent {
            stream_id: stream_id.to_owned(),
            version: version + offset,
            position: position + offset,
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            payload: event.payload.clone(),
            metadata: event.metadata.clone(),
            recorded_at,
        })
        .collect()
}

fn schema_version(event: &RecordedEvent) -> Result<i32> {
    i32::try_from(event.schema_version).map_err(|_| EventStoreError::Invalid {
        field: "schema_version",
        reason: format!("{} is above {}", event.schema_version, i32::MAX),
    })
}

/// Checks the stream's version and appends the events under a savepoint, trying again
/// with fresh positions when a concurrent appender took them.
async fn append<DB: Dialect>(
    tx: &mut Transaction<'_, DB>,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Vec<RecordedEvent>> {
    for attempt in 1..=APPEND_ATTEMPTS {
        let mut savepoint = Connection::begin(&mut **tx).await?;
        match try_append::<DB>(&mut *savepoint, stream_id, expected, events).await {
            Ok(recorded) => {
                savepoint.commit().await?;
                return Ok(recorded);
            }
            Err(Attempt::Raced) => {
                savepoint.rollback().await?;
                tracing::debug!(stream_id, attempt, "Append lost a position race.");
            }
            Err(Attempt::Failed(error)) => {
                savepoint.rollback().await?;
                return Err(classify(error, stream_id));
            }
        }
    }
    Err(EventStoreError::Contention { stream_id: stream_id.to_owned(), attempts: APPEND_ATTEMPTS })
}

/// One try of an append, inside the savepoint.
async fn try_append<DB: Dialect>(
    conn: &mut DB::Connection,
    stream_id: &str,
    expected: ExpectedVersion,
    events: &[NewEvent],
) -> Result<Vec<RecordedEvent>, Attempt> {
    if let (Some(lock), false) = (position_lock(DB::ENGINE), events.is_empty()) {
        Statement::new(lock).execute::<DB>(&mut *conn).await?;
    }
    let (actual,): (i64,) =
        Statement::new(STREAM_VERSION).bind(stream_id).fetch_one::<DB, _>(&mut *conn).await?;
    if !expected.admits(actual) {
        let stream_id = stream_id.to_owned();
        return Err(Attempt::Failed(EventStoreError::Conflict { stream_id, expected, actual }));
    }
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let (position,): (i64,) = Statement::new(LAST_POSITION).fetch_one::<DB, _>(&mut *conn).await?;
    let recorded = to_record(stream_id, events, actual, position);
    for event in &recorded {
        insert::<DB>(&mut *conn, event).await?;
    }
    Ok(recorded)
}

/// Inserts one event row.
async fn insert<DB: Dialect>(
    conn: &mut DB::Connection,
    event: &RecordedEvent,
) -> Result<(), Attempt> {
    let schema_version = schema_version(event).map_err(Attempt::Failed)?;
    Statement::new(INSERT_EVENT)
        .bind(&event.stream_id)
        .bind(event.version)
        .bind(event.position)
        .bind(event.event_id)
        .bind(&event.event_type)
        .bind(schema_version)
        .bind(event.payload.to_string())
        .bind(event.metadata.to_string())
        .bind(micros(event.recorded_at))
        .execute::<DB>(conn)
        .await?;
    Ok(())
}

/// Reads up to `limit` events after `after_position`, in position order.
async fn read_after<DB: Dialect>(
    conn: &mut DB::Connection,
    after_position: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM herald_events WHERE position > $1 ORDER BY position LIMIT $2"
    );
    let rows: Vec<EventRow> =
        Statement::new(&sql).bind(after_position).bind(limit).fetch_all::<DB, _>(conn).await?;
    rows.into_iter().map(EventRow::into_recorded).collect()
}

/// Returns a projection's checkpoint (creating it at 0) and locks it.
async fn claim_checkpoint<DB: Dialect>(conn: &mut DB::Connection, name: &str) -> Result<i64> {
    let (position,): (i64,) = Statement::new(CLAIM_CHECKPOINT)
        .bind(name)
        .bind(micros(Utc::now()))
        .fetch_one::<DB, _>(conn)
        .await?;
    Ok(position)
}

/// Sets a projection's checkpoint.
async fn set_checkpoint<DB: Dialect>(
    conn: &mut DB::Connection,
    name: &str,
    position: i64,
) -> Result<()> {
    Statement::new(SET_CHECKPOINT)
        .bind(name)
        .bind(position)
        .bind(micros(Utc::now()))
        .execute::<DB>(conn)
        .await?;
    Ok(())
}
