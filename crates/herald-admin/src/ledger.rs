//! The delivery ledger, read side: for one event, every state it went through — committed,
//! published (the transport confirmed it), retried, dead-lettered, replayed, delivered to
//! and processed by each subscriber, notified — with times and details; and a search of events by
//! partition key, type, subscriber and time.
//!
//! The relay records commit and publish times (`herald_ledger_events`) as it marks rows
//! sent, and consumers record retries (`herald_ledger_steps`). The rest is read where it
//! already lives: the inboxes (`herald_inbox`, whose `delivered_at` is when the consumer
//! received the delivery it processed), the dead-letter queue and the notification table.
//! So the hot path pays one batched insert per relay batch and one more column per
//! processed event.

use chrono::{DateTime, Utc};
use herald_db::{Database, Statement};
use serde::Serialize;
use uuid::Uuid;

/// One state of an event's journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `committed`, `published`, `retried`, `dead_lettered`, `replayed`, `delivered`,
    /// `processed`, `notified` or `notification_failed`.
    pub state: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The subscriber (consumer group), or `notify:<channel>`; none for the producer's
    /// states.
    pub service: Option<String>,
    /// The error or what else explains the state.
    pub detail: Option<String>,
}

/// An event's journey, in time order.
#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    /// The event.
    pub event_id: Uuid,
    /// Its type, once known.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Its partition key, once known.
    pub partition_key: Option<String>,
    /// What happened to it.
    pub states: Vec<Step>,
}

/// An event in a search's results.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    /// The event.
    pub event_id: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Its partition key.
    pub partition_key: String,
    /// When its producer committed it.
    pub committed_at: DateTime<Utc>,
    /// When the transport confirmed it.
    pub published_at: DateTime<Utc>,
}

/// Which events a search returns. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// One partition key.
    pub partition_key: Option<String>,
    /// One event type.
    pub event_type: Option<String>,
    /// Processed by this subscriber.
    pub service: Option<String>,
    /// Committed at or after.
    pub since: Option<DateTime<Utc>>,
    /// Committed before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, newest first (default 100).
    pub limit: Option<i64>,
}

/// The order of states that share a time.
fn rank(state: &str) -> u8 {
    match state {
        "committed" => 0,
        "published" => 1,
        "retried" => 2,
        "dead_lettered" => 3,
        "replayed" => 4,
        "delivered" => 5,
        "processed" => 6,
        _ => 7,
    }
}

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn step(state: &str, at: i64, service: Option<String>, detail: Option<String>) -> Step {
    Step { state: state.to_owned(), at: time(at), service, detail }
}

/// Reads an event's journey; `None` when no table knows the event.
pub async fn journey(db: &Database, event_id: Uuid) -> Result<Option<Journey>, sqlx::Error> {
    let mut journey =
        Journey { event_id, event_type: None, partition_key: None, states: Vec::new() };
    let ledger: Option<(String, String, i64, i64)> = db
        .reader()
        .fetch_optional(
            Statement::new(
                "SELECT event_type, partition_key, committed_at, published_at \
                 FROM herald_ledger_events WHERE event_id = $1",
            )
            .bind(event_id),
        )
        .await?;
    if let Some((event_type, key, committed, published)) = ledger {
        journey.event_type = Some(event_type);
        journey.partition_key = Some(key);
        journey.states.push(step("committed", committed, None, None));
        journey.states.push(step("published", published, None, None));
    } else {
        let pending: Option<(String, String, i64)> = db
            .reader()
            .fetch_optional(
                Statement::new(
                    "SELECT event_type, partition_key, created_at FROM herald_outbox \
                     WHERE event_id = $1 ORDER BY id LIMIT 1",
                )
                .bind(event_id),
            )
            .await?;
        if let Some((event_type, key, committed)) = pending {
            journey.event_type = Some(event_type);
            journey.partition_key = Some(key);
            journey.states.push(step("committed", committed, None, None));
        }
    }
    let steps: Vec<(String, String, i64, Option<String>)> = db
        .reader()
        .fetch_all(
            Statement::new(
                "SELECT state, service, at, detail FROM herald_ledger_steps WHERE event_id = $1",
            )
            .bind(event_id),
        )
        .await?;
    for (state, service, at, detail) in steps {
        journey.states.push(step(&state, at, Some(service), detail));
    }
    let processed: Vec<(String, Option<i64>, i64)> = db
        .reader()
        .fetch_all(
            Statement::new(
                "SELECT consumer, delivered_at, processed_at FROM herald_inbox WHERE event_id = $1",
            )
            .bind(event_id),
        )
        .await?;
    for (service, delivered_at, processed_at) in processed {
        // The consumer's clock gives `delivered_at`, the database's `processed_at` (to the
        // millisecond on SQLite): a delivery is never shown after its processing.
        if let Some(at) = delivered_at {
            let at = at.min(processed_at);
            journey.states.push(step("delivered", at, Some(service.clone()), None));
        }
        journey.states.push(step("processed", processed_at, Some(service), None));
    }
    read_dead_letters(db, event_id, &mut journey).await?;
    read_notifications(db, event_id, &mut journey).await?;
    if journey.states.is_empty() {
        return Ok(None);
    }
    journey.states.sort_by(|a, b| a.at.cmp(&b.at).then(rank(&a.state).cmp(&rank(&b.state))));
    Ok(Some(journey))
}

async fn read_dead_letters(
    db: &Database,
    event_id: Uuid,
    journey: &mut Journey,
) -> Result<(), sqlx::Error> {
    let sql = "SELECT service, event_type, partition_key, error, attempts, last_failed_at, \
               replayed_at FROM herald_dead_letters WHERE event_id = $1";
    type Row = (String, Option<String>, String, String, i32, i64, Option<i64>);
    let letters: Vec<Row> = db.reader().fetch_all(Statement::new(sql).bind(event_id)).await?;
    for (service, event_type, key, error, attempts, failed_at, replayed_at) in letters {
        journey.event_type = journey.event_type.take().or(event_type);
        journey.partition_key.get_or_insert(key);
        let detail = format!("after {attempts} attempts: {error}");
        journey.states.push(step("dead_lettered", failed_at, Some(service.clone()), Some(detail)));
        if let Some(at) = replayed_at {
            journey.states.push(step("replayed", at, Some(service), None));
        }
    }
    Ok(())
}

async fn read_notifications(
    db: &Database,
    event_id: Uuid,
    journey: &mut Journey,
) -> Result<(), sqlx::Error> {
    let sql = "SELECT channel, recipient, status, created_at, sent_at, last_error \
               FROM herald_notifications WHERE event_id = $1";
    type Row = (String, String, String, i64, Option<i64>, Option<String>);
    let rows: Vec<Row> = db.reader().fetch_all(Statement::new(sql).bind(event_id)).await?;
    for (channel, recipient, status, created_at, sent_at, last_error) in rows {
        let service = Some(format!("notify:{channel}"));
        let (state, at, detail) = match (status.as_str(), sent_at) {
            ("sent", Some(at)) => ("notified", at, format!("to {recipient}")),
            ("failed", _) => ("notification_failed", created_at, last_error.unwrap_or_default()),
            (other, _) => ("notification_planned", created_at, format!("{other}, to {recipient}")),
        };
        journey.states.push(step(state, at, service, Some(detail)));
    }
    Ok(())
}

/// Events by partition key, type, subscriber and commit time, newest first.
pub async fn search(db: &Database, filter: &EventFilter) -> Result<Vec<EventSummary>, sqlx::Error> {
    let sql = "SELECT event_id, event_type, partition_key, committed_at, published_at \
               FROM herald_ledger_events \
               WHERE ($1 IS NULL OR partition_key = $1) AND ($2 IS NULL OR event_type = $2) \
                 AND ($3 IS NULL OR event_id IN (SELECT event_id FROM herald_inbox WHERE consumer = $3)) \
                 AND ($4 IS NULL OR committed_at >= $4) AND ($5 IS NULL OR committed_at < $5) \
               ORDER BY committed_at DESC LIMIT $6";
    let rows: Vec<(Uuid, String, String, i64, i64)> = db
        .reader()
        .fetch_all(
            Statement::new(sql)
                .bind(filter.partition_key.as_deref())
                .bind(filter.event_type.as_deref())
                .bind(filter.service.as_deref())
                .bind(filter.since.map(|t| t.timestamp_micros()))
                .bind(filter.until.map(|t| t.timestamp_micros()))
                .bind(filter.limit.unwrap_or(100)),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(event_id, event_type, partition_key, committed, published)| EventSummary {
            event_id,
            event_type,
            partition_key,
            committed_at: time(committed),
            published_at: time(published),
        })
        .collect())
}
