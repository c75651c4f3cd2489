//! The subscriptions table, `herald_subscriptions`: who wants which events pushed where.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use herald_db::{Database, Statement};
use uuid::Uuid;

use crate::client::PushTarget;
use crate::error::truncated_to;
use crate::{PushError, Result, validate};
use herald_http::Secret;

/// The default number of failed deliveries in a row that disables an endpoint.
pub const DEFAULT_DISABLE_AFTER: u32 = 50;
/// The default time a replaced secret keeps signing after a rotation: 24 hours.
pub const DEFAULT_ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest `last_error` kept, in characters.
const MAX_ERROR_CHARS: usize = 1000;
/// The longest rotation overlap accepted: 30 days.
const MAX_ROTATION_OVERLAP: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The columns of a [`Subscription`], in the order of [`SubscriptionRow`]; times are
/// microseconds since the Unix epoch on both databases. The previous secret's expiry is
/// shown only while the rotation overlap lasts, by the database's clock `now` (a constant
/// of `herald_db`, never a value).
fn subscription_columns(now: &str) -> String {
    format!(
        "id, service, pattern, filter, endpoint, created_at, disabled_at, consecutive_failures, \
         last_error, last_success_at, \
         CASE WHEN previous_secret_expires_at > {now} THEN previous_secret_expires_at END \
         AS previous_secret_expires_at"
    )
}

/// A [`Subscription`] as both databases return it: times in microseconds.
#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: Uuid,
    service: String,
    pattern: String,
    filter: Option<String>,
    endpoint: String,
    created_at: i64,
    disabled_at: Option<i64>,
    consecutive_failures: i32,
    last_error: Option<String>,
    last_success_at: Option<i64>,
    previous_secret_expires_at: Option<i64>,
}

impl SubscriptionRow {
    /// The subscription, its times converted from microseconds.
    fn into_subscription(self) -> Result<Subscription> {
        Ok(Subscription {
            id: self.id,
            service: self.service,
            pattern: self.pattern,
            filter: self.filter,
            endpoint: self.endpoint,
            created_at: time(self.created_at)?,
            disabled_at: self.disabled_at.map(time).transpose()?,
            consecutive_failures: u32::try_from(self.consecutive_failures).unwrap_or_default(),
            last_error: self.last_error,
            last_success_at: self.last_success_at.map(time).transpose()?,
            previous_secret_expires_at: self.previous_secret_expires_at.map(time).transpose()?,
        })
    }
}

/// The store's settings.
#[derive(Debug, Clone)]
pub struct SubscriptionStoreConfig {
    /// Failed deliveries in a row after which an endpoint is disabled: the next
    /// [`SubscriptionStore::record_failure`] that reaches this count sets `disabled_at`,
    /// and a dispatcher then stops pushing to it until [`SubscriptionStore::enable`].
    /// A success resets the count. At least 1; default [`DEFAULT_DISABLE_AFTER`] (50).
    pub disable_after: u32,
    /// How long the secret replaced by [`SubscriptionStore::rotate_secret`] keeps
    /// signing beside the new one, so receivers can switch without losing events.
    /// At most 30 days; default [`DEFAULT_ROTATION_OVERLAP`] (24 hours).
    pub rotation_overlap: Duration,
    /// Whether endpoints on loopback, link-local or private addresses are accepted.
    /// Default `false`: a subscription could otherwise make Herald send requests into
    /// its own network (SSRF). Names are checked again when they are resolved
    /// ([`crate::PushClientConfig::allow_private_endpoints`]).
    pub allow_private_endpoints: bool,
}

impl Default for SubscriptionStoreConfig {
    fn default() -> Self {
        SubscriptionStoreConfig {
            disable_after: DEFAULT_DISABLE_AFTER,
            rotation_overlap: DEFAULT_ROTATION_OVERLAP,
            allow_private_endpoints: false,
        }
    }
}

impl SubscriptionStoreConfig {
    /// Checks every setting; the error names the setting.
    pub fn validate(&self) -> Result<()> {
        if self.disable_after == 0 || i32::try_from(self.disable_after).is_err() {
            return Err(PushError::invalid(
                "disable_after",
                &self.disable_after.to_string(),
                "a number of failures between 1 and 2147483647",
            ));
        }
        if self.rotation_overlap > MAX_ROTATION_OVERLAP {
            return Err(PushError::invalid(
                "rotation_overlap",
                &format!("{:?}", self.rotation_overlap),
                "at most 30 days",
            ));
        }
        Ok(())
    }
}

/// A request for a new subscription, as the API receives it.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// The subscribing service: 1 to 64 characters of `[a-z0-9_-]`.
    pub service: String,
    /// An AMQP topic pattern over routing keys `<kind>.<type>.v<version>`, such as
    /// `integration.orders.#`.
    pub pattern: String,
    /// A CloudEvents SQL expression the events must also satisfy, e.g.
    /// `source = '/orders' AND eventkind = 'integration'`.
    #[serde(default)]
    pub filter: Option<String>,
    /// The `http` or `https` URL that receives the events.
    pub endpoint: String,
    /// A `whsec_…` secret to sign with; one is generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

impl fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSubscription")
            .field("service", &self.service)
            .field("pattern", &self.pattern)
            .field("filter", &self.filter)
            .field("endpoint", &self.endpoint)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A subscription as listed: every column but the secrets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Subscription {
    /// The subscription's id (UUIDv7).
    pub id: Uuid,
    /// The subscribing service.
    pub service: String,
    /// The pattern over routing keys.
    pub pattern: String,
    /// The CloudEvents SQL filter, if any.
    pub filter: Option<String>,
    /// The URL that receives the events (serialized with its query's values hidden:
    /// [`crate::shown_endpoint`]).
    #[serde(serialize_with = "crate::validate::serialize_shown_endpoint")]
    pub endpoint: String,
    /// When the subscription was created.
    pub created_at: DateTime<Utc>,
    /// When the endpoint was disabled after too many failures; `None` while enabled.
    pub disabled_at: Option<DateTime<Utc>>,
    /// Failed deliveries since the last success.
    pub consecutive_failures: u32,
    /// The error of the last failed delivery.
    pub last_error: Option<String>,
    /// When a delivery last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Until when the previous secret also signs, during a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Whether the endpoint is disabled.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// A subscription together with the secret just issued for it, by
/// [`SubscriptionStore::create`] or [`SubscriptionStore::rotate_secret`]: the only
/// time a secret leaves the store.
#[derive(Debug, Clone)]
pub struct IssuedSecret {
    /// The subscription.
    pub subscription: Subscription,
    /// Its new signing secret.
    pub secret: Secret,
}

/// The subscriptions of every service, on PostgreSQL or SQLite. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SubscriptionStore {
    db: Database,
    config: SubscriptionStoreConfig,
}

impl SubscriptionStore {
    /// A store over `db`, whose migrations created `herald_subscriptions`.
    pub fn new(db: Database, config: SubscriptionStoreConfig) -> Result<SubscriptionStore> {
        config.validate()?;
        Ok(SubscriptionStore { db, config })
    }

    /// The store's settings.
    pub fn config(&self) -> &SubscriptionStoreConfig {
        &self.config
    }

    /// Validates and stores a subscription, generating a secret unless one is given.
    ///
    /// Fails with [`PushError::Invalid`] naming the first bad field (`service`,
    /// `pattern`, `endpoint`, `secret`), and with [`PushError::AlreadyExists`] when the
    /// service already subscribes the endpoint with the same pattern.
    pub async fn create(&self, new: &NewSubscription) -> Result<IssuedSecret> {
        validate::service(&new.service)?;
        validate::pattern(&new.pattern)?;
        if let Some(filter) = &new.filter {
            validate::filter(filter)?;
        }
        validate::public_endpoint(&new.endpoint, self.config.allow_private_endpoints)?;
        let secret = match &new.secret {
            Some(text) => Secret::parse(text)?,
            None => Secret::generate(),
        };
        let id = Uuid::now_v7();
        let sql = format!(
            "INSERT INTO herald_subscriptions (id, service, pattern, endpoint, secret, filter) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
            subscription_columns(self.db.now_micros_sql())
        );
        let row: SubscriptionRow = self
            .db
            .writer()
            .fetch_one(
                Statement::new(&sql)
                    .bind(id)
                    .bind(&new.service)
                    .bind(&new.pattern)
                    .bind(&new.endpoint)
                    .bind(secret.expose())
                    .bind(new.filter.as_deref()),
            )
            .await
            .map_err(|error| insert_error(error, new))?;
        Ok(IssuedSecret { subscription: row.into_subscription()?, secret })
    }

    /// Every subscription, or those of one service, ordered by service and creation.
    pub async fn list(&self, service: Option<&str>) -> Result<Vec<Subscription>> {
        if let Some(service) = service {
            validate::service(service)?;
        }
        let sql = format!(
            "SELECT {} FROM herald_subscriptions WHERE ($1 IS NULL OR service = $1) \
             ORDER BY service, id",
            subscription_columns(self.db.now_micros_sql())
        );
        let rows: Vec<SubscriptionRow> =
            self.db.reader().fetch_all(Statement::new(&sql).bind(service)).await?;
        rows.into_iter().map(SubscriptionRow::into_subscription).collect()
    }

    /// One subscription; [`PushError::NotFound`] when there is none with this id.
    pub async fn get(&self, id: Uuid) -> Result<Subscription> {
        let sql = format!(
            "SELECT {} FROM herald_subscriptions WHERE id = $1",
            subscription_columns(self.db.now_micros_sql())
        );
        let row: Option<SubscriptionRow> =
            self.db.reader().fetch_optional(Statement::new(&sql).bind(id)).await?;
        row.ok_or(PushError::NotFound { id })?.into_subscription()
    }

    /// Deletes a subscription; [`PushError::NotFound`] when there is none with this id.
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        let deleted = self
            .db
            .writer()
            .execute(Statement::new("DELETE FROM herald_subscriptions WHERE id = $1").bind(id))
            .await?;
        if deleted == 0 {
            return Err(PushError::NotFound { id });
        }
        Ok(())
    }

    /// Enables the endpoint again: clears `disabled_at` and the failure count.
    pub async fn enable(&self, id: Uuid) -> Result<Subscription> {
        let sql = format!(
            "UPDATE herald_subscriptions SET disabled_at = NULL, consecutive_failures = 0 \
             WHERE id = $1 RETURNING {}",
            subscription_columns(self.db.now_micros_sql())
        );
        let row: Option<SubscriptionRow> =
            self.db.writer().fetch_optional(Statement::new(&sql).bind(id)).await?;
        row.ok_or(PushError::NotFound { id })?.into_subscription()
    }

    /// Replaces the signing secret with `secret`, or a generated one.
    ///
    /// The replaced secret keeps signing for [`SubscriptionStoreConfig::rotation_overlap`]
    /// (24 hours by default): every request carries both signatures, so the receiver can
    /// switch to the new secret at any moment in that window. Rotating again within the
    /// window drops the oldest secret at once; only the last two sign.
    pub async fn rotate_secret(&self, id: Uuid, secret: Option<Secret>) -> Result<IssuedSecret> {
        let secret = secret.unwrap_or_else(Secret::generate);
        let overlap_micros =
            i64::try_from(self.config.rotation_overlap.as_micros()).unwrap_or(i64::MAX);
        let now = self.db.now_micros_sql();
        let sql = format!(
            "UPDATE herald_subscriptions SET previous_secret = secret, \
             previous_secret_expires_at = {now} + $3, secret = $2 WHERE id = $1 RETURNING {}",
            subscription_columns(now)
        );
        let statement = Statement::new(&sql).bind(id).bind(secret.expose()).bind(overlap_micros);
        let row: Option<SubscriptionRow> = self.db.writer().fetch_optional(statement).await?;
        let subscription = row.ok_or(PushError::NotFound { id })?.into_subscription()?;
        Ok(IssuedSecret { subscription, secret })
    }

    /// The endpoint and the secrets to sign with: the current secret, and the previous
    /// one while its rotation overlap lasts. It does not check `disabled_at`.
    pub async fn target(&self, id: Uuid) -> Result<PushTarget> {
        let sql = format!(
            "SELECT endpoint, secret, CASE WHEN previous_secret_expires_at > {} \
             THEN previous_secret END AS previous_secret \
             FROM herald_subscriptions WHERE id = $1",
            self.db.now_micros_sql()
        );
        let row: Option<(String, String, Option<String>)> =
            self.db.reader().fetch_optional(Statement::new(&sql).bind(id)).await?;
        let (endpoint, secret, previous) = row.ok_or(PushError::NotFound { id })?;
        let target = PushTarget::new(&endpoint, Secret::parse(&secret)?)?;
        match previous {
            Some(previous) => Ok(target.with_previous_secret(Secret::parse(&previous)?)),
            None => Ok(target),
        }
    }

    /// Records a successful delivery: the failure count goes back to 0.
    pub async fn record_success(&self, id: Uuid) -> Result<()> {
        let sql = format!(
            "UPDATE herald_subscriptions SET consecutive_failures = 0, last_success_at = {} \
             WHERE id = $1",
            self.db.now_micros_sql()
        );
        let updated = self.db.writer().execute(Statement::new(&sql).bind(id)).await?;
        if updated == 0 {
            return Err(PushError::NotFound { id });
        }
        Ok(())
    }

    /// Records a failed delivery and its error (cut to 1000 characters), and returns
    /// whether the endpoint is now disabled: it is once the failures in a row reach
    /// [`SubscriptionStoreConfig::disable_after`], in the same statement that counts them.
    pub async fn record_failure(&self, id: Uuid, error: &str) -> Result<bool> {
        let error = truncated_to(error, MAX_ERROR_CHARS);
        let threshold = i32::try_from(self.config.disable_after).unwrap_or(i32::MAX);
        let sql = format!(
            "UPDATE herald_subscriptions SET consecutive_failures = consecutive_failures + 1, \
             last_error = $2, disabled_at = CASE \
                 WHEN disabled_at IS NULL AND consecutive_failures + 1 >= $3 \
                 THEN {} ELSE disabled_at END \
             WHERE id = $1 RETURNING consecutive_failures, disabled_at IS NOT NULL AS disabled",
            self.db.now_micros_sql()
        );
        let statement = Statement::new(&sql).bind(id).bind(&error).bind(threshold);
        let row: Option<(i32, bool)> = self.db.writer().fetch_optional(statement).await?;
        let (failures, disabled) = row.ok_or(PushError::NotFound { id })?;
        if failures == threshold {
            tracing::warn!(subscription = %id, failures, "Push endpoint disabled after failures in a row.");
        }
        Ok(disabled)
    }
}

/// Maps a unique violation of (service, pattern, endpoint) to [`PushError::AlreadyExists`].
fn insert_error(error: sqlx::Error, new: &NewSubscription) -> PushError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            PushError::AlreadyExists {
                service: new.service.clone(),
                pattern: new.pattern.clone(),
                endpoint: new.endpoint.clone(),
            }
        }
        _ => PushError::Database(error),
    }
}

/// Converts microseconds since the Unix epoch.
fn time(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| {
        PushError::Database(sqlx::Error::Decode(
            format!("timestamp of {micros} microseconds is out of range").into(),
        ))
    })
}
