//! Dead letters: why an event was parked, and the operations on the queue (list, show,
//! replay).

use chrono::{DateTime, Utc};
use herald_db::{Database, Statement};
use herald_envelope::{Envelope, ExtensionValue, Limits};
use herald_transport::{Message, Publisher};

/// The envelope extension that counts replays of a dead letter (the loop guard).
pub const REPLAYS_EXTENSION: &str = "heraldreplays";

/// Why an event went to the dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Every attempt failed.
    HandlerFailed,
    /// The handler said no attempt can succeed.
    Rejected,
    /// The delivery was not a valid event.
    Undecodable,
    /// No handler for the event's type and version.
    Unhandled,
    /// Handlers take other versions of the event's type, and no upcaster leads there.
    NoUpcastPath,
}

impl DeadLetterReason {
    /// The name stored in `herald_dead_letters.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::HandlerFailed => "handler_failed",
            DeadLetterReason::Rejected => "rejected",
            DeadLetterReason::Undecodable => "undecodable",
            DeadLetterReason::Unhandled => "unhandled",
            DeadLetterReason::NoUpcastPath => "no_upcast_path",
        }
    }
}

/// An event parked in a service's dead-letter queue, with the reasons.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The consuming service (consumer group).
    pub service: String,
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// The event's type, when it could be decoded.
    pub event_type: Option<String>,
    /// The routing key it was published under.
    pub routing_key: String,
    /// Its partition key.
    pub partition_key: String,
    /// The event as delivered (structured JSON).
    pub payload: Vec<u8>,
    /// Why.
    pub reason: DeadLetterReason,
    /// The last error.
    pub error: String,
    /// The handler that failed, if one ran.
    pub handler: Option<String>,
    /// Handler runs in all.
    pub attempts: u32,
    /// When the first attempt failed.
    pub first_failed_at: DateTime<Utc>,
    /// When the last attempt failed.
    pub last_failed_at: DateTime<Utc>,
}

/// A row of the dead-letter queue, as operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetterEntry {
    /// The entry's id.
    pub id: uuid::Uuid,
    /// The consuming service.
    pub service: String,
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// The event's type, if it could be decoded.
    pub event_type: Option<String>,
    /// The original routing key.
    pub routing_key: String,
    /// The partition key.
    pub partition_key: String,
    /// `handler_failed`, `rejected`, `undecodable` or `unhandled`.
    pub reason: String,
    /// The last error.
    pub error: String,
    /// The failing handler.
    pub handler: Option<String>,
    /// Handler runs in all.
    pub attempts: u32,
    /// First failure.
    pub first_failed_at: DateTime<Utc>,
    /// Last failure.
    pub last_failed_at: DateTime<Utc>,
    /// Times replayed.
    pub replays: u32,
    /// `dead` or `replayed`.
    pub status: String,
    /// The event as delivered (not serialized in listings).
    #[serde(skip)]
    pub payload: Vec<u8>,
}

/// Which dead letters an operation concerns. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// One service.
    pub service: Option<String>,
    /// One event type.
    pub event_type: Option<String>,
    /// One partition key.
    pub partition_key: Option<String>,
    /// Errors containing this text.
    pub error_contains: Option<String>,
    /// Last failure at or after.
    pub since: Option<DateTime<Utc>>,
    /// Last failure before.
    pub until: Option<DateTime<Utc>>,
    /// One entry, by id.
    pub id: Option<uuid::Uuid>,
    /// Also entries already replayed (default: only `dead` ones).
    pub include_replayed: bool,
    /// At most this many (default 1000).
    pub limit: Option<i64>,
}

/// What a replay did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReplayReport {
    /// Entries published again to their service.
    pub replayed: Vec<uuid::Uuid>,
    /// Entries left alone because they reached the replay limit.
    pub over_limit: Vec<uuid::Uuid>,
    /// Entries whose publish was not confirmed (left dead, to try again).
    pub failed: Vec<(uuid::Uuid, String)>,
}

/// Errors of dead-letter operations.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The database failed.
    #[error("dead-letter queue database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The dead-letter queues of the services whose consumers write to one database.
#[derive(Debug, Clone)]
pub struct DeadLetterStore {
    db: Database,
}

const COLUMNS: &str = "id, service, event_id, event_type, routing_key, partition_key, reason, error, \
     handler, attempts, first_failed_at, last_failed_at, replays, status, payload";

impl DeadLetterStore {
    /// The store over `db` (migrated).
    pub fn new(db: Database) -> DeadLetterStore {
        DeadLetterStore { db }
    }

    /// The entries `filter` selects, newest failure first.
    pub async fn list(
        &self,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetterEntry>, DeadLetterError> {
        let limit = filter.limit.unwrap_or(1000);
        let status = if filter.include_replayed { None } else { Some("dead") };
        let error_like = filter.error_contains.as_ref().map(|text| format!("%{text}%"));
        let sql = format!(
            "SELECT {COLUMNS} FROM herald_dead_letters \
             WHERE ($1 IS NULL OR service = $1) AND ($2 IS NULL OR event_type = $2) \
               AND ($3 IS NULL OR partition_key = $3) AND ($4 IS NULL OR error LIKE $4) \
               AND ($5 IS NULL OR last_failed_at >= $5) AND ($6 IS NULL OR last_failed_at < $6) \
               AND ($7 IS NULL OR id = $7) AND ($8 IS NULL OR status = $8) \
             ORDER BY last_failed_at DESC, id LIMIT $9"
        );
        let rows: Vec<EntryRow> = self
            .db
            .reader()
            .fetch_all(
                Statement::new(&sql)
                    .bind(filter.service.as_deref())
                    .bind(filter.event_type.as_deref())
                    .bind(filter.partition_key.as_deref())
                    .bind(error_like.as_deref())
                    .bind(filter.since.map(|t| t.timestamp_micros()))
                    .bind(filter.until.map(|t| t.timestamp_micros()))
                    .bind(filter.id)
                    .bind(status)
                    .bind(limit),
            )
            .await?;
        let entries = rows.into_iter().map(EntryRow::into_entry).collect();
        Ok(entries)
    }

    /// How many entries are dead (not replayed), per service.
    pub async fn depth(&self) -> Result<Vec<(String, i64)>, DeadLetterError> {
        let sql = "SELECT service, count(*) FROM herald_dead_letters WHERE status = 'dead' \
                   GROUP BY service ORDER BY service";
        Ok(self.db.reader().fetch_all(Statement::new(sql)).await?)
    }

    /// Publishes the selected entries again, each to its own service only, with the
    /// replay count in the `heraldreplays` extension, and marks them replayed. Entries
    /// replayed `max_replays` times already are left alone (the loop guard). With
    /// `dry_run`, reports what would happen and changes nothing.
    pub async fn replay(
        &self,
        publisher: &dyn Publisher,
        filter: &DeadLetterFilter,
        max_replays: u32,
        dry_run: bool,
    ) -> Result<ReplayReport, DeadLetterError> {
        let mut report = ReplayReport::default();
        let mut entries = self.list(filter).await?;
        // Oldest failure first, so that one key's events go out in their order.
        entries.sort_by_key(|entry| (entry.first_failed_at, entry.id));
        for entry in entries {
            if entry.replays >= max_replays {
                report.over_limit.push(entry.id);
                continue;
            }
            if dry_run {
                report.replayed.push(entry.id);
                continue;
            }
            // Marked first: if the replay fails again at once, the consumer's new dead
            // letter must not be overwritten by this mark.
            self.set_replayed(entry.id, true).await?;
            let message = replay_message(&entry);
            match publish_with_retries(publisher, &entry.service, message).await {
                Ok(()) => report.replayed.push(entry.id),
                Err(error) => {
                    self.set_replayed(entry.id, false).await?;
                    report.failed.push((entry.id, error));
                }
            }
        }
        Ok(report)
    }

    /// Marks an entry replayed (counting the replay), or dead again after a failed
    /// publish (uncounting it).
    async fn set_replayed(&self, id: uuid::Uuid, replayed: bool) -> Result<(), DeadLetterError> {
        let (status, step) = if replayed { ("replayed", 1_i32) } else { ("dead", -1_i32) };
        let sql = format!(
            "UPDATE herald_dead_letters SET status = $2, replays = replays + $3, \
             replayed_at = CASE WHEN $3 > 0 THEN {} END WHERE id = $1",
            self.db.now_micros_sql()
        );
        self.db.writer().execute(Statement::new(&sql).bind(id).bind(status).bind(step)).await?;
        Ok(())
    }
}

/// Publishes one replay, trying three times: on the embedded log a replay appends beside
/// the relay, and the two may race for the same offset (the loser fails, unwritten).
async fn publish_with_retries(
    publisher: &dyn Publisher,
    group: &str,
    message: Message,
) -> Result<(), String> {
    let mut last = String::from("no confirmation");
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
        }
        match publisher
            .publish_to_group(group, std::slice::from_ref(&message))
            .await
            .into_iter()
            .next()
        {
            Some(Ok(())) => return Ok(()),
            Some(Err(error)) => last = error.to_string(),
            None => {}
        }
    }
    Err(last)
}

/// The message a replay publishes: the event with its replay count as an extension; a
/// payload that is not an event goes as it is.
fn replay_message(entry: &DeadLetterEntry) -> Message {
    let payload = match Envelope::from_json(&entry.payload, &Limits::default()) {
        Ok(mut envelope) => {
            envelope.extensions.insert(
                REPLAYS_EXTENSION.into(),
                ExtensionValue::Integer(i64::from(entry.replays) + 1),
            );
            envelope.to_json()
        }
        Err(_) => entry.payload.clone(),
    };
    Message {
        event_id: entry.event_id,
        routing_key: entry.routing_key.clone(),
        partition_key: entry.partition_key.clone(),
        payload,
    }
}

/// A row of `herald_dead_letters` as both databases return it (times in microseconds).
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: uuid::Uuid,
    service: String,
    event_id: uuid::Uuid,
    event_type: Option<String>,
    routing_key: String,
    partition_key: String,
    reason: String,
    error: String,
    handler: Option<String>,
    attempts: i32,
    first_failed_at: i64,
    last_failed_at: i64,
    replays: i32,
    status: String,
    payload: Vec<u8>,
}

impl EntryRow {
    fn into_entry(self) -> DeadLetterEntry {
        let time = |micros: i64| DateTime::from_timestamp_micros(micros).unwrap_or_default();
        DeadLetterEntry {
            id: self.id,
            service: self.service,
            event_id: self.event_id,
            event_type: self.event_type,
            routing_key: self.routing_key,
            partition_key: self.partition_key,
            reason: self.reason,
            error: self.error,
            handler: self.handler,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            first_failed_at: time(self.first_failed_at),
            last_failed_at: time(self.last_failed_at),
            replays: u32::try_from(self.replays).unwrap_or(0),
            status: self.status,
            payload: self.payload,
        }
    }
}
