//! `herald_notifications`: one row per (idempotency key, recipient, channel), planned in
//! the consumer's transaction, claimed by dispatchers, settled with its outcome.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use herald_db::{Backend, Database, Dialect, Statement};
use serde::Serialize;
use sqlx::{Postgres, Sqlite, Transaction};
use uuid::Uuid;

use crate::{NotifyError, Result, from_micros, micros};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Due (now, or at `not_before` for a retry).
    Pending,
    /// Claimed by a dispatcher.
    Sending,
    /// The provider accepted it.
    Sent,
    /// It will not be sent: the reason is in `last_error`.
    Failed,
    /// The recipient opted out.
    Suppressed,
    /// Waiting for the recipient's quiet hours to end.
    Held,
}

impl DeliveryStatus {
    /// The name stored in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Suppressed => "suppressed",
            DeliveryStatus::Held => "held",
        }
    }

    /// Every status, in the order of a delivery's life.
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Held,
        DeliveryStatus::Pending,
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Failed,
        DeliveryStatus::Suppressed,
    ];
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = NotifyError;

    fn from_str(text: &str) -> Result<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|status| status.as_str() == text).ok_or_else(|| {
            NotifyError::Invalid {
                field: "status".into(),
                reason: format!(
                    "`{text}` is not a status: expected pending, sending, sent, failed, suppressed or held"
                ),
            }
        })
    }
}

/// One delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// The notification's id.
    pub id: Uuid,
    /// The event that asked for it.
    pub event_id: Uuid,
    /// What deduplicates it (the event's idempotency key, or its id).
    pub idempotency_key: String,
    /// The recipient: a user id, or `<channel>:<address>`.
    pub recipient: String,
    /// The channel.
    pub channel: String,
    /// The address it goes to (none when none is known).
    pub address: Option<String>,
    /// The template's name.
    pub template: String,
    /// The category.
    pub category: Option<String>,
    /// The priority.
    pub priority: String,
    /// The rendered subject or title.
    pub subject: Option<String>,
    /// The rendered body.
    pub body: Option<String>,
    /// The event's data, as JSON text.
    #[serde(skip)]
    pub data: String,
    /// The status.
    pub status: DeliveryStatus,
    /// Send attempts so far.
    pub attempts: i32,
    /// Why the last attempt failed, or why it is not sent.
    pub last_error: Option<String>,
    /// The provider that took it.
    pub provider: Option<String>,
    /// The provider's id for it.
    pub provider_message_id: Option<String>,
    /// Not sent before.
    pub not_before: DateTime<Utc>,
    /// Planned at.
    pub created_at: DateTime<Utc>,
    /// Sent at.
    pub sent_at: Option<DateTime<Utc>>,
}

/// What became of a claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The provider took it.
    Sent {
        /// The provider's name.
        provider: String,
        /// The provider's id for the message.
        provider_message_id: Option<String>,
    },
    /// Try again at `at`.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// Why the attempt failed.
        error: String,
    },
    /// No more attempts.
    Failed {
        /// Why.
        error: String,
    },
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Of this event.
    pub event_id: Option<Uuid>,
    /// To this recipient.
    pub recipient: Option<String>,
    /// In this status.
    pub status: Option<DeliveryStatus>,
    /// On this channel.
    pub channel: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

const COLUMNS: &str = "id, event_id, idempotency_key, recipient, channel, address, template, category, \
    priority, subject, body, data, status, attempts, last_error, provider, provider_message_id, \
    not_before, created_at, sent_at";

/// The insert of a planned row; an existing (key, recipient, channel) wins.
pub(crate) const INSERT: &str = "INSERT INTO herald_notifications (id, event_id, idempotency_key, \
    recipient, channel, address, template, category, priority, subject, body, data, status, \
    attempts, last_error, not_before, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16, $16) \
    ON CONFLICT (idempotency_key, recipient, channel) DO NOTHING";

/// Stores one planned delivery in the caller's transaction with [`INSERT`]; returns 1 if
/// it is new, 0 if its (key, recipient, channel) was already planned.
pub(crate) async fn insert_planned<DB: Dialect>(
    conn: &mut DB::Connection,
    delivery: &Delivery,
) -> Result<u64, sqlx::Error> {
    Statement::new(INSERT)
        .bind(delivery.id)
        .bind(delivery.event_id)
        .bind(&delivery.idempotency_key)
        .bind(&delivery.recipient)
        .bind(&delivery.channel)
        .bind(delivery.address.as_deref())
        .bind(&delivery.template)
        .bind(delivery.category.as_deref())
        .bind(&delivery.priority)
        .bind(delivery.subject.as_deref())
        .bind(delivery.body.as_deref())
        .bind(&delivery.data)
        .bind(delivery.status.as_str())
        .bind(delivery.last_error.as_deref())
        .bind(micros(delivery.not_before))
        .bind(micros(delivery.created_at))
        .execute::<DB>(conn)
        .await
}

/// A `herald_notifications` row selected with [`COLUMNS`], as either database returns it.
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    event_id: Uuid,
    idempotency_key: String,
    recipient: String,
    channel: String,
    address: Option<String>,
    template: String,
    category: Option<String>,
    priority: String,
    subject: Option<String>,
    body: Option<String>,
    data: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    provider: Option<String>,
    provider_message_id: Option<String>,
    not_before: i64,
    created_at: i64,
    sent_at: Option<i64>,
}

impl DeliveryRow {
    /// The delivery, its status parsed and its times decoded.
    fn into_delivery(self) -> Result<Delivery> {
        Ok(Delivery {
            id: self.id,
            event_id: self.event_id,
            idempotency_key: self.idempotency_key,
            recipient: self.recipient,
            channel: self.channel,
            address: self.address,
            template: self.template,
            category: self.category,
            priority: self.priority,
            subject: self.subject,
            body: self.body,
            data: self.data,
            status: self.status.parse()?,
            attempts: self.attempts,
            last_error: self.last_error,
            provider: self.provider,
            provider_message_id: self.provider_message_id,
            not_before: from_micros(self.not_before),
            created_at: from_micros(self.created_at),
            sent_at: self.sent_at.map(from_micros),
        })
    }
}

/// Stores planned deliveries in `tx` and commits it; returns how many are new.
async fn plan_in<DB: Dialect>(mut tx: Transaction<'_, DB>, planned: &[Delivery]) -> Result<u64> {
    let mut new = 0;
    for delivery in planned {
        new += insert_planned::<DB>(&mut tx, delivery).await?;
    }
    tx.commit().await?;
    Ok(new)
}

/// Records the outcomes of claimed deliveries in `tx` and commits it.
async fn settle_in<DB: Dialect>(
    mut tx: Transaction<'_, DB>,
    outcomes: &[(Uuid, Outcome)],
) -> Result<()> {
    let now = micros(Utc::now());
    let sent = "UPDATE herald_notifications SET status = 'sent', provider = $2, provider_message_id = $3, \
                sent_at = $4, updated_at = $4, last_error = NULL, claimed_until = NULL WHERE id = $1";
    let retry = "UPDATE herald_notifications SET status = 'pending', not_before = $2, last_error = $3, \
                 updated_at = $4, claimed_until = NULL WHERE id = $1";
    let failed = "UPDATE herald_notifications SET status = 'failed', last_error = $2, updated_at = $3, \
                  claimed_until = NULL WHERE id = $1";
    for (id, outcome) in outcomes {
        let statement = match outcome {
            Outcome::Sent { provider, provider_message_id } => Statement::new(sent)
                .bind(id)
                .bind(provider)
                .bind(provider_message_id.as_deref())
                .bind(now),
            Outcome::Retry { at, error } => {
                Statement::new(retry).bind(id).bind(micros(*at)).bind(error).bind(now)
            }
            Outcome::Failed { error } => Statement::new(failed).bind(id).bind(error).bind(now),
        };
        statement.execute::<DB>(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The deliveries in `herald_notifications`.
#[derive(Debug, Clone)]
pub struct NotificationStore {
    db: Database,
}

impl NotificationStore {
    /// The store over `db`.
    pub fn new(db: Database) -> NotificationStore {
        NotificationStore { db }
    }

    /// Stores planned deliveries outside a consumer (idempotent); returns how many are new.
    pub async fn plan(&self, planned: &[Delivery]) -> Result<u64> {
        // The body is written once; the arms differ only in how a write transaction
        // begins (`BEGIN IMMEDIATE` on SQLite's writer).
        match &self.db {
            Database::Postgres(pool) => plan_in::<Postgres>(pool.begin().await?, planned).await,
            Database::Sqlite(sqlite) => {
                plan_in::<Sqlite>(sqlite.begin_write().await?, planned).await
            }
        }
    }

    /// Claims up to `limit` due deliveries of `channel` for `lease` (held ones whose quiet
    /// hours ended, pending ones, and `sending` ones whose claim expired), counting an
    /// attempt each.
    pub async fn claim_due(
        &self,
        channel: &str,
        limit: i64,
        lease: chrono::Duration,
    ) -> Result<Vec<Delivery>> {
        let now = Utc::now();
        let due = "SELECT id FROM herald_notifications WHERE channel = $4 AND \
                   ((status IN ('pending', 'held') AND not_before <= $2) \
                   OR (status = 'sending' AND claimed_until < $2)) \
                   ORDER BY CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 ELSE 2 END, not_before \
                   LIMIT $3";
        let lock = match self.db.backend() {
            Backend::Postgres => <Postgres as Dialect>::SKIP_LOCKED,
            Backend::Sqlite => <Sqlite as Dialect>::SKIP_LOCKED,
        };
        let sql = format!(
            "UPDATE herald_notifications SET status = 'sending', attempts = attempts + 1, \
             claimed_until = $1, updated_at = $2 WHERE id IN ({due} {lock}) RETURNING {COLUMNS}"
        );
        let statement = Statement::new(&sql)
            .bind(micros(now + lease))
            .bind(micros(now))
            .bind(limit)
            .bind(channel);
        let rows: Vec<DeliveryRow> = self.db.writer().fetch_all(statement).await?;
        rows.into_iter().map(DeliveryRow::into_delivery).collect()
    }

    /// Records the outcomes of claimed deliveries, in one transaction.
    pub async fn settle(&self, outcomes: &[(Uuid, Outcome)]) -> Result<()> {
        match &self.db {
            Database::Postgres(pool) => settle_in::<Postgres>(pool.begin().await?, outcomes).await,
            Database::Sqlite(sqlite) => {
                settle_in::<Sqlite>(sqlite.begin_write().await?, outcomes).await
            }
        }
    }

    /// Lets a held delivery go at `at` instead of when the recipient's quiet hours end
    /// (an operator's "send now"); false if it is not held.
    pub async fn release_held(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let sql = "UPDATE herald_notifications SET not_before = $2, updated_at = $3 \
                   WHERE id = $1 AND status = 'held'";
        let statement = Statement::new(sql).bind(id).bind(micros(at)).bind(micros(Utc::now()));
        let changed = self.db.writer().execute(statement).await?;
        Ok(changed == 1)
    }

    /// Sends failed deliveries again (the notification service's dead-letter replay):
    /// those of `event_id`, or every failed one; attempts start over. Only deliveries
    /// that have an address and a rendered body can go again. Returns how many.
    pub async fn retry_failed(&self, event_id: Option<Uuid>) -> Result<u64> {
        let sql = "UPDATE herald_notifications SET status = 'pending', attempts = 0, not_before = $2, \
                   updated_at = $2, last_error = 'retried after: ' || COALESCE(last_error, '') \
                   WHERE status = 'failed' AND address IS NOT NULL AND body IS NOT NULL \
                   AND ($1 IS NULL OR event_id = $1)";
        let now = micros(Utc::now());
        Ok(self.db.writer().execute(Statement::new(sql).bind(event_id).bind(now)).await?)
    }

    /// Deliveries by filter, newest first.
    pub async fn list(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM herald_notifications WHERE ($1 IS NULL OR event_id = $1) \
             AND ($2 IS NULL OR recipient = $2) AND ($3 IS NULL OR status = $3) \
             AND ($4 IS NULL OR channel = $4) ORDER BY created_at DESC, id LIMIT $5"
        );
        let status = filter.status.map(DeliveryStatus::as_str);
        let limit = filter.limit.unwrap_or(100).clamp(1, 10_000);
        let statement = Statement::new(&sql)
            .bind(filter.event_id)
            .bind(filter.recipient.as_deref())
            .bind(status)
            .bind(filter.channel.as_deref())
            .bind(limit);
        let rows: Vec<DeliveryRow> = self.db.reader().fetch_all(statement).await?;
        rows.into_iter().map(DeliveryRow::into_delivery).collect()
    }

    /// One delivery.
    pub async fn get(&self, id: Uuid) -> Result<Delivery> {
        let sql = format!("SELECT {COLUMNS} FROM herald_notifications WHERE id = $1");
        let row: Option<DeliveryRow> =
            self.db.reader().fetch_optional(Statement::new(&sql).bind(id)).await?;
        row.ok_or(NotifyError::UnknownNotification { id })?.into_delivery()
    }

    /// How many deliveries each channel has in each status, as `(channel, status, count)`.
    pub async fn counts_by_channel(&self) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT channel, status, COUNT(*) FROM herald_notifications \
             GROUP BY channel, status ORDER BY channel, status";
        Ok(self.db.reader().fetch_all(Statement::new(sql)).await?)
    }

    /// How many deliveries each idempotency key has in each status, as
    /// `(idempotency key, status, count)`: whether each notification went out once.
    pub async fn counts_by_key(&self) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT idempotency_key, status, COUNT(*) FROM herald_notifications \
             GROUP BY idempotency_key, status";
        Ok(self.db.reader().fetch_all(Statement::new(sql)).await?)
    }

    /// How many deliveries are in each status (statuses with none are left out).
    pub async fn counts(&self) -> Result<Vec<(String, i64)>> {
        let sql =
            "SELECT status, COUNT(*) FROM herald_notifications GROUP BY status ORDER BY status";
        Ok(self.db.reader().fetch_all(Statement::new(sql)).await?)
    }
}
