//! The axum router of `POST /events` and its problem responses.
//!
//! | answer | when |
//! |---|---|
//! | 202 `{"accepted": n, "ids": [...], "defaulted": [{"index", "sent_id", "attributes"}]}` | every event checked and enqueued, in one transaction; `defaulted` names, per event, the attributes Herald filled in ([`herald_envelope::Envelope::receive_json`]) |
//! | 400 | malformed JSON, a missing or invalid attribute, an invalid `ce-` header, an empty batch or one that is not an array, duplicate ids in a batch, or a `Content-Type` of no mode without `ce-` headers |
//! | 401 | no or wrong credentials (`WWW-Authenticate: Bearer`) |
//! | 413 | the body, an event, or the number of events is over its limit |
//! | 415 | no `Content-Type` and no `ce-` headers; a CloudEvents format other than JSON, or a charset other than UTF-8 |
//! | 422 | a payload breaks its schema, is not JSON, names a foreign `dataschema`, or its type has no registered schema |
//! | 502 | the schema registry refused to answer |
//! | 503 | the schema registry cannot be asked and the schema is not cached (`Retry-After`) |
//! | 500 | the database failed, or the registered schema cannot be used |
//!
//! Every error is an RFC 9457 problem (`application/problem+json`): `type` (a Herald URN,
//! see [`IngestError::problem_type`]), `title`, `status`, `detail`, and where they apply
//! `index` (the event's position in a batch), `id`, `attribute`, `subject`, and
//! `violations` (`[{"field", "rule", "message"}]`, for a payload that breaks its schema).
//! Credentials are checked first (`herald_http::RequireCredentials`), and the content
//! type before the body is read.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use herald_envelope::EventId;
use herald_http::Api;
use herald_schema::SchemaError;
use serde_json::{Value, json};

use crate::ingest::Indexing;
use crate::{ContentMode, Ingest, IngestError, Result, content_mode, decode};

/// The media type of problem responses (RFC 9457).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// How long a client is told to wait before retrying when the registry is unavailable.
const RETRY_AFTER_SECONDS: &str = "5";

/// The router of `POST /events` over `ingest`.
///
/// Bodies larger than [`Ingest::max_body_bytes`] are refused with 413 as they are read.
pub fn router(ingest: Ingest) -> Api {
    let body_limit = ingest.max_body_bytes();
    let accepts_basic = ingest.accepts_basic();
    let unauthorized = move || problem(&IngestError::Unauthorized, accepts_basic);
    Api::new(ingest.credentials(), unauthorized)
        .write("/events", post(post_events))
        .map_router(|router| router.layer(DefaultBodyLimit::max(body_limit)))
        .with_state(Arc::new(ingest))
}

/// `POST /events`: the answer for a request, accepted or not.
async fn post_events(State(ingest): State<Arc<Ingest>>, request: Request) -> Response {
    match receive(&ingest, request).await {
        Ok((mode, ids, filled)) => {
            tracing::debug!(?mode, accepted = ids.len(), "Events accepted.");
            accepted(&ids, &filled)
        }
        Err(error) => {
            let status = error.status();
            if status.is_server_error() {
                tracing::warn!(%error, status = status.as_u16(), "Events not ingested.");
            } else {
                tracing::debug!(
                    status = status.as_u16(),
                    problem = error.problem_type(),
                    index = error.index(),
                    "Events refused."
                );
            }
            problem(&error, ingest.accepts_basic())
        }
    }
}

/// Decodes, checks and enqueues the events of one request (the credentials layer has
/// admitted it).
async fn receive(
    ingest: &Ingest,
    request: Request,
) -> Result<(ContentMode, Vec<EventId>, Vec<Filled>)> {
    content_mode(request.headers())?;
    let headers = request.headers().clone();
    let body = Bytes::from_request(request, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            IngestError::BodyTooLarge { limit: ingest.max_body_bytes() }
        } else {
            IngestError::UnreadableBody { reason: rejection.body_text() }
        }
    })?;
    let (mode, received) = decode(&headers, &body, ingest.limits(), ingest.max_batch_events())?;
    let indexing = match mode {
        ContentMode::Batch => Indexing::ByIndex,
        ContentMode::Binary | ContentMode::Structured => Indexing::Single,
    };
    let mut filled = Vec::new();
    let mut envelopes = Vec::with_capacity(received.len());
    for (index, event) in received.into_iter().enumerate() {
        if !event.filled.is_empty() {
            filled.push(Filled { index, sent_id: event.sent_id, attributes: event.filled });
        }
        envelopes.push(event.envelope);
    }
    let ids = ingest.accept_with(envelopes, indexing).await?;
    Ok((mode, ids, filled))
}

/// What Herald filled in for one event of a request that lacked its own attributes.
#[derive(serde::Serialize)]
struct Filled {
    /// The event's position in the request.
    index: usize,
    /// The `id` the producer sent.
    #[serde(rename = "sent_id")]
    sent_id: String,
    /// The attributes filled in.
    attributes: Vec<&'static str>,
}

/// 202 with the ids of the accepted events, in order, and what was filled in for the
/// events that lacked Herald's own attributes.
fn accepted(ids: &[EventId], filled: &[Filled]) -> Response {
    let body = json!({ "accepted": ids.len(), "ids": ids, "defaulted": filled });
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

/// The problem response of `error`.
fn problem(error: &IngestError, accepts_basic: bool) -> Response {
    let status = error.status();
    let mut body = json!({
        "type": error.problem_type(),
        "title": error.title(),
        "status": status.as_u16(),
        "detail": error.detail(),
    });
    if let Some(index) = error.index() {
        body["index"] = json!(index);
    }
    if let Some(id) = error.event_id() {
        body["id"] = json!(id);
    }
    if let Some(attribute) = error.attribute() {
        body["attribute"] = json!(attribute);
    }
    if let IngestError::Schema { source, .. } = error {
        add_schema_members(&mut body, source);
    }
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
    if status == StatusCode::UNAUTHORIZED {
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"herald-ingest\""),
        );
        if accepts_basic {
            headers.append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"herald-ingest\""),
            );
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    response
}

/// The subject of a schema failure and, for a payload that breaks its schema, the
/// violations (field, rule and a message that never quotes the payload).
fn add_schema_members(body: &mut Value, error: &SchemaError) {
    match error {
        SchemaError::InvalidPayload(invalid) => {
            body["subject"] = json!(invalid.subject);
            body["violations"] = invalid
                .violations
                .iter()
                .map(|violation| {
                    json!({
                        "field": violation.field,
                        "rule": violation.rule,
                        "message": violation.message,
                    })
                })
                .collect();
        }
        SchemaError::NotJson { subject, .. }
        | SchemaError::NotRegistered { subject, .. }
        | SchemaError::ForeignDataschema { subject, .. }
        | SchemaError::RegistryUnavailable { subject, .. }
        | SchemaError::Refused { subject, .. }
        | SchemaError::Uncompilable { subject, .. } => body["subject"] = json!(subject),
        _ => {}
    }
}
