//! The admin API of push subscriptions, an `axum` router:
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/subscriptions[?service=<name>]` | 200 `{"subscriptions": [...]}` |
//! | `POST /api/subscriptions` `{service, pattern, endpoint, secret?}` | 201, the subscription and its `secret` |
//! | `GET /api/subscriptions/{id}` | 200, the subscription |
//! | `DELETE /api/subscriptions/{id}` | 204 |
//! | `POST /api/subscriptions/{id}/enable` | 200, the subscription |
//! | `POST /api/subscriptions/{id}/rotate-secret` | 200, the subscription and its new `secret` |
//!
//! Requests that change state (`POST`, `DELETE`) need `Authorization: Bearer <token>`;
//! `herald_http::RequireCredentials` checks it in constant time before the body is read.
//! Errors are JSON, `{"error": "...", "field": "..."}` (`field` is `null` when no single
//! field is at fault): 400 for a malformed request (bad JSON, an id that is not a UUID,
//! an unknown query parameter), 401 without a valid token, 404 for an unknown id, 409 for a duplicate subscription, 415 without a
//! JSON content type, 422 for a value that breaks a rule. Secrets appear only in the
//! answers to create and rotate-secret, which are marked `Cache-Control: no-store`.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use herald_http::{Api, Credentials};
use uuid::Uuid;

use crate::store::{NewSubscription, Subscription, SubscriptionStore};
use crate::{PushError, Result};

/// The shared state of every handler.
struct ApiState {
    store: SubscriptionStore,
}

/// Builds the router of `/api/subscriptions` over `store`. Reading subscriptions (their
/// endpoints and the receivers' last errors) needs a read token, changing them a full one;
/// every token must be non-empty visible ASCII without spaces.
pub fn router(store: SubscriptionStore, credentials: &Credentials) -> Result<Api> {
    let visible = |byte: u8| byte.is_ascii_graphic();
    let tokens = credentials.tokens.iter().chain(&credentials.read_tokens);
    if let Some(bad) = tokens.into_iter().find(|t| t.is_empty() || !t.bytes().all(visible)) {
        return Err(PushError::Invalid {
            field: "token",
            value: format!("<{} characters, not shown>", bad.chars().count()),
            expected: "a non-empty bearer token of visible ASCII without spaces".to_owned(),
        });
    }
    Ok(Api::new(credentials, unauthorized)
        .read("/api/subscriptions", get(list))
        .write("/api/subscriptions", post(create))
        .read("/api/subscriptions/{id}", get(show))
        .write("/api/subscriptions/{id}", delete(remove))
        .write("/api/subscriptions/{id}/enable", post(enable))
        .write("/api/subscriptions/{id}/rotate-secret", post(rotate_secret))
        .with_state(Arc::new(ApiState { store })))
}

/// The answer to a change without the token.
fn unauthorized() -> Response {
    ApiError::unauthorized().into_response()
}

type SharedState = State<Arc<ApiState>>;

/// The query of `GET /api/subscriptions`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    service: Option<String>,
}

/// A subscription with the secret just issued for it.
#[derive(serde::Serialize)]
struct WithSecret<'a> {
    #[serde(flatten)]
    subscription: &'a Subscription,
    secret: &'a str,
}

/// The list of subscriptions.
#[derive(serde::Serialize)]
struct SubscriptionList {
    subscriptions: Vec<Subscription>,
}

async fn list(
    State(state): SharedState,
    query: std::result::Result<Query<ListQuery>, QueryRejection>,
) -> std::result::Result<Json<SubscriptionList>, ApiError> {
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text(), Some("query"))
    })?;
    let subscriptions = state.store.list(query.service.as_deref()).await?;
    Ok(Json(SubscriptionList { subscriptions }))
}

async fn create(
    State(state): SharedState,
    body: std::result::Result<Json<NewSubscription>, JsonRejection>,
) -> std::result::Result<Response, ApiError> {
    let Json(new) = body.map_err(|rejection| ApiError::from_json_rejection(&rejection))?;
    let issued = state.store.create(&new).await?;
    let subscription = &issued.subscription;
    tracing::info!(subscription = %subscription.id, service = %subscription.service, pattern = %subscription.pattern, "Push subscription created.");
    let location = format!("/api/subscriptions/{}", subscription.id);
    let body = WithSecret { subscription, secret: issued.secret.expose() };
    let mut response = (StatusCode::CREATED, no_store(), Json(body)).into_response();
    if let Ok(location) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn show(
    State(state): SharedState,
    Path(id): Path<String>,
) -> std::result::Result<Json<Subscription>, ApiError> {
    Ok(Json(state.store.get(parse_id(&id)?).await?))
}

async fn remove(
    State(state): SharedState,
    Path(id): Path<String>,
) -> std::result::Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    state.store.delete(id).await?;
    tracing::info!(subscription = %id, "Push subscription deleted.");
    Ok(StatusCode::NO_CONTENT)
}

async fn enable(
    State(state): SharedState,
    Path(id): Path<String>,
) -> std::result::Result<Json<Subscription>, ApiError> {
    let subscription = state.store.enable(parse_id(&id)?).await?;
    tracing::info!(subscription = %subscription.id, "Push subscription enabled.");
    Ok(Json(subscription))
}

async fn rotate_secret(
    State(state): SharedState,
    Path(id): Path<String>,
) -> std::result::Result<Response, ApiError> {
    let issued = state.store.rotate_secret(parse_id(&id)?, None).await?;
    tracing::info!(subscription = %issued.subscription.id, "Push subscription secret rotated.");
    let body = WithSecret { subscription: &issued.subscription, secret: issued.secret.expose() };
    Ok((no_store(), Json(body)).into_response())
}

/// Parses a path id, or answers 400 naming the field `id`.
fn parse_id(text: &str) -> std::result::Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::from(PushError::invalid("id", text, "a UUID")))
}

/// The header that keeps a secret out of caches.
fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

/// An error answer: a status and `{"error": ..., "field": ...}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    error: String,
    field: Option<&'static str>,
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    field: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, field: Option<&'static str>) -> Self {
        ApiError { status, error: error.into(), field }
    }

    fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this request needs the header `Authorization: Bearer <token>` with the API token",
            Some("authorization"),
        )
    }

    fn from_json_rejection(rejection: &JsonRejection) -> Self {
        let status = match rejection {
            JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, rejection.body_text(), Some("body"))
    }
}

impl From<PushError> for ApiError {
    fn from(error: PushError) -> Self {
        let status = match &error {
            PushError::Invalid { field: "id", .. } => StatusCode::BAD_REQUEST,
            PushError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            PushError::NotFound { .. } => StatusCode::NOT_FOUND,
            PushError::AlreadyExists { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(%error, "Subscription API request failed.");
            return ApiError::new(status, "internal error; the server log has the cause", None);
        }
        ApiError::new(status, error.to_string(), error.field())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody { error: &self.error, field: self.field });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
