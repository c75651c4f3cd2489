//! The notification API: delivery status, recipients and templates. Changes need the
//! token (or Basic credentials).

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use herald_db::Database;
use herald_http::{Api, Credentials};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::{
    DeliveryFilter, DeliveryStatus, NotificationStore, NotifyError, QuietHours, RecipientStore,
    TemplateStore,
};

#[derive(Clone)]
struct AppState {
    deliveries: NotificationStore,
    recipients: RecipientStore,
    templates: TemplateStore,
}

/// The API over `db`: `GET /notifications[/{id}]`, `GET /notifications/summary`,
/// `GET|PUT /recipients/{id}`, `GET /templates`, `PUT /templates/{name}/{channel}/{locale}`.
///
/// The summary (counts only) is open; every other read returns addresses, phone numbers or
/// rendered bodies and needs a read token; changes need a full one.
pub fn router(db: Database, credentials: &Credentials) -> Api {
    let state = AppState {
        deliveries: NotificationStore::new(db.clone()),
        recipients: RecipientStore::new(db.clone()),
        templates: TemplateStore::new(db),
    };
    Api::new(credentials, unauthorized)
        .read("/notifications", get(list))
        .open("/notifications/summary", get(summary))
        .read("/notifications/{id}", get(show))
        .read("/recipients/{id}", get(get_recipient))
        .write("/recipients/{id}", put(put_recipient))
        .read("/templates", get(list_templates))
        .write("/templates/{name}/{channel}/{locale}", put(put_template))
        .with_state(state)
}

fn failure(error: &NotifyError) -> Response {
    let status = match error {
        NotifyError::Invalid { .. } => StatusCode::BAD_REQUEST,
        NotifyError::UnknownRecipient { .. }
        | NotifyError::UnknownTemplate { .. }
        | NotifyError::UnknownNotification { .. } => StatusCode::NOT_FOUND,
        NotifyError::BadTemplate { .. }
        | NotifyError::Render { .. }
        | NotifyError::Schema { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(%error, "A notification API request failed.");
        "internal error; see the server's log".to_owned()
    } else {
        error.to_string()
    };
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn unauthorized() -> Response {
    let body = axum::Json(
        json!({ "error": "this change needs credentials: Authorization: Bearer <token>" }),
    );
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
}

fn bad_request(field: &str, reason: String) -> Response {
    failure(&NotifyError::Invalid { field: field.to_owned(), reason })
}

#[derive(Deserialize)]
struct ListQuery {
    event_id: Option<Uuid>,
    recipient: Option<String>,
    status: Option<String>,
    channel: Option<String>,
    limit: Option<i64>,
}

async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> Response {
    let status = match query.status.as_deref().map(str::parse::<DeliveryStatus>).transpose() {
        Ok(status) => status,
        Err(error) => return failure(&error),
    };
    let filter = DeliveryFilter {
        event_id: query.event_id,
        recipient: query.recipient,
        status,
        channel: query.channel,
        limit: query.limit,
    };
    match state.deliveries.list(&filter).await {
        Ok(found) => axum::Json(found).into_response(),
        Err(error) => failure(&error),
    }
}

async fn summary(State(state): State<AppState>) -> Response {
    match state.deliveries.counts().await {
        Ok(counts) => {
            let map: serde_json::Map<String, serde_json::Value> =
                counts.into_iter().map(|(status, count)| (status, count.into())).collect();
            axum::Json(map).into_response()
        }
        Err(error) => failure(&error),
    }
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<Uuid>() else {
        return bad_request("id", format!("`{id}` is not a notification id (a UUID)"));
    };
    match state.deliveries.get(id).await {
        Ok(found) => axum::Json(found).into_response(),
        Err(error) => failure(&error),
    }
}

async fn get_recipient(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.recipients.get(&id).await {
        Ok(Some(found)) => axum::Json(found).into_response(),
        Ok(None) => failure(&NotifyError::UnknownRecipient { id }),
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientBody {
    #[serde(default = "default_locale")]
    locale: String,
    #[serde(default = "default_timezone")]
    timezone: String,
    /// `HH:MM-HH:MM`, or null.
    quiet_hours: Option<String>,
    /// Address per channel.
    #[serde(default)]
    contacts: std::collections::BTreeMap<String, String>,
    /// Opt-outs to set: channel (or `*`), category (or `*`), opted out or back in.
    #[serde(default)]
    opt_outs: Vec<OptOut>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptOut {
    channel: String,
    #[serde(default = "star")]
    category: String,
    #[serde(default = "yes")]
    opted_out: bool,
}

fn default_locale() -> String {
    "en".into()
}
fn default_timezone() -> String {
    "UTC".into()
}
fn star() -> String {
    "*".into()
}
fn yes() -> bool {
    true
}

async fn put_recipient(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let body: RecipientBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => return bad_request("body", error.to_string()),
    };
    let quiet = match body.quiet_hours.as_deref().map(QuietHours::parse).transpose() {
        Ok(quiet) => quiet,
        Err(error) => return failure(&error),
    };
    let result = async {
        state.recipients.upsert(&id, &body.locale, &body.timezone, quiet).await?;
        for (channel, address) in &body.contacts {
            state.recipients.set_contact(&id, channel, address).await?;
        }
        for opt in &body.opt_outs {
            state.recipients.set_opt_out(&id, &opt.channel, &opt.category, opt.opted_out).await?;
        }
        state.recipients.get(&id).await
    }
    .await;
    match result {
        Ok(found) => axum::Json(found).into_response(),
        Err(error) => failure(&error),
    }
}

async fn list_templates(State(state): State<AppState>) -> Response {
    match state.templates.list().await {
        Ok(found) => axum::Json(found).into_response(),
        Err(error) => failure(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    subject: Option<String>,
    body: String,
    schema_subject: Option<String>,
}

async fn put_template(
    State(state): State<AppState>,
    Path((name, channel, locale)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let body: TemplateBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => return bad_request("body", error.to_string()),
    };
    let saved = state
        .templates
        .save(
            &name,
            &channel,
            &locale,
            body.subject.as_deref(),
            &body.body,
            body.schema_subject.as_deref(),
        )
        .await;
    match saved {
        Ok(template) => (StatusCode::CREATED, axum::Json(template)).into_response(),
        Err(error) => failure(&error),
    }
}
