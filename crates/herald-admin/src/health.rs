//! `/healthz` and `/readyz`.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use herald_db::Statement;
use serde_json::json;

use crate::api::AppState;

/// The process answers.
pub(crate) async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Ready to serve: the database answers, and the relay (when this server runs one) holds
/// at least one partition. 503 names the failing checks.
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = match state.db.reader().fetch_one::<(i32,)>(Statement::new("SELECT 1")).await {
        Ok(_) => "ok".to_owned(),
        Err(error) => format!("failing: {error}"),
    };
    let relay = match &state.relay {
        None => "not run by this server".to_owned(),
        Some(stats) if stats.partitions_held.load(Ordering::Relaxed) > 0 => "ok".to_owned(),
        Some(_) => "failing: holds no partition yet".to_owned(),
    };
    let ready = database == "ok" && !relay.starts_with("failing");
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": { "database": database, "relay": relay },
    });
    (status, axum::Json(body))
}
