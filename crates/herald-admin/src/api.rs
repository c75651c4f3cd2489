//! The admin API under `/api/` and its shared state. Reads are open to anyone who can
//! reach the port; every change (a DLQ replay) needs the API token.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use herald_consumer::{DeadLetterEntry, DeadLetterFilter, DeadLetterStore, ReplayReport};
use herald_db::Database;
use herald_http::{Api, Credentials};
use herald_log::SqlLog;
use herald_notify::NotificationStore;
use herald_outbox::{OutboxStore, PartitionStatus, Retention};
use herald_registry::SchemaStore;
use herald_relay::RelayStats;
use herald_transport::Publisher;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::metrics::SeenLabels;
use crate::{AdminError, dashboard, health};

/// What the admin API serves from.
pub struct AdminConfig {
    /// The database holding the outbox, the inboxes, the dead letters, the registry and
    /// the notifications.
    pub db: Database,
    /// Who may change state (the API token).
    pub credentials: Credentials,
    /// Where DLQ replays are published (the transport the consumers read); without one,
    /// replays answer 503.
    pub publisher: Option<Arc<dyn Publisher>>,
    /// The relay this server runs, if any: its counters and latency.
    pub relay: Option<Arc<RelayStats>>,
    /// The embedded log, when it is the transport: consumer lag comes from its offsets.
    pub embedded_log: Option<SqlLog>,
    /// `embedded log`, `RabbitMQ` or `NATS JetStream`.
    pub transport: String,
    /// Renders `/metrics`; without it, `/metrics` answers 503.
    pub prometheus: Option<PrometheusHandle>,
    /// A dead letter replayed this many times is not replayed again (a loop guard).
    pub max_replays: u32,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig").field("transport", &self.transport).finish_non_exhaustive()
    }
}

/// The handlers' shared state.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: Database,
    pub(crate) relay: Option<Arc<RelayStats>>,
    pub(crate) prometheus: Option<PrometheusHandle>,
    pub(crate) seen: Arc<SeenLabels>,
    publisher: Option<Arc<dyn Publisher>>,
    embedded_log: Option<SqlLog>,
    transport: Arc<str>,
    max_replays: u32,
}

/// The admin API, the health probes, `/metrics` and the dashboard. Aggregates are open;
/// dead letters and events (their payloads) need a read token; replays a full one.
pub fn router(config: AdminConfig) -> Api {
    let state = AppState {
        db: config.db,
        relay: config.relay,
        prometheus: config.prometheus,
        seen: Arc::default(),
        publisher: config.publisher,
        embedded_log: config.embedded_log,
        transport: config.transport.into(),
        max_replays: config.max_replays,
    };
    Api::new(&config.credentials, unauthorized)
        .open("/healthz", get(health::healthz))
        .open("/readyz", get(health::readyz))
        .open("/metrics", get(crate::metrics::scrape))
        .open("/api/overview", get(overview))
        .open("/api/outbox", get(outbox))
        .open("/api/consumers", get(consumers))
        .read("/api/dlq", get(dlq_list))
        .read("/api/dlq/{id}", get(dlq_show))
        .write("/api/dlq/replay", post(dlq_replay))
        .open("/api/schemas", get(schemas))
        .read("/api/events", get(events))
        .read("/api/events/{id}", get(event_journey))
        .with_state(state)
        .merge(dashboard::routes(&config.credentials))
}

type Answer = Result<axum::Json<Value>, AdminError>;

/// The answer to a change without the token.
fn unauthorized() -> Response {
    AdminError::Unauthorized.into_response()
}

/// The outbox as the API shows it.
#[derive(Debug, Serialize)]
struct OutboxView {
    pending: i64,
    oldest_age_ms: u64,
    partitions: Vec<PartitionView>,
}

#[derive(Debug, Serialize)]
struct PartitionView {
    partition: u32,
    pending: i64,
    oldest_age_ms: u64,
}

impl OutboxView {
    fn of(status: &[PartitionStatus]) -> OutboxView {
        let millis = |status: &PartitionStatus| {
            u64::try_from(status.oldest_age.as_millis()).unwrap_or(u64::MAX)
        };
        OutboxView {
            pending: status.iter().map(|p| p.pending).sum(),
            oldest_age_ms: status.iter().map(millis).max().unwrap_or(0),
            partitions: status
                .iter()
                .map(|p| PartitionView {
                    partition: p.partition,
                    pending: p.pending,
                    oldest_age_ms: millis(p),
                })
                .collect(),
        }
    }
}

/// One consuming service as the API shows it.
#[derive(Debug, Serialize)]
struct ConsumerView {
    service: String,
    processed_total: i64,
    /// Events of the embedded log after its committed offsets; `null` on a broker.
    lag: Option<i64>,
    dead_letters: i64,
}

async fn outbox_view(db: &Database) -> Result<OutboxView, AdminError> {
    let status = OutboxStore::new(db.clone(), Retention::default())
        .status()
        .await
        .map_err(AdminError::database)?;
    Ok(OutboxView::of(&status))
}

async fn consumer_views(state: &AppState) -> Result<Vec<ConsumerView>, AdminError> {
    let processed =
        herald_consumer::processed_counts(&state.db).await.map_err(AdminError::database)?;
    let depth: BTreeMap<String, i64> = DeadLetterStore::new(state.db.clone())
        .depth()
        .await
        .map_err(AdminError::database)?
        .into_iter()
        .collect();
    let lag: Option<BTreeMap<String, i64>> = match &state.embedded_log {
        Some(log) => Some(log.lag().await.map_err(AdminError::database)?.into_iter().collect()),
        None => None,
    };
    let mut services: BTreeMap<String, ConsumerView> = BTreeMap::new();
    let names = processed
        .iter()
        .map(|(service, _)| service.clone())
        .chain(depth.keys().cloned())
        .chain(lag.iter().flat_map(|lag| lag.keys().cloned()));
    for service in names {
        services.entry(service.clone()).or_insert_with(|| ConsumerView {
            lag: lag.as_ref().map(|lag| lag.get(&service).copied().unwrap_or(0)),
            dead_letters: depth.get(&service).copied().unwrap_or(0),
            processed_total: 0,
            service,
        });
    }
    for (service, count) in processed {
        if let Some(view) = services.get_mut(&service) {
            view.processed_total = count;
        }
    }
    Ok(services.into_values().collect())
}

/// `GET /api/overview`: everything the dashboard's first page shows.
async fn overview(State(state): State<AppState>) -> Answer {
    let outbox = outbox_view(&state.db).await?;
    let consumers = consumer_views(&state).await?;
    let dlq: BTreeMap<String, i64> = consumers
        .iter()
        .filter(|c| c.dead_letters > 0)
        .map(|c| (c.service.clone(), c.dead_letters))
        .collect();
    let notifications: BTreeMap<String, i64> = NotificationStore::new(state.db.clone())
        .counts()
        .await
        .map_err(AdminError::database)?
        .into_iter()
        .collect();
    let subjects =
        SchemaStore::new(state.db.clone()).subjects().await.map_err(AdminError::database)?;
    let relay = state.relay.as_ref().map(|stats| {
        json!({
            "running": stats.partitions_held.load(Ordering::Relaxed) > 0,
            "published_total": stats.published.load(Ordering::Relaxed),
            "publish_failures_total": stats.publish_failures.load(Ordering::Relaxed),
            "partitions_held": stats.partitions_held.load(Ordering::Relaxed),
        })
    });
    let latency = state.relay.as_ref().and_then(|stats| stats.commit_to_confirm()).filter(|h| !h.is_empty()).map(|h| {
        let ms = |us: u64| us as f64 / 1000.0;
        json!({ "p50": ms(h.value_at_quantile(0.5)), "p99": ms(h.value_at_quantile(0.99)), "max": ms(h.max()) })
    });
    Ok(axum::Json(json!({
        "time": chrono::Utc::now(),
        "database": match state.db { Database::Postgres(_) => "postgres", Database::Sqlite(_) => "sqlite" },
        "transport": &*state.transport,
        "version": env!("CARGO_PKG_VERSION"),
        "relay": relay.unwrap_or_else(|| json!({ "running": false, "published_total": 0, "partitions_held": 0 })),
        "outbox": outbox,
        "consumers": consumers,
        "dlq": { "depth": dlq.values().sum::<i64>(), "by_service": dlq },
        "notifications": { "by_status": notifications },
        "schemas": { "subjects": subjects.len() },
        "latency_ms": latency,
    })))
}

/// `GET /api/outbox`: pending rows and the oldest's age, per partition.
async fn outbox(State(state): State<AppState>) -> Answer {
    Ok(axum::Json(serde_json::to_value(outbox_view(&state.db).await?).unwrap_or(Value::Null)))
}

/// `GET /api/consumers`.
async fn consumers(State(state): State<AppState>) -> Answer {
    Ok(axum::Json(json!({ "consumers": consumer_views(&state).await? })))
}

/// The filter of `GET /api/dlq` and `POST /api/dlq/replay`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DlqQuery {
    service: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    key: Option<String>,
    error: Option<String>,
    #[serde(default, deserialize_with = "herald_http::query::optional_boolean")]
    include_replayed: Option<bool>,
    limit: Option<i64>,
}

impl DlqQuery {
    fn filter(self) -> Result<DeadLetterFilter, AdminError> {
        if let Some(limit) = self.limit.filter(|limit| !(1..=10_000).contains(limit)) {
            return Err(AdminError::Invalid {
                field: "limit",
                reason: format!("{limit} is not between 1 and 10000"),
            });
        }
        let blank = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
        Ok(DeadLetterFilter {
            service: blank(self.service),
            event_type: blank(self.event_type),
            partition_key: blank(self.key),
            error_contains: blank(self.error),
            include_replayed: self.include_replayed.unwrap_or(false),
            limit: self.limit,
            ..DeadLetterFilter::default()
        })
    }
}

/// `GET /api/dlq?service=&type=&key=&error=&include_replayed=&limit=`.
async fn dlq_list(State(state): State<AppState>, Query(query): Query<DlqQuery>) -> Answer {
    let entries = DeadLetterStore::new(state.db.clone())
        .list(&query.filter()?)
        .await
        .map_err(AdminError::database)?;
    Ok(axum::Json(json!({ "entries": entries })))
}

async fn find_entry(state: &AppState, id: Uuid) -> Result<DeadLetterEntry, AdminError> {
    let filter =
        DeadLetterFilter { id: Some(id), include_replayed: true, ..DeadLetterFilter::default() };
    let entries =
        DeadLetterStore::new(state.db.clone()).list(&filter).await.map_err(AdminError::database)?;
    entries
        .into_iter()
        .next()
        .ok_or(AdminError::NotFound { what: "dead letter", id: id.to_string() })
}

fn parse_id(text: &str) -> Result<Uuid, AdminError> {
    text.parse().map_err(|_| AdminError::Invalid {
        field: "id",
        reason: format!("`{text}` is not a dead letter's id (a UUID)"),
    })
}

/// `GET /api/dlq/{id}`: the entry and the event as delivered.
async fn dlq_show(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let entry = find_entry(&state, parse_id(&id)?).await?;
    let event: Value = serde_json::from_slice(&entry.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&entry.payload).into_owned()));
    let mut body = serde_json::to_value(&entry).unwrap_or(Value::Null);
    body["event"] = event;
    Ok(axum::Json(body))
}

/// The body of `POST /api/dlq/replay`: one entry by `id`, or a filter, or `all`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    id: Option<String>,
    service: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    key: Option<String>,
    error: Option<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/dlq/replay` (token): publishes dead letters to their service again.
async fn dlq_replay(State(state): State<AppState>, body: Bytes) -> Answer {
    let request: ReplayRequest = serde_json::from_slice(&body).map_err(|error| AdminError::Invalid {
        field: "body",
        reason: format!("expected {{\"id\": …}}, a filter (service, type, key, error) or {{\"all\": true}}: {error}"),
    })?;
    let id = request.id.as_deref().map(parse_id).transpose()?;
    if let Some(id) = id {
        find_entry(&state, id).await?;
    }
    let query = DlqQuery {
        service: request.service,
        event_type: request.event_type,
        key: request.key,
        error: request.error,
        ..DlqQuery::default()
    };
    let mut filter = query.filter()?;
    filter.id = id;
    let narrowed = filter.id.is_some()
        || filter.service.is_some()
        || filter.event_type.is_some()
        || filter.partition_key.is_some()
        || filter.error_contains.is_some();
    if !narrowed && !request.all {
        return Err(AdminError::Invalid {
            field: "body",
            reason: "name an `id`, a filter (service, type, key, error) or `\"all\": true`".into(),
        });
    }
    let Some(publisher) = &state.publisher else {
        return Err(AdminError::Unavailable("this server runs no transport to replay to".into()));
    };
    let report: ReplayReport = DeadLetterStore::new(state.db.clone())
        .replay(publisher.as_ref(), &filter, state.max_replays, request.dry_run)
        .await
        .map_err(AdminError::database)?;
    Ok(axum::Json(json!({
        "replayed": report.replayed,
        "over_limit": report.over_limit,
        "failed": report.failed.iter().map(|(id, error)| json!({ "id": id, "error": error })).collect::<Vec<_>>(),
        "dry_run": request.dry_run,
    })))
}

/// `GET /api/schemas`: every subject, its versions, the latest, and its level.
async fn schemas(State(state): State<AppState>) -> Answer {
    let store = SchemaStore::new(state.db.clone());
    let mut subjects = Vec::new();
    for subject in store.subjects().await.map_err(AdminError::database)? {
        let history = store.history(&subject).await.map_err(AdminError::database)?;
        let level = store.level(&subject).await.map_err(AdminError::database)?;
        subjects.push(json!({
            "subject": subject,
            "versions": history.iter().map(|schema| schema.version).collect::<Vec<_>>(),
            "latest": history.last(),
            "compatibility": level.to_string(),
        }));
    }
    Ok(axum::Json(json!({ "subjects": subjects })))
}

/// The query of `GET /api/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    key: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    service: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
}

fn parse_time(
    field: &'static str,
    text: Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, AdminError> {
    text.filter(|t| !t.is_empty())
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(&t).map(|t| t.to_utc()).map_err(|_| {
                AdminError::Invalid {
                    field,
                    reason: format!("`{t}` is not an RFC 3339 time, e.g. 2026-11-22T08:00:00Z"),
                }
            })
        })
        .transpose()
}

/// `GET /api/events?key=&type=&service=&since=&until=&limit=`: the ledger's events,
/// newest first.
async fn events(State(state): State<AppState>, Query(query): Query<EventsQuery>) -> Answer {
    if let Some(limit) = query.limit.filter(|limit| !(1..=10_000).contains(limit)) {
        return Err(AdminError::Invalid {
            field: "limit",
            reason: format!("{limit} is not between 1 and 10000"),
        });
    }
    let filter = crate::ledger::EventFilter {
        partition_key: query.key.filter(|k| !k.is_empty()),
        event_type: query.event_type.filter(|t| !t.is_empty()),
        service: query.service.filter(|s| !s.is_empty()),
        since: parse_time("since", query.since)?,
        until: parse_time("until", query.until)?,
        limit: query.limit,
    };
    let found = crate::ledger::search(&state.db, &filter).await.map_err(AdminError::database)?;
    Ok(axum::Json(json!({ "events": found })))
}

/// `GET /api/events/{id}`: an event's journey.
async fn event_journey(State(state): State<AppState>, Path(id): Path<String>) -> Answer {
    let event_id: Uuid = id.parse().map_err(|_| AdminError::Invalid {
        field: "id",
        reason: format!("`{id}` is not an event id (a UUID)"),
    })?;
    match crate::ledger::journey(&state.db, event_id).await.map_err(AdminError::database)? {
        Some(journey) => Ok(axum::Json(serde_json::to_value(journey).unwrap_or(Value::Null))),
        None => Err(AdminError::NotFound { what: "event", id }),
    }
}
