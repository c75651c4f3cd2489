//! The Confluent-compatible REST API over real HTTP, on PostgreSQL and SQLite: every
//! endpoint, every error path with Confluent's codes, and credentials for changes.

use herald_http::Credentials;
use herald_registry::SchemaStore;
use herald_registry::api::{CONTENT_TYPE, router};
use herald_testkit::TestDb;
use serde_json::{Value, json};

const SCHEMA: &str = r#"{"type":"object","properties":{"id":{"type":"integer"}}}"#;

struct Registry {
    base: String,
    http: reqwest::Client,
}

impl Registry {
    async fn start(db: &TestDb) -> Registry {
        let credentials = Credentials {
            read_tokens: vec!["r3ad-only".into()],
            ..Credentials::token_or_basic(
                Some("t0ken".into()),
                Some(("ci".into(), "s3cret".into())),
            )
        };
        let app = router(SchemaStore::new(db.db.clone()), &credentials).into_router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Registry { base, http: reqwest::Client::new() }
    }

    /// Sends a request; returns the status and the JSON body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        auth: Option<&str>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", CONTENT_TYPE).body(body.to_string());
        }
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE), "{path}");
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

const BEARER: Option<&str> = Some("Bearer t0ken");
/// `ci:s3cret` in base64.
const BASIC: Option<&str> = Some("Basic Y2k6czNjcmV0");
/// A read-only token: lookups and compatibility checks, never a change.
const READER: Option<&str> = Some("Bearer r3ad-only");

async fn the_api_serves_subjects_versions_ids_and_config(db: &TestDb) {
    let registry = Registry::start(db).await;
    let body = json!({ "schemaType": "JSON", "schema": SCHEMA });
    let (status, registered) =
        registry.call("POST", "/subjects/orders-value/versions", Some(body.clone()), BEARER).await;
    assert_eq!(status, 200, "{registered}");
    let id = registered["id"].as_i64().expect("an id");
    let (_, again) = registry
        .call(
            "POST",
            "/subjects/orders-value/versions",
            Some(json!({ "schemaType": "JSON", "schema": SCHEMA })),
            BASIC,
        )
        .await;
    assert_eq!(again["id"], id, "idempotent, and Basic credentials work too");
    assert_eq!(registry.call("GET", "/subjects", None, None).await, (200, json!(["orders-value"])));
    assert_eq!(
        registry.call("GET", "/subjects/orders-value/versions", None, None).await,
        (200, json!([1]))
    );
    let (status, latest) =
        registry.call("GET", "/subjects/orders-value/versions/latest", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (latest["version"].clone(), latest["id"].clone(), latest["schemaType"].clone()),
        (json!(1), json!(id), json!("JSON"))
    );
    let (_, raw) =
        registry.call("GET", "/subjects/orders-value/versions/1/schema", None, None).await;
    assert_eq!(raw, serde_json::from_str::<Value>(SCHEMA).expect("json"));
    let (_, by_id) = registry.call("GET", &format!("/schemas/ids/{id}"), None, None).await;
    assert_eq!(
        serde_json::from_str::<Value>(by_id["schema"].as_str().expect("text")).expect("json"),
        raw
    );
    let (status, found) = registry.call("POST", "/subjects/orders-value", Some(body), READER).await;
    assert_eq!((status, found["version"].clone()), (200, json!(1)));
    assert_eq!(
        registry.call("GET", "/config", None, None).await,
        (200, json!({ "compatibilityLevel": "BACKWARD" }))
    );
    let (status, _) =
        registry.call("PUT", "/config", Some(json!({ "compatibility": "FULL" })), BEARER).await;
    assert_eq!(status, 200);
    assert_eq!(
        registry.call("GET", "/config", None, None).await.1,
        json!({ "compatibilityLevel": "FULL" })
    );
    registry
        .call("PUT", "/config/orders-value", Some(json!({ "compatibility": "NONE" })), BEARER)
        .await;
    assert_eq!(
        registry.call("GET", "/config/orders-value", None, None).await.1,
        json!({ "compatibilityLevel": "NONE" })
    );
    assert_eq!(
        registry.call("DELETE", "/subjects/orders-value", None, BEARER).await,
        (200, json!([1]))
    );
    assert_eq!(
        registry.call("DELETE", "/subjects/orders-value?permanent=true", None, BEARER).await,
        (200, json!([1]))
    );
    assert_eq!(registry.call("GET", "/subjects", None, None).await, (200, json!([])));
}

async fn every_error_path_answers_with_confluents_codes(db: &TestDb) {
    let registry = Registry::start(db).await;
    let body = json!({ "schemaType": "JSON", "schema": SCHEMA });
    let code = |(status, body): (u16, Value)| (status, body["error_code"].as_u64().unwrap_or(0));
    assert_eq!(
        code(registry.call("POST", "/subjects/s/versions", Some(body.clone()), None).await),
        (401, 40101)
    );
    assert_eq!(
        code(registry.call("POST", "/subjects/s/versions", Some(body.clone()), READER).await),
        (401, 40101),
        "a read token cannot register"
    );
    for read in ["/subjects/s", "/compatibility/subjects/s/versions/latest"] {
        assert_eq!(
            code(registry.call("POST", read, Some(body.clone()), None).await),
            (401, 40101),
            "{read} runs the schema parser and the comparison: it needs a token"
        );
    }
    assert_eq!(
        code(
            registry
                .call("POST", "/subjects/s/versions", Some(body.clone()), Some("Bearer wrong"))
                .await
        ),
        (401, 40101)
    );
    assert_eq!(
        code(
            registry
                .call(
                    "POST",
                    "/subjects/s/versions",
                    Some(body.clone()),
                    Some("Basic Y2k6bm9wZQ==")
                )
                .await
        ),
        (401, 40101)
    );
    assert_eq!(
        registry.call("GET", "/subjects", None, None).await.1,
        json!([]),
        "refused changes changed nothing"
    );
    registry.call("POST", "/subjects/s/versions", Some(body.clone()), BEARER).await;
    assert_eq!(
        code(registry.call("GET", "/subjects/nope/versions", None, None).await),
        (404, 40401)
    );
    assert_eq!(
        code(registry.call("GET", "/subjects/nope/versions/1", None, None).await),
        (404, 40401)
    );
    assert_eq!(
        code(registry.call("GET", "/subjects/s/versions/9", None, None).await),
        (404, 40402)
    );
    assert_eq!(
        code(registry.call("GET", "/subjects/s/versions/zero", None, None).await),
        (422, 42202)
    );
    assert_eq!(code(registry.call("GET", "/schemas/ids/424242", None, None).await), (404, 40403));
    assert_eq!(
        code(registry.call("POST", "/subjects/nope", Some(body.clone()), READER).await),
        (404, 40401)
    );
    let other = json!({ "schemaType": "JSON", "schema": r#"{"type":"string"}"# });
    assert_eq!(code(registry.call("POST", "/subjects/s", Some(other), READER).await), (404, 40403));
    let (status, invalid) = registry
        .call(
            "POST",
            "/subjects/s/versions",
            Some(json!({ "schemaType": "JSON", "schema": "{not json" })),
            BEARER,
        )
        .await;
    assert_eq!((status, invalid["error_code"].clone()), (422, json!(42201)));
    assert!(invalid["message"].as_str().is_some_and(|m| m.contains("not JSON")), "{invalid}");
    assert_eq!(
        code(
            registry.call("POST", "/subjects/s/versions", Some(json!({ "nope": 1 })), BEARER).await
        ),
        (422, 42201)
    );
    assert_eq!(
        code(
            registry
                .call("PUT", "/config", Some(json!({ "compatibility": "SOMETIMES" })), BEARER)
                .await
        ),
        (422, 42203)
    );
    assert_eq!(code(registry.call("GET", "/config/s", None, None).await), (404, 40408));
    assert_eq!(code(registry.call("DELETE", "/subjects/nope", None, BEARER).await), (404, 40401));
    assert_eq!(
        registry.call("GET", "/subjects/s/versions", None, None).await.1,
        json!([1]),
        "still one version"
    );
}

async fn incompatible_schemas_are_refused_with_the_reasons(db: &TestDb) {
    let registry = Registry::start(db).await;
    let v1 = json!({ "schemaType": "JSON", "schema": SCHEMA });
    registry.call("POST", "/subjects/users-value/versions", Some(v1), BEARER).await;
    let breaking = json!({ "schemaType": "JSON", "schema": r#"{"type":"object","properties":{"id":{"type":"integer"},"email":{"type":"string"}},"required":["email"]}"# });
    let (status, verdict) = registry
        .call(
            "POST",
            "/compatibility/subjects/users-value/versions/latest?verbose=true",
            Some(breaking.clone()),
            READER,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["is_compatible"], false, "{verdict}");
    let messages = verdict["messages"].to_string();
    assert!(
        messages.contains("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
            && messages.contains("#/properties/email"),
        "{messages}"
    );
    // Confluent's Python client writes Python's booleans: `?verbose=True`.
    let (status, python) = registry
        .call(
            "POST",
            "/compatibility/subjects/users-value/versions/latest?verbose=True",
            Some(breaking.clone()),
            READER,
        )
        .await;
    assert_eq!((status, &python), (200, &verdict), "verbose=True reads as verbose=true");
    let (status, refused) = registry
        .call(
            "POST",
            "/compatibility/subjects/users-value/versions/latest?verbose=maybe",
            Some(breaking.clone()),
            READER,
        )
        .await;
    assert_eq!((status, refused["error_code"].clone()), (400, json!(400)), "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("verbose") && message.contains("`maybe`"), "{refused}");
    let (status, refused) = registry
        .call("POST", "/subjects/users-value/versions", Some(breaking.clone()), BEARER)
        .await;
    assert_eq!((status, refused["error_code"].clone()), (409, json!(409)), "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"))
    );
    assert_eq!(
        registry.call("GET", "/subjects/users-value/versions", None, None).await.1,
        json!([1])
    );

    let widened = json!({ "schemaType": "JSON", "schema": r#"{"type":"object","properties":{"id":{"type":"number"}}}"# });
    let (_, verdict) = registry
        .call(
            "POST",
            "/compatibility/subjects/users-value/versions/1",
            Some(widened.clone()),
            READER,
        )
        .await;
    assert_eq!(verdict, json!({ "is_compatible": true }));
    assert_eq!(
        registry.call("POST", "/subjects/users-value/versions", Some(widened), BEARER).await.0,
        200
    );

    registry
        .call("PUT", "/config/users-value", Some(json!({ "compatibility": "NONE" })), BEARER)
        .await;
    assert_eq!(
        registry
            .call("POST", "/subjects/users-value/versions", Some(breaking.clone()), BEARER)
            .await
            .0,
        200,
        "NONE accepts anything"
    );
    assert_eq!(
        registry.call("GET", "/subjects/users-value/versions", None, None).await.1,
        json!([1, 2, 3])
    );
    let code = |(status, body): (u16, Value)| (status, body["error_code"].as_u64().unwrap_or(0));
    assert_eq!(
        code(
            registry
                .call(
                    "POST",
                    "/compatibility/subjects/nope/versions/1",
                    Some(breaking.clone()),
                    READER
                )
                .await
        ),
        (404, 40401)
    );
    assert_eq!(
        code(
            registry
                .call(
                    "POST",
                    "/compatibility/subjects/users-value/versions/9",
                    Some(breaking.clone()),
                    READER
                )
                .await
        ),
        (404, 40402)
    );
    let (_, first) = registry
        .call("POST", "/compatibility/subjects/nope/versions/latest", Some(breaking), READER)
        .await;
    assert_eq!(first, json!({ "is_compatible": true }), "a new subject accepts its first schema");
}

/// As in Confluent Schema Registry, a schema sent without `schemaType` is AVRO (what
/// Avro clients send): stored and served back as AVRO, checked with Avro's rules.
async fn a_schema_without_a_type_is_avro(db: &TestDb) {
    let registry = Registry::start(db).await;
    let record = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}"#;
    let (status, _) = registry
        .call("POST", "/subjects/avro-value/versions", Some(json!({ "schema": record })), BEARER)
        .await;
    assert_eq!(status, 200);
    let (_, latest) =
        registry.call("GET", "/subjects/avro-value/versions/latest", None, None).await;
    assert_eq!(latest["schemaType"], "AVRO", "{latest}");
    let retyped = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
    let (status, refused) = registry
        .call("POST", "/subjects/avro-value/versions", Some(json!({ "schema": retyped })), BEARER)
        .await;
    assert_eq!((status, refused["error_code"].clone()), (409, json!(409)), "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("errorType:TYPE_MISMATCH")
            && message.contains("path:/id")
            && message.contains("long cannot be read as the reader's string"),
        "{refused}"
    );
    let (status, _) = registry
        .call(
            "POST",
            "/subjects/avro-value",
            Some(json!({ "schemaType": "JSON", "schema": record })),
            READER,
        )
        .await;
    assert_eq!(status, 404, "the same text as a JSON Schema is another schema");
}

/// Avro over the API: invalid schemas refused with 42201, the same schema written another
/// way keeps its id, and `verbose=true` says why a change is incompatible.
async fn avro_schemas_are_parsed_checked_and_explained(db: &TestDb) {
    let registry = Registry::start(db).await;
    let avro = |schema: &str| json!({ "schemaType": "AVRO", "schema": schema });
    let (status, invalid) = registry
        .call(
            "POST",
            "/subjects/users-value/versions",
            Some(avro(r#"{"type":"record","name":"User","fields":[{"name":"id"}]}"#)),
            BEARER,
        )
        .await;
    assert_eq!((status, invalid["error_code"].clone()), (422, json!(42201)), "{invalid}");
    let message = invalid["message"].as_str().unwrap_or_default();
    assert!(message.contains("Invalid schema") && message.contains("Avro"), "{invalid}");
    let v1 = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"int"}]}"#;
    let (_, first) =
        registry.call("POST", "/subjects/users-value/versions", Some(avro(v1)), BEARER).await;
    let spaced = r#"{"name": "User", "type": "record",
        "fields": [{"type": "int", "name": "id"}]}"#;
    let (status, again) =
        registry.call("POST", "/subjects/users-value/versions", Some(avro(spaced)), BEARER).await;
    assert_eq!((status, &again["id"]), (200, &first["id"]), "{again}");
    assert_eq!(
        registry.call("GET", "/subjects/users-value/versions", None, None).await.1,
        json!([1])
    );
    let no_default = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"int"},{"name":"email","type":"string"}]}"#;
    let path = "/compatibility/subjects/users-value/versions/latest?verbose=true";
    let (status, verdict) = registry.call("POST", path, Some(avro(no_default)), READER).await;
    assert_eq!(status, 200);
    assert_eq!(verdict["is_compatible"], false, "{verdict}");
    let messages = verdict["messages"].to_string();
    assert!(
        messages.contains("READER_FIELD_MISSING_DEFAULT_VALUE") && messages.contains("'email'"),
        "{messages}"
    );
    let with_default = r#"{"type":"record","name":"User","fields":[{"name":"id","type":"long"},{"name":"email","type":"string","default":""}]}"#;
    let (_, verdict) = registry.call("POST", path, Some(avro(with_default)), READER).await;
    assert_eq!(verdict, json!({ "is_compatible": true, "messages": [] }));
    let (status, _) = registry
        .call("POST", "/subjects/users-value/versions", Some(avro(with_default)), BEARER)
        .await;
    assert_eq!(status, 200);
    registry
        .call("PUT", "/config/users-value", Some(json!({ "compatibility": "FORWARD" })), BEARER)
        .await;
    let (_, verdict) = registry
        .call(
            "POST",
            "/compatibility/subjects/users-value/versions/1?verbose=true",
            Some(avro(with_default)),
            READER,
        )
        .await;
    assert_eq!(verdict["is_compatible"], false, "int reads no long: {verdict}");
    assert!(verdict["messages"].to_string().contains("version:1"), "{verdict}");
}

macro_rules! on_both_databases {
    ($($case:ident),+) => {
        mod postgres { use super::*; $( #[tokio::test] async fn $case() { let db = TestDb::postgres("registry_api").await; super::$case(&db).await; db.cleanup().await; } )+ }
        mod sqlite { use super::*; $( #[tokio::test] async fn $case() { let db = TestDb::sqlite("registry_api").await; super::$case(&db).await; db.cleanup().await; } )+ }
    };
}

on_both_databases!(
    the_api_serves_subjects_versions_ids_and_config,
    every_error_path_answers_with_confluents_codes,
    incompatible_schemas_are_refused_with_the_reasons,
    a_schema_without_a_type_is_avro,
    avro_schemas_are_parsed_checked_and_explained
);
