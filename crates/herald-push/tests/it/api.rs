//! The admin API, through `tower::ServiceExt::oneshot`, on both databases.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use herald_db::Database;
use herald_http::Credentials;
use herald_push::{SubscriptionStore, SubscriptionStoreConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const TOKEN: &str = "test-token-0123456789";
const READ_TOKEN: &str = "test-read-token-0123456789";

fn app(db: &Database) -> Router {
    router(store(db), &credentials()).unwrap().into_router()
}

fn credentials() -> Credentials {
    Credentials { read_tokens: vec![READ_TOKEN.into()], ..Credentials::bearer(TOKEN) }
}

/// A store that disables an endpoint at its first failure.
fn store(db: &Database) -> SubscriptionStore {
    let config = SubscriptionStoreConfig { disable_after: 1, ..Default::default() };
    SubscriptionStore::new(db.clone(), config).unwrap()
}

/// An answer: its status, headers and JSON body (`Null` when empty).
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

/// Sends one request; `token` adds `Authorization: Bearer <token>`, `body` a JSON body.
async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(Body::from(body.unwrap_or_default().to_owned())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    Answer { status, headers, json }
}

fn create_body(service: &str, pattern: &str, endpoint: &str) -> String {
    json!({ "service": service, "pattern": pattern, "endpoint": endpoint }).to_string()
}

/// Checks an error answer: its status, the JSON error naming `field`, and a message.
fn assert_error(answer: &Answer, status: StatusCode, field: Option<&str>) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["field"].as_str(), field, "{}", answer.json);
    assert!(!answer.json["error"].as_str().unwrap_or_default().is_empty(), "{}", answer.json);
}

pub(crate) async fn state_changing_requests_need_the_bearer_token(db: &Database) {
    let app = app(db);
    let body = create_body("billing", "#", "https://b.example/hook");
    for token in [None, Some("wrong-token"), Some(""), Some("test-token-012345678")] {
        let answer = send(&app, Method::POST, "/api/subscriptions", token, Some(&body)).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, Some("authorization"));
        assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    let unauthenticated_bad_json =
        send(&app, Method::POST, "/api/subscriptions", None, Some("{")).await;
    assert_error(&unauthenticated_bad_json, StatusCode::UNAUTHORIZED, Some("authorization"));
    let anonymous = send(&app, Method::GET, "/api/subscriptions", None, None).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, Some("authorization"));
    let listed = send(&app, Method::GET, "/api/subscriptions", Some(READ_TOKEN), None).await;
    assert_eq!(listed.json, json!({ "subscriptions": [] }));
    let by_reader = send(&app, Method::POST, "/api/subscriptions", Some(READ_TOKEN), Some(&body));
    assert_error(&by_reader.await, StatusCode::UNAUTHORIZED, Some("authorization"));

    let created = send(&app, Method::POST, "/api/subscriptions", Some(TOKEN), Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let path = format!("/api/subscriptions/{}", created.json["id"].as_str().unwrap());
    for uri in [path.clone(), format!("{path}/enable"), format!("{path}/rotate-secret")] {
        let method = if uri == path { Method::DELETE } else { Method::POST };
        let answer = send(&app, method, &uri, Some("nope"), None).await;
        assert_error(&answer, StatusCode::UNAUTHORIZED, Some("authorization"));
    }
    let shown_anonymously = send(&app, Method::GET, &path, None, None).await;
    assert_error(&shown_anonymously, StatusCode::UNAUTHORIZED, Some("authorization"));
    assert_eq!(send(&app, Method::GET, &path, Some(READ_TOKEN), None).await.status, StatusCode::OK);

    let lowercase_scheme = Request::builder()
        .method(Method::DELETE)
        .uri(&path)
        .header(header::AUTHORIZATION, format!("bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let deleted = app.clone().oneshot(lowercase_scheme).await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(
        router(
            SubscriptionStore::new(db.clone(), Default::default()).unwrap(),
            &Credentials::bearer("")
        )
        .is_err()
    );
}

pub(crate) async fn bad_input_gets_a_json_error_naming_the_field(db: &Database) {
    let app = app(db);
    let post = |body: String| {
        let app = app.clone();
        async move { send(&app, Method::POST, "/api/subscriptions", Some(TOKEN), Some(&body)).await }
    };
    let cases = [
        (create_body("Billing", "#", "https://b.example/"), StatusCode::UNPROCESSABLE_ENTITY, "service"),
        (create_body("billing", "a..b", "https://b.example/"), StatusCode::UNPROCESSABLE_ENTITY, "pattern"),
        (create_body("billing", "#", "not a url"), StatusCode::UNPROCESSABLE_ENTITY, "endpoint"),
        (
            json!({ "service": "billing", "pattern": "#", "endpoint": "https://b.example/", "secret": "nope" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret",
        ),
        (json!({ "service": "billing" }).to_string(), StatusCode::UNPROCESSABLE_ENTITY, "body"),
        (
            json!({ "service": "billing", "pattern": "#", "endpoint": "https://b.example/", "colour": "red" }).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "body",
        ),
        ("{not json".to_owned(), StatusCode::BAD_REQUEST, "body"),
    ];
    for (body, status, field) in cases {
        assert_error(&post(body).await, status, Some(field));
    }
    let invalid_pattern = post(create_body("billing", "a..b", "https://b.example/")).await;
    let message = invalid_pattern.json["error"].as_str().unwrap();
    assert!(message.contains("a..b") && message.contains("expected"), "{message}");

    let no_content_type = Request::builder()
        .method(Method::POST)
        .uri("/api/subscriptions")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(create_body("billing", "#", "https://b.example/")))
        .unwrap();
    let answer = app.clone().oneshot(no_content_type).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let bad_id = send(&app, Method::GET, "/api/subscriptions/not-a-uuid", Some(TOKEN), None).await;
    assert_error(&bad_id, StatusCode::BAD_REQUEST, Some("id"));
    let unknown = "/api/subscriptions/0190f6a4-7d3e-7cc0-8a4e-7b0a1c2d3e4f";
    assert_error(
        &send(&app, Method::GET, unknown, Some(TOKEN), None).await,
        StatusCode::NOT_FOUND,
        None,
    );
    let delete_unknown = send(&app, Method::DELETE, unknown, Some(TOKEN), None).await;
    assert_error(&delete_unknown, StatusCode::NOT_FOUND, None);
    let bad_service =
        send(&app, Method::GET, "/api/subscriptions?service=No!", Some(TOKEN), None).await;
    assert_error(&bad_service, StatusCode::UNPROCESSABLE_ENTITY, Some("service"));
    let typo =
        send(&app, Method::GET, "/api/subscriptions?servce=billing", Some(TOKEN), None).await;
    assert_error(&typo, StatusCode::BAD_REQUEST, Some("query"));

    let body = create_body("billing", "#", "https://b.example/");
    assert_eq!(post(body.clone()).await.status, StatusCode::CREATED);
    assert_error(&post(body).await, StatusCode::CONFLICT, None);
    let listed = send(&app, Method::GET, "/api/subscriptions", Some(TOKEN), None).await;
    assert_eq!(listed.json["subscriptions"].as_array().unwrap().len(), 1);
}

pub(crate) async fn subscriptions_are_created_listed_shown_rotated_enabled_and_deleted(
    db: &Database,
) {
    let app = app(db);
    let body = create_body("billing", "integration.orders.#", "https://b.example/hook");
    let created = send(&app, Method::POST, "/api/subscriptions", Some(TOKEN), Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let path = format!("/api/subscriptions/{id}");
    assert_eq!(created.headers[header::LOCATION], path.as_str());
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    let secret = created.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created.json["service"], "billing");
    assert_eq!(created.json["pattern"], "integration.orders.#");
    assert_eq!(created.json["endpoint"], "https://b.example/hook");
    assert_eq!(created.json["consecutive_failures"], 0);
    assert_eq!(created.json["disabled_at"], Value::Null);

    let other = create_body("shipping", "#", "https://s.example/hook");
    send(&app, Method::POST, "/api/subscriptions", Some(TOKEN), Some(&other)).await;
    let all = send(&app, Method::GET, "/api/subscriptions", Some(TOKEN), None).await;
    assert_eq!(all.json["subscriptions"].as_array().unwrap().len(), 2);
    assert!(!all.json.to_string().contains("whsec_"), "{}", all.json);
    let billing =
        send(&app, Method::GET, "/api/subscriptions?service=billing", Some(TOKEN), None).await;
    let listed = billing.json["subscriptions"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());

    let shown = send(&app, Method::GET, &path, Some(TOKEN), None).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json["id"], id.as_str());
    assert!(shown.json.get("secret").is_none(), "{}", shown.json);

    let rotate = format!("{path}/rotate-secret");
    let rotated = send(&app, Method::POST, &rotate, Some(TOKEN), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.json);
    let new_secret = rotated.json["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated.json["previous_secret_expires_at"].is_string(), "{}", rotated.json);

    let uuid = id.parse().unwrap();
    assert!(store(db).record_failure(uuid, "503 from the endpoint").await.unwrap());
    let disabled = send(&app, Method::GET, &path, Some(TOKEN), None).await;
    assert!(disabled.json["disabled_at"].is_string(), "{}", disabled.json);
    assert_eq!(disabled.json["consecutive_failures"], 1);
    assert_eq!(disabled.json["last_error"], "503 from the endpoint");
    let enabled = send(&app, Method::POST, &format!("{path}/enable"), Some(TOKEN), None).await;
    assert_eq!(enabled.status, StatusCode::OK);
    assert_eq!(enabled.json["disabled_at"], Value::Null);
    assert_eq!(enabled.json["consecutive_failures"], 0);

    let deleted = send(&app, Method::DELETE, &path, Some(TOKEN), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.json, Value::Null);
    assert_eq!(
        send(&app, Method::GET, &path, Some(TOKEN), None).await.status,
        StatusCode::NOT_FOUND
    );
}
