//! The REST API of Confluent Schema Registry, served at the root path.
//!
//! Bodies are `application/vnd.schemaregistry.v1+json`; errors are Confluent's
//! `{"error_code": …, "message": …}`. Requests that change state need credentials, in
//! either form Confluent clients send: HTTP Basic user info or a Bearer token.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use herald_http::{Api, Credentials};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{RegistryError, SchemaStore, VersionRef};

/// The registry's media type.
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Clone)]
struct AppState {
    store: SchemaStore,
}

/// The API over `store`. Schemas and configuration are open to read, as Confluent's are
/// without an authentication extension; a lookup or a compatibility check (a `POST`, which
/// costs a comparison) needs a read token; changes need full `credentials`.
pub fn router(store: SchemaStore, credentials: &Credentials) -> Api {
    Api::new(credentials, unauthorized)
        .open("/subjects", get(list_subjects))
        .read("/subjects/{subject}", post(lookup))
        .write("/subjects/{subject}", delete(delete_subject))
        .open("/subjects/{subject}/versions", get(list_versions))
        .write("/subjects/{subject}/versions", post(register))
        .open("/subjects/{subject}/versions/{version}", get(get_version))
        .open("/subjects/{subject}/versions/{version}/schema", get(get_raw_schema))
        .open("/schemas/ids/{id}", get(get_schema))
        .read("/compatibility/subjects/{subject}/versions/{version}", post(check_compatibility))
        .open("/config", get(get_global_config))
        .write("/config", put(put_global_config))
        .open("/config/{subject}", get(get_subject_config))
        .write("/config/{subject}", put(put_subject_config))
        .with_state(AppState { store })
}

/// A response in the registry's media type.
fn reply(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// A Confluent error body.
fn fail(status: u16, error_code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    reply(status, &json!({ "error_code": error_code, "message": message }))
}

/// A query string, refused in the registry's error format (400) when it does not parse.
struct QueryParams<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(query)) => Ok(QueryParams(query)),
            Err(rejection) => Err(fail(400, 400, &rejection.body_text())),
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        if let RegistryError::Database(error) = &self {
            // The database's own text stays in the log: it can name tables, columns and
            // values, and tells a client nothing it can act on.
            tracing::warn!(%error, "Registry database error.");
            return fail(self.http_status(), self.error_code(), "Error in the backend datastore");
        }
        fail(self.http_status(), self.error_code(), &self.to_string())
    }
}

fn unauthorized() -> Response {
    let mut response =
        fail(401, 40101, "Unauthorized: send HTTP Basic credentials or a Bearer token");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"herald\", Bearer"),
    );
    response
}

/// The body of a registration or lookup.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaRequest {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
}

fn parse_request(body: &Bytes) -> Result<SchemaRequest, RegistryError> {
    serde_json::from_slice(body).map_err(|error| RegistryError::InvalidSchema {
        reason: format!(
            "the request body must be {{\"schema\": \"…\", \"schemaType\": \"JSON\"}}: {error}"
        ),
    })
}

fn schema_body(schema: &crate::RegisteredSchema) -> serde_json::Value {
    json!({
        "subject": schema.subject,
        "version": schema.version,
        "id": schema.id,
        "schemaType": schema.schema_type,
        "schema": schema.schema,
    })
}

async fn list_subjects(State(state): State<AppState>) -> Response {
    match state.store.subjects().await {
        Ok(subjects) => reply(StatusCode::OK, &json!(subjects)),
        Err(error) => error.into_response(),
    }
}

async fn list_versions(State(state): State<AppState>, Path(subject): Path<String>) -> Response {
    match state.store.history(&subject).await {
        Ok(history) => {
            reply(StatusCode::OK, &json!(history.iter().map(|s| s.version).collect::<Vec<_>>()))
        }
        Err(error) => error.into_response(),
    }
}

async fn register(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Response {
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let schema_type = request.schema_type.as_deref().unwrap_or(DEFAULT_SCHEMA_TYPE);
    match state.store.register_checked(&subject, schema_type, &request.schema).await {
        Ok(registered) => reply(StatusCode::OK, &json!({ "id": registered.id })),
        Err(error) => error.into_response(),
    }
}

async fn lookup(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Response {
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let schema_type = request.schema_type.as_deref().unwrap_or(DEFAULT_SCHEMA_TYPE);
    if let Err(error) = state.store.history(&subject).await {
        return error.into_response();
    }
    match state.store.lookup(&subject, schema_type, &request.schema).await {
        Ok(found) => reply(StatusCode::OK, &schema_body(&found)),
        Err(error) => error.into_response(),
    }
}

/// The version a path names.
async fn find_version(
    state: &AppState,
    subject: &str,
    version: &str,
) -> Result<crate::RegisteredSchema, RegistryError> {
    state.store.version(subject, version.parse::<VersionRef>()?).await
}

async fn get_version(
    State(state): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    match find_version(&state, &subject, &version).await {
        Ok(found) => reply(StatusCode::OK, &schema_body(&found)),
        Err(error) => error.into_response(),
    }
}

async fn get_raw_schema(
    State(state): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    match find_version(&state, &subject, &version).await {
        Ok(found) => {
            let value: serde_json::Value = serde_json::from_str(&found.schema).unwrap_or_default();
            reply(StatusCode::OK, &value)
        }
        Err(error) => error.into_response(),
    }
}

async fn get_schema(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return fail(404, 40403, &format!("Schema {id} not found"));
    };
    match state.store.schema_by_id(id).await {
        Ok((schema_type, schema)) => {
            reply(StatusCode::OK, &json!({ "schema": schema, "schemaType": schema_type }))
        }
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default, deserialize_with = "herald_http::query::boolean")]
    permanent: bool,
}

async fn delete_subject(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    QueryParams(query): QueryParams<DeleteQuery>,
) -> Response {
    match state.store.delete_subject(&subject, query.permanent).await {
        Ok(versions) => reply(StatusCode::OK, &json!(versions)),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
struct CompatibilityQuery {
    #[serde(default, deserialize_with = "herald_http::query::boolean")]
    verbose: bool,
}

async fn check_compatibility(
    State(state): State<AppState>,
    Path((subject, version)): Path<(String, String)>,
    QueryParams(query): QueryParams<CompatibilityQuery>,
    body: Bytes,
) -> Response {
    let version = match version.parse::<VersionRef>() {
        Ok(version) => version,
        Err(error) => return error.into_response(),
    };
    let request = match parse_request(&body) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let schema_type = request.schema_type.as_deref().unwrap_or(DEFAULT_SCHEMA_TYPE);
    match state.store.incompatibilities(&subject, schema_type, &request.schema, version).await {
        Ok(messages) if query.verbose => reply(
            StatusCode::OK,
            &json!({ "is_compatible": messages.is_empty(), "messages": messages }),
        ),
        Ok(messages) => reply(StatusCode::OK, &json!({ "is_compatible": messages.is_empty() })),
        Err(error) => error.into_response(),
    }
}

/// The type of a schema registered without `schemaType`: AVRO, as in Confluent Schema
/// Registry (its Avro clients send none; JSON Schema clients always say `JSON`).
const DEFAULT_SCHEMA_TYPE: &str = "AVRO";

/// The default level when none is set, as in Confluent Schema Registry.
const DEFAULT_LEVEL: &str = "BACKWARD";

async fn get_global_config(State(state): State<AppState>) -> Response {
    match state.store.compatibility(None).await {
        Ok(level) => reply(
            StatusCode::OK,
            &json!({ "compatibilityLevel": level.as_deref().unwrap_or(DEFAULT_LEVEL) }),
        ),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
struct ConfigQuery {
    #[serde(rename = "defaultToGlobal", default, deserialize_with = "herald_http::query::boolean")]
    default_to_global: bool,
}

async fn get_subject_config(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    QueryParams(query): QueryParams<ConfigQuery>,
) -> Response {
    match state.store.compatibility(Some(&subject)).await {
        Ok(Some(level)) => reply(StatusCode::OK, &json!({ "compatibilityLevel": level })),
        Ok(None) if query.default_to_global => get_global_config(State(state)).await,
        Ok(None) => fail(
            404,
            40408,
            &format!("Subject '{subject}' does not have subject-level compatibility configured"),
        ),
        Err(error) => error.into_response(),
    }
}

#[derive(Deserialize)]
struct ConfigRequest {
    compatibility: String,
}

async fn put_config(state: &AppState, subject: Option<&str>, body: &Bytes) -> Response {
    let request: ConfigRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            return fail(
                422,
                42203,
                &format!(
                    "Invalid request body: expected {{\"compatibility\": \"BACKWARD\"}}: {error}"
                ),
            );
        }
    };
    match state.store.set_compatibility(subject, &request.compatibility).await {
        Ok(()) => reply(StatusCode::OK, &json!({ "compatibility": request.compatibility })),
        Err(error) => error.into_response(),
    }
}

async fn put_global_config(State(state): State<AppState>, body: Bytes) -> Response {
    put_config(&state, None, &body).await
}

async fn put_subject_config(
    State(state): State<AppState>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Response {
    put_config(&state, Some(&subject), &body).await
}
