//! Prometheus: the recorder the `metrics` facade writes to, and the scrape.
//!
//! Counters and histograms come from the code that does the work (the relay, consumers,
//! handlers, the requests counted by [`count_requests`]). What lives in the database is
//! read at each scrape and set as gauges: outbox pending rows and the age of the oldest
//! per partition, DLQ depth per service, notifications per channel and status.

use std::collections::BTreeSet;
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use herald_consumer::DeadLetterStore;
use herald_db::Database;
use herald_notify::NotificationStore;
use herald_outbox::{OutboxStore, Retention};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AdminError;
use crate::api::AppState;

/// Histogram buckets of every `*_seconds` metric: 1 ms to 10 s.
const SECONDS_BUCKETS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the process-wide Prometheus recorder and returns the handle that renders it.
/// Call once per process, before the work starts.
pub fn install() -> Result<PrometheusHandle, AdminError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("seconds".into()), &SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|error| AdminError::Unavailable(format!("metrics recorder: {error}")))?;
    metrics::gauge!("herald_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// The label sets set as gauges before, so that one that emptied reads 0, not its last
/// value.
#[derive(Debug, Default)]
pub(crate) struct SeenLabels {
    partitions: Mutex<BTreeSet<u32>>,
    services: Mutex<BTreeSet<String>>,
    channels: Mutex<BTreeSet<(String, String)>>,
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let Some(handle) = &state.prometheus else {
        return AdminError::Unavailable("metrics are off in this server".into()).into_response();
    };
    if let Err(error) = set_database_gauges(&state.db, &state.seen).await {
        return error.into_response();
    }
    let body = handle.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

async fn set_database_gauges(db: &Database, seen: &SeenLabels) -> Result<(), AdminError> {
    let status = OutboxStore::new(db.clone(), Retention::default())
        .status()
        .await
        .map_err(AdminError::database)?;
    {
        let mut partitions = seen.partitions.lock().unwrap_or_else(|e| e.into_inner());
        for partition in partitions.iter() {
            set_outbox(*partition, 0.0, 0.0);
        }
        for row in &status {
            partitions.insert(row.partition);
            set_outbox(row.partition, row.pending as f64, row.oldest_age.as_secs_f64());
        }
    }
    let depth = DeadLetterStore::new(db.clone()).depth().await.map_err(AdminError::database)?;
    {
        let mut services = seen.services.lock().unwrap_or_else(|e| e.into_inner());
        for service in services.iter() {
            metrics::gauge!("herald_dlq_depth", "service" => service.clone()).set(0.0);
        }
        for (service, count) in depth {
            metrics::gauge!("herald_dlq_depth", "service" => service.clone()).set(count as f64);
            services.insert(service);
        }
    }
    let counts = NotificationStore::new(db.clone())
        .counts_by_channel()
        .await
        .map_err(AdminError::database)?;
    let mut channels = seen.channels.lock().unwrap_or_else(|e| e.into_inner());
    for (channel, status) in channels.iter() {
        notification_gauge(channel, status, 0.0);
    }
    for (channel, status, count) in counts {
        notification_gauge(&channel, &status, count as f64);
        channels.insert((channel, status));
    }
    Ok(())
}

fn set_outbox(partition: u32, pending: f64, oldest_age_seconds: f64) {
    let label = partition.to_string();
    metrics::gauge!("herald_outbox_pending", "partition" => label.clone()).set(pending);
    metrics::gauge!("herald_outbox_oldest_age_seconds", "partition" => label)
        .set(oldest_age_seconds);
}

fn notification_gauge(channel: &str, status: &str, value: f64) {
    metrics::gauge!(
        "herald_notifications",
        "channel" => channel.to_owned(),
        "status" => status.to_owned()
    )
    .set(value);
}

/// A middleware counting a nested service's requests as
/// `herald_<service>_requests_total{method, route, status}`, e.g. for the registry.
pub async fn count_requests(service: &'static str, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let name = format!("herald_{service}_requests_total");
    metrics::counter!(
        name,
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}
