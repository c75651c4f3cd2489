//! `herald_notifications`: one row per (idempotency key, recipient, channel), planned in
//! the consumer's transaction, claimed by dispatchers, settled with its outcome.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use herald_db::Database;
use serde::Serialize;
use sqlx::Row;
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

/// Binds a [`Delivery`] to [`INSERT`] and runs it on `$executor`.
macro_rules! insert_planned {
    ($executor:expr, $d:expr) => {
        sqlx::query($crate::deliveries::INSERT)
            .bind($d.id)
            .bind($d.event_id)
            .bind(&$d.idempotency_key)
            .bind(&$d.recipient)
            .bind(&$d.channel)
            .bind(&$d.address)
            .bind(&$d.template)
            .bind(&$d.category)
            .bind(&$d.priority)
            .bind(&$d.subject)
            .bind(&$d.body)
            .bind(&$d.data)
            .bind($d.status.as_str())
            .bind(&$d.last_error)
            .bind($crate::micros($d.not_before))
            .bind($crate::micros($d.created_at))
            .execute($executor)
    };
}
pub(crate) use insert_planned;

fn delivery_of<R: Row>(row: &R) -> Result<Delivery>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let status: String = row.try_get("status")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        recipient: row.try_get("recipient")?,
        channel: row.try_get("channel")?,
        address: row.try_get("address")?,
        template: row.try_get("template")?,
        category: row.try_get("category")?,
        priority: row.try_get("priority")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        data: row.try_get("data")?,
        status: status.parse()?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        provider: row.try_get("provider")?,
        provider_message_id: row.try_get("provider_message_id")?,
        not_before: from_micros(row.try_get("not_before")?),
        created_at: from_micros(row.try_get("created_at")?),
        sent_at: row.try_get::<Option<i64>, _>("sent_at")?.map(from_micros),
    })
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
        let mut new = 0;
        match &self.db {
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for delivery in planned {
                    new += insert_planned!(&mut *tx, delivery).await?.rows_affected();
                }
                tx.commit().await?;
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.begin_write().await?;
                for delivery in planned {
                    new += insert_planned!(&mut *tx, delivery).await?.rows_affected();
                }
                tx.commit().await?;
            }
        }
        Ok(new)
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
        let lock =
            if matches!(self.db, Database::Postgres(_)) { " FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE herald_notifications SET status = 'sending', attempts = attempts + 1, \
             claimed_until = $1, updated_at = $2 WHERE id IN ({due}{lock}) RETURNING {COLUMNS}"
        );
        let until = micros(now + lease);
        herald_db::with_writer!(&self.db, pool => {
            sqlx::query(&sql).bind(until).bind(micros(now)).bind(limit).bind(channel)
                .fetch_all(pool).await?
                .iter().map(delivery_of).collect()
        })
    }

    /// Records the outcomes of claimed deliveries, in one transaction.
    pub async fn settle(&self, outcomes: &[(Uuid, Outcome)]) -> Result<()> {
        let now = micros(Utc::now());
        let sent = "UPDATE herald_notifications SET status = 'sent', provider = $2, provider_message_id = $3, \
                    sent_at = $4, updated_at = $4, last_error = NULL, claimed_until = NULL WHERE id = $1";
        let retry = "UPDATE herald_notifications SET status = 'pending', not_before = $2, last_error = $3, \
                     updated_at = $4, claimed_until = NULL WHERE id = $1";
        let failed = "UPDATE herald_notifications SET status = 'failed', last_error = $2, updated_at = $3, \
                      claimed_until = NULL WHERE id = $1";
        macro_rules! apply {
            ($tx:expr) => {
                for (id, outcome) in outcomes {
                    match outcome {
                        Outcome::Sent { provider, provider_message_id } => {
                            sqlx::query(sent)
                                .bind(id)
                                .bind(provider)
                                .bind(provider_message_id)
                                .bind(now)
                                .execute(&mut *$tx)
                                .await?;
                        }
                        Outcome::Retry { at, error } => {
                            sqlx::query(retry)
                                .bind(id)
                                .bind(micros(*at))
                                .bind(error)
                                .bind(now)
                                .execute(&mut *$tx)
                                .await?;
                        }
                        Outcome::Failed { error } => {
                            sqlx::query(failed)
                                .bind(id)
                                .bind(error)
                                .bind(now)
                                .execute(&mut *$tx)
                                .await?;
                        }
                    }
                }
            };
        }
        match &self.db {
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                apply!(tx);
                tx.commit().await?;
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.begin_write().await?;
                apply!(tx);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Lets a held delivery go at `at` instead of when the recipient's quiet hours end
    /// (an operator's "send now"); false if it is not held.
    pub async fn release_held(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let sql = "UPDATE herald_notifications SET not_before = $2, updated_at = $3 \
                   WHERE id = $1 AND status = 'held'";
        let changed = herald_db::with_writer!(&self.db, pool => {
            sqlx::query(sql).bind(id).bind(micros(at)).bind(micros(Utc::now())).execute(pool).await?
                .rows_affected()
        });
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
        Ok(herald_db::with_writer!(&self.db, pool => {
            sqlx::query(sql).bind(event_id).bind(now).execute(pool).await?.rows_affected()
        }))
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
        herald_db::with_reader!(&self.db, pool => {
            sqlx::query(&sql).bind(filter.event_id).bind(&filter.recipient).bind(status)
                .bind(&filter.channel).bind(limit).fetch_all(pool).await?
                .iter().map(delivery_of).collect()
        })
    }

    /// One delivery.
    pub async fn get(&self, id: Uuid) -> Result<Delivery> {
        let sql = format!("SELECT {COLUMNS} FROM herald_notifications WHERE id = $1");
        let row = herald_db::with_reader!(&self.db, pool => {
            match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
                Some(row) => Some(delivery_of(&row)?),
                None => None,
            }
        });
        row.ok_or(NotifyError::UnknownNotification { id })
    }

    /// How many deliveries each channel has in each status, as `(channel, status, count)`.
    pub async fn counts_by_channel(&self) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT channel, status, COUNT(*) FROM herald_notifications \
             GROUP BY channel, status ORDER BY channel, status";
        Ok(herald_db::with_reader!(&self.db, pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }

    /// How many deliveries each idempotency key has in each status, as
    /// `(idempotency key, status, count)`: whether each notification went out once.
    pub async fn counts_by_key(&self) -> Result<Vec<(String, String, i64)>> {
        let sql = "SELECT idempotency_key, status, COUNT(*) FROM herald_notifications \
             GROUP BY idempotency_key, status";
        Ok(herald_db::with_reader!(&self.db, pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }

    /// How many deliveries are in each status (statuses with none are left out).
    pub async fn counts(&self) -> Result<Vec<(String, i64)>> {
        let sql =
            "SELECT status, COUNT(*) FROM herald_notifications GROUP BY status ORDER BY status";
        Ok(herald_db::with_reader!(&self.db, pool => sqlx::query_as(sql).fetch_all(pool).await?))
    }
}
