//! `POST /events` over real HTTP, on PostgreSQL and SQLite: the three content modes land
//! in the outbox with their `dataschema`, and every refusal has its exact status, a
//! detail naming the attribute or field, and no row written.

use std::sync::Arc;

use herald_envelope::{Data, Envelope, EventId, Limits};
use herald_http::Credentials;
use herald_ingest::{
    BATCH_CONTENT_TYPE, Ingest, PROBLEM_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, router,
};
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_registry::SchemaStore;
use herald_schema::{LocalRegistry, Registration, RegistryClient, Schemas};
use herald_testkit::TestDb;
use serde_json::{Value, json};

/// The subject of `orders.order_placed`, schema version 1.
const SUBJECT: &str = "orders.order_placed.v1";
/// Its schema: an order id and a quantity of at least 1, both required.
const SCHEMA: &str = r#"{
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1}
    },
    "required": ["order_id", "quantity"]
}"#;
/// Where the registry of the test database is said to be served.
const REGISTRY_URL: &str = "http://127.0.0.1:8081";
/// The `dataschema` of the first version of [`SUBJECT`].
const DATASCHEMA: &str = "http://127.0.0.1:8081/subjects/orders.order_placed.v1/versions/1";

const TOKEN: &str = "1ngest-t0ken";
const BEARER: Option<&str> = Some("Bearer 1ngest-t0ken");
/// `producer:s3cret` in base64.
const BASIC: Option<&str> = Some("Basic cHJvZHVjZXI6czNjcmV0");

/// An ingest server on 127.0.0.1 over one test database.
struct Server {
    base: String,
    http: reqwest::Client,
    outbox: OutboxStore,
}

/// A response: the status, its `Content-Type`, the other headers asked about, the body.
struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    /// Asserts a problem response with `status` whose detail mentions every one of
    /// `mentions`, and returns the body.
    fn problem(&self, status: u16, mentions: &[&str]) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type, PROBLEM_CONTENT_TYPE, "{}", self.body);
        assert_eq!(self.body["status"], json!(status), "{}", self.body);
        assert!(self.body["title"].is_string(), "{}", self.body);
        assert!(
            self.body["type"].as_str().is_some_and(|kind| kind.starts_with("urn:herald:problem:")),
            "{}",
            self.body
        );
        let detail = self.body["detail"].as_str().unwrap_or_default();
        for mention in mentions {
            assert!(detail.contains(mention), "the detail should mention {mention:?}: {detail}");
        }
        &self.body
    }

    /// Asserts a 202 of `count` events and returns their ids.
    fn accepted(&self, count: usize) -> Vec<String> {
        assert_eq!(self.status, 202, "{}", self.body);
        assert_eq!(self.body["accepted"], json!(count), "{}", self.body);
        let ids: Vec<String> = self.body["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| id.as_str().expect("a string id").to_owned())
            .collect();
        assert_eq!(ids.len(), count);
        ids
    }
}

impl Server {
    /// A server with the schema of [`SUBJECT`] registered, a Bearer token and Basic
    /// credentials, and the default limits.
    async fn start(db: &TestDb) -> Server {
        Server::start_with(db, credentials(), local_schemas(db), |ingest| ingest).await
    }

    async fn start_with(
        db: &TestDb,
        credentials: Credentials,
        schemas: Schemas,
        configure: impl FnOnce(Ingest) -> Ingest,
    ) -> Server {
        SchemaStore::new(db.db.clone())
            .register(SUBJECT, "JSON", SCHEMA)
            .await
            .expect("register the test schema");
        let outbox = Outbox::new(OutboxConfig::default()).expect("the default outbox config");
        let ingest = configure(Ingest::new(db.db.clone(), Arc::new(schemas), outbox, credentials));
        let app = router(ingest).into_router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Server {
            base,
            http: reqwest::Client::new(),
            outbox: OutboxStore::new(db.db.clone(), Retention::default()),
        }
    }

    /// POSTs to `/events`.
    async fn post(
        &self,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
        auth: Option<&str>,
    ) -> Answer {
        let mut request = self.http.post(format!("{}/events", self.base)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|value| value.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, content_type, headers, body }
    }

    /// POSTs one event in structured mode.
    async fn structured(&self, event: &Value, auth: Option<&str>) -> Answer {
        self.post(Some(STRUCTURED_CONTENT_TYPE), &[], event.to_string(), auth).await
    }

    /// POSTs a batch.
    async fn batch(&self, events: &[Value]) -> Answer {
        self.post(Some(BATCH_CONTENT_TYPE), &[], json!(events).to_string(), BEARER).await
    }

    /// The events in the outbox, in id order.
    async fn stored(&self) -> Vec<Envelope> {
        let partitions: Vec<u32> = (0..OutboxConfig::default().partitions).collect();
        self.outbox
            .fetch_unsent(&partitions, 10_000)
            .await
            .expect("read the outbox")
            .iter()
            .map(|row| {
                let envelope =
                    Envelope::from_json(&row.payload, &Limits::default()).expect("a stored event");
                assert_eq!(row.partition_key, envelope.partition_key);
                assert_eq!(row.event_id, *envelope.id.as_uuid());
                envelope
            })
            .collect()
    }

    /// Asserts that the outbox is empty.
    async fn assert_nothing_stored(&self) {
        assert_eq!(self.stored().await.len(), 0, "nothing may be enqueued");
    }
}

fn credentials() -> Credentials {
    Credentials::token_or_basic(Some(TOKEN.into()), Some(("producer".into(), "s3cret".into())))
}

/// Schemas looked up in the registry tables of the test database.
fn local_schemas(db: &TestDb) -> Schemas {
    Schemas::new(
        LocalRegistry::new(SchemaStore::new(db.db.clone()), REGISTRY_URL),
        Registration::LookUp,
    )
}

/// An order's payload.
fn order(order_id: &str, quantity: i64) -> Value {
    json!({ "order_id": order_id, "quantity": quantity })
}

/// A structured-mode `orders.order_placed` event.
fn event(id: &EventId, partition_key: &str, data: &Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": id.to_string(),
        "source": "/shop/checkout",
        "type": "orders.order_placed",
        "time": "2024-07-01T12:00:00Z",
        "eventkind": "integration",
        "schemaversion": 1,
        "partitionkey": partition_key,
        "datacontenttype": "application/json",
        "data": data,
    })
}

/// The `ce-` headers of a binary-mode `orders.order_placed` event.
fn binary_headers(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ce-specversion", "1.0".into()),
        ("ce-id", id.into()),
        ("ce-source", "/shop/checkout".into()),
        ("ce-type", "orders.order_placed".into()),
        ("ce-time", "2024-07-01T12:00:00Z".into()),
        ("ce-eventkind", "integration".into()),
        ("ce-schemaversion", "1".into()),
        ("ce-partitionkey", "order%207".into()),
        ("ce-tenant", "caf%C3%A9".into()),
    ]
}

fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

/// The event's data as a JSON value.
fn data(envelope: &Envelope) -> Value {
    match &envelope.data {
        Some(Data::Json(raw)) => serde_json::from_str(raw.get()).expect("JSON data"),
        other => panic!("expected JSON data, found {other:?}"),
    }
}

async fn binary_mode_events_are_enqueued_with_their_dataschema(db: &TestDb) {
    let server = Server::start(db).await;
    let id = EventId::new().to_string();
    let headers = binary_headers(&id);
    let payload = order("o-7", 2);
    let answer = server
        .post(Some("application/json"), &borrowed(&headers), payload.to_string(), BEARER)
        .await;
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(answer.accepted(1), vec![id.clone()]);

    let stored = server.stored().await;
    assert_eq!(stored.len(), 1);
    let envelope = &stored[0];
    assert_eq!(envelope.id.to_string(), id);
    assert_eq!(envelope.event_type, "orders.order_placed");
    assert_eq!(envelope.partition_key, "order 7", "ce- values are percent-decoded");
    assert_eq!(envelope.schema_version, 1, "schemaversion is read from the header's text");
    assert_eq!(envelope.extensions["tenant"].to_string(), "café");
    assert_eq!(envelope.datacontenttype.as_deref(), Some("application/json"));
    assert_eq!(envelope.dataschema.as_deref(), Some(DATASCHEMA));
    assert_eq!(data(envelope), payload);
}

async fn structured_mode_events_are_enqueued_with_their_dataschema(db: &TestDb) {
    let server = Server::start(db).await;
    let id = EventId::new();
    let payload = order("o-1", 3);
    let answer = server.structured(&event(&id, "order-1", &payload), BEARER).await;
    assert_eq!(answer.accepted(1), vec![id.to_string()]);

    let stored = server.stored().await;
    assert_eq!(stored.len(), 1);
    let envelope = &stored[0];
    assert_eq!(envelope.id, id);
    assert_eq!(envelope.event_type, "orders.order_placed");
    assert_eq!(envelope.partition_key, "order-1");
    assert_eq!(envelope.dataschema.as_deref(), Some(DATASCHEMA));
    assert_eq!(envelope.routing_key(), "integration.orders.order_placed.v1");
    assert_eq!(data(envelope), payload);
}

/// An event as any CloudEvents SDK sends it: only `specversion`, `id` (not a UUID),
/// `source` and `type`, plus `subject` and data. Accepted; Herald's own attributes are
/// filled in and named in the answer; the same event sent again gets the same id.
async fn any_valid_cloudevent_is_accepted_with_herald_attributes_filled_in(db: &TestDb) {
    let server = Server::start(db).await;
    let sdk_event = json!({
        "specversion": "1.0",
        "id": "order-42",
        "source": "/sdk/shop",
        "type": "orders.order_placed",
        "subject": "order-42",
        "data": order("o-42", 2),
    });
    let answer = server.structured(&sdk_event, BEARER).await;
    let ids = answer.accepted(1);
    let expected_id = EventId::of_foreign("/sdk/shop", "order-42");
    assert_eq!(ids, vec![expected_id.to_string()]);
    let filled = &answer.body["defaulted"];
    assert_eq!(
        filled,
        &json!([{
            "index": 0,
            "sent_id": "order-42",
            "attributes": ["id", "time", "schemaversion", "eventkind", "partitionkey"]
        }]),
        "{}",
        answer.body
    );
    let again = server.structured(&sdk_event, BEARER).await;
    assert_eq!(again.accepted(1), ids, "source + id make the event: the same Herald id");

    let stored = server.stored().await;
    assert_eq!(stored.len(), 2);
    let envelope = &stored[0];
    assert_eq!(envelope.id, expected_id);
    assert_eq!(envelope.schema_version, 1);
    assert_eq!(envelope.kind.as_str(), "integration");
    assert_eq!(envelope.partition_key, "order-42", "the subject keys the event");
    assert_eq!(envelope.dataschema.as_deref(), Some(DATASCHEMA));
    let age = chrono::Utc::now() - envelope.time;
    assert!(age.num_seconds() < 60, "time is the time of receipt: {}", envelope.time);

    // In binary mode too, and a UUID id and a registry dataschema are kept as they are.
    let id = EventId::new().to_string();
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", id.as_str()),
        ("ce-source", "/sdk/shop"),
        ("ce-type", "orders.order_placed"),
        ("ce-dataschema", DATASCHEMA),
    ];
    let body = order("o-43", 1).to_string();
    let answer = server.post(Some("application/json"), &headers, body, BEARER).await;
    assert_eq!(answer.accepted(1), vec![id.clone()]);
    assert_eq!(
        answer.body["defaulted"][0]["attributes"],
        json!(["time", "schemaversion", "eventkind", "partitionkey"]),
        "{}",
        answer.body
    );
    let binary = server.stored().await.into_iter().find(|e| e.id.to_string() == id);
    let binary = binary.expect("the binary-mode event is stored");
    assert_eq!(binary.partition_key, "/sdk/shop", "without a subject, the source keys it");
}

async fn a_batch_is_enqueued_whole_with_ids_in_order(db: &TestDb) {
    let server = Server::start(db).await;
    let ids = [EventId::new(), EventId::new(), EventId::new()];
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| event(id, "order-9", &order(&format!("o-{n}"), 1 + n as i64)))
        .collect();
    let answer = server.batch(&events).await;
    let expected: Vec<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(answer.accepted(3), expected);

    let stored = server.stored().await;
    let stored_ids: Vec<String> = stored.iter().map(|envelope| envelope.id.to_string()).collect();
    assert_eq!(stored_ids, expected, "one partition key, so the outbox keeps the batch's order");
    for (n, envelope) in stored.iter().enumerate() {
        assert_eq!(envelope.dataschema.as_deref(), Some(DATASCHEMA));
        assert_eq!(data(envelope), order(&format!("o-{n}"), 1 + n as i64));
    }
}

async fn a_batch_with_one_payload_breaking_its_schema_enqueues_nothing(db: &TestDb) {
    let server = Server::start(db).await;
    let bad = EventId::new();
    let events = [
        event(&EventId::new(), "order-1", &order("o-1", 1)),
        event(&bad, "order-2", &order("o-2", 0)),
        event(&EventId::new(), "order-3", &order("o-3", 5)),
    ];
    let answer = server.batch(&events).await;
    let body = answer.problem(422, &["index 1", &bad.to_string(), "/quantity", "minimum"]);
    assert_eq!(body["type"], "urn:herald:problem:payload-breaks-schema");
    assert_eq!(body["index"], json!(1));
    assert_eq!(body["id"], json!(bad.to_string()));
    assert_eq!(body["subject"], json!(SUBJECT));
    assert_eq!(body["violations"][0]["field"], "/quantity");
    assert_eq!(body["violations"][0]["rule"], "minimum");
    assert!(
        !body["violations"][0]["message"].as_str().expect("a message").contains('0'),
        "violations never quote the payload: {body}"
    );
    server.assert_nothing_stored().await;
}

async fn malformed_json_and_missing_attributes_are_bad_requests(db: &TestDb) {
    let server = Server::start(db).await;
    let answer =
        server.post(Some(STRUCTURED_CONTENT_TYPE), &[], "{\"specversion\": \"1.0\",", BEARER).await;
    let body = answer.problem(400, &["malformed event"]);
    assert!(body.get("index").is_none(), "a single event has no index: {body}");

    let batch = server.post(Some(BATCH_CONTENT_TYPE), &[], "[{", BEARER).await;
    batch.problem(400, &["not valid JSON"]);

    let mut without_source = event(&EventId::new(), "order-1", &order("o-1", 1));
    without_source.as_object_mut().expect("an object").remove("source");
    let answer = server.structured(&without_source, BEARER).await;
    let body = answer.problem(400, &["missing required attribute `source`"]);
    assert_eq!(body["attribute"], "source");

    let id = EventId::new().to_string();
    let headers: Vec<_> =
        binary_headers(&id).into_iter().filter(|(name, _)| *name != "ce-source").collect();
    let answer = server.post(Some("application/json"), &borrowed(&headers), "{}", BEARER).await;
    let body = answer.problem(400, &["missing required attribute `source`"]);
    assert_eq!(body["id"], json!(id));

    let mut bad_kind = event(&EventId::new(), "order-1", &order("o-1", 1));
    bad_kind["eventkind"] = json!("gossip");
    let second = event(&EventId::new(), "order-1", &order("o-1", 1));
    let answer = server.batch(&[second, bad_kind]).await;
    let body = answer.problem(400, &["index 1", "eventkind"]);
    assert_eq!(body["index"], json!(1));

    let empty = server.post(Some(BATCH_CONTENT_TYPE), &[], "[]", BEARER).await;
    empty.problem(400, &["empty"]);
    let object = server.post(Some(BATCH_CONTENT_TYPE), &[], "{}", BEARER).await;
    object.problem(400, &["JSON array", "an object"]);

    let headers = [("ce-subject", "%C0%A0")];
    let mut all = binary_headers(&EventId::new().to_string());
    all.extend(headers.iter().map(|(name, value)| (*name, (*value).to_owned())));
    let answer = server.post(Some("application/json"), &borrowed(&all), "{}", BEARER).await;
    answer.problem(400, &["`ce-subject`", "UTF-8"]);

    let twice = EventId::new();
    let events = [event(&twice, "k", &order("o", 1)), event(&twice, "k", &order("o", 2))];
    let answer = server.batch(&events).await;
    let body = answer.problem(400, &["index 1", &twice.to_string(), "index 0"]);
    assert_eq!(body["attribute"], "id");
    server.assert_nothing_stored().await;
}

async fn oversize_bodies_events_and_batches_are_too_large(db: &TestDb) {
    let server = Server::start_with(db, credentials(), local_schemas(db), |ingest| {
        ingest
            .with_max_body_bytes(16_384)
            .with_max_batch_events(3)
            .with_limits(Limits { max_event_bytes: 2048 })
    })
    .await;
    let huge = event(&EventId::new(), "order-1", &order(&"x".repeat(20_000), 1));
    let answer = server.structured(&huge, BEARER).await;
    let body = answer.problem(413, &["request body", "16384 bytes"]);
    assert_eq!(body["type"], "urn:herald:problem:request-too-large");

    let big = event(&EventId::new(), "order-1", &order(&"x".repeat(4000), 1));
    let answer = server.structured(&big, BEARER).await;
    let body = answer.problem(413, &["2048 bytes"]);
    assert_eq!(body["type"], "urn:herald:problem:event-too-large");

    let big_id = big["id"].as_str().expect("an id").to_owned();
    let answer = server.batch(&[event(&EventId::new(), "k", &order("o", 1)), big]).await;
    let body = answer.problem(413, &["index 1", &big_id, "2048 bytes"]);
    assert_eq!(body["index"], json!(1));
    assert_eq!(body["id"], json!(big_id));

    let four: Vec<Value> =
        (0..4).map(|n| event(&EventId::new(), "k", &order(&format!("o-{n}"), 1))).collect();
    let answer = server.batch(&four).await;
    let body = answer.problem(413, &["4 events", "limit of 3"]);
    assert_eq!(body["type"], "urn:herald:problem:request-too-large");

    let headers = binary_headers(&EventId::new().to_string());
    let answer = server
        .post(Some("application/octet-stream"), &borrowed(&headers), vec![7u8; 3000], BEARER)
        .await;
    answer.problem(413, &["2048 bytes"]);
    server.assert_nothing_stored().await;
}

async fn payloads_breaking_their_schema_or_without_one_are_unprocessable(db: &TestDb) {
    let server = Server::start(db).await;
    let id = EventId::new();
    let answer =
        server.structured(&event(&id, "order-1", &json!({ "order_id": "o-1" })), BEARER).await;
    let body = answer.problem(422, &["required", "quantity", &id.to_string()]);
    assert!(body.get("index").is_none(), "a single event has no index: {body}");
    assert_eq!(body["violations"][0]["rule"], "required");

    let answer = server.structured(&event(&id, "order-1", &order("o-1", -3)), BEARER).await;
    let body = answer.problem(422, &["/quantity", "minimum"]);
    assert_eq!(body["violations"][0]["field"], "/quantity");

    let mut unknown = event(&EventId::new(), "order-1", &order("o-1", 1));
    unknown["type"] = json!("orders.order_shipped");
    let answer = server.structured(&unknown, BEARER).await;
    let body = answer.problem(
        422,
        &["orders.order_shipped.v1", "herald schema register --subject orders.order_shipped.v1"],
    );
    assert_eq!(body["type"], "urn:herald:problem:schema-not-registered");
    assert_eq!(body["subject"], "orders.order_shipped.v1");

    let mut foreign = event(&EventId::new(), "order-1", &order("o-1", 1));
    foreign["dataschema"] = json!("https://elsewhere.example/schemas/1");
    let answer = server.structured(&foreign, BEARER).await;
    let body = answer.problem(422, &["dataschema", "https://elsewhere.example/schemas/1"]);
    assert_eq!(body["attribute"], "dataschema");

    let headers = binary_headers(&EventId::new().to_string());
    let answer = server
        .post(Some("application/octet-stream"), &borrowed(&headers), vec![1u8, 2, 3], BEARER)
        .await;
    answer.problem(422, &["binary data", SUBJECT]);
    server.assert_nothing_stored().await;
}

async fn requests_without_valid_credentials_are_refused(db: &TestDb) {
    let server = Server::start(db).await;
    let payload = event(&EventId::new(), "order-1", &order("o-1", 1));
    for auth in [None, Some("Bearer wrong"), Some("Basic cHJvZHVjZXI6d3Jvbmc="), Some(TOKEN)] {
        let answer = server.structured(&payload, auth).await;
        answer.problem(401, &["Authorization"]);
        let challenge = answer.headers.get("www-authenticate").expect("a challenge");
        assert!(challenge.to_str().expect("ASCII").starts_with("Bearer"), "{challenge:?}");
        assert!(!answer.body.to_string().contains(TOKEN), "the token is never echoed");
    }
    server.assert_nothing_stored().await;

    let answer = server.structured(&payload, BASIC).await;
    answer.accepted(1);
    assert_eq!(server.stored().await.len(), 1);

    let refusing =
        Server::start_with(db, Credentials::default(), local_schemas(db), |ingest| ingest).await;
    let other = event(&EventId::new(), "order-1", &order("o-1", 1));
    for auth in [None, BEARER, BASIC, Some("Bearer ")] {
        refusing.structured(&other, auth).await.problem(401, &["credentials"]);
    }
    assert_eq!(server.stored().await.len(), 1, "without credentials configured nothing is let in");
}

async fn requests_in_no_content_mode_are_refused_with_a_clear_detail(db: &TestDb) {
    let server = Server::start(db).await;
    let answer = server.post(Some("text/plain"), &[], "hello", BEARER).await;
    let body =
        answer.problem(400, &["`text/plain`", "application/cloudevents+json", "ce-specversion"]);
    assert_eq!(body["type"], "urn:herald:problem:not-a-cloudevent");

    let answer = server.post(None, &[], "hello", BEARER).await;
    answer.problem(415, &["Content-Type is missing", "ce-specversion"]);

    let answer = server.post(Some("application/cloudevents+xml"), &[], "<event/>", BEARER).await;
    answer.problem(415, &["application/cloudevents+xml", "JSON event format"]);

    let event = event(&EventId::new(), "order-1", &order("o-1", 1)).to_string();
    let latin = "application/cloudevents+json; charset=ISO-8859-1";
    server.post(Some(latin), &[], event, BEARER).await.problem(415, &["charset=ISO-8859-1"]);
    server.assert_nothing_stored().await;
}

async fn an_unreachable_registry_is_service_unavailable(db: &TestDb) {
    // Nothing listens on port 1: the registry cannot be asked and nothing is cached.
    let client = RegistryClient::new("http://127.0.0.1:1", herald_schema::Credentials::None);
    let schemas = Schemas::new(client, Registration::LookUp);
    let server = Server::start_with(db, credentials(), schemas, |ingest| ingest).await;
    let answer =
        server.structured(&event(&EventId::new(), "order-1", &order("o-1", 1)), BEARER).await;
    let body = answer.problem(503, &[SUBJECT, "retry later"]);
    assert!(!body["detail"].as_str().unwrap_or_default().contains("127.0.0.1:1"), "{body}");
    assert_eq!(answer.headers.get("retry-after").map(|value| value.as_bytes()), Some(&b"5"[..]));
    server.assert_nothing_stored().await;
}

async fn accept_without_http_is_all_or_nothing(db: &TestDb) {
    SchemaStore::new(db.db.clone()).register(SUBJECT, "JSON", SCHEMA).await.expect("register");
    let outbox = Outbox::new(OutboxConfig::default()).expect("the default outbox config");
    let ingest = Ingest::new(db.db.clone(), Arc::new(local_schemas(db)), outbox, credentials());
    let decode = |value: Value| {
        Envelope::from_json(value.to_string().as_bytes(), &Limits::default()).expect("an event")
    };
    let good = decode(event(&EventId::new(), "k", &order("o-1", 1)));
    let bad = decode(event(&EventId::new(), "k", &order("o-2", 0)));
    let error = ingest.accept(vec![good.clone(), bad.clone()]).await.expect_err("refused");
    assert_eq!(error.status().as_u16(), 422);
    assert_eq!(error.index(), Some(1), "{error}");
    assert_eq!(error.event_id(), Some(bad.id.to_string()));
    let store = OutboxStore::new(db.db.clone(), Retention::default());
    let partitions: Vec<u32> = (0..16).collect();
    assert!(store.fetch_unsent(&partitions, 10).await.expect("read").is_empty());

    let ids = ingest.accept(vec![good.clone()]).await.expect("accepted");
    assert_eq!(ids, vec![good.id]);
    assert_eq!(store.fetch_unsent(&partitions, 10).await.expect("read").len(), 1);
}

async fn a_write_that_fails_midway_is_rolled_back(db: &TestDb) {
    SchemaStore::new(db.db.clone()).register(SUBJECT, "JSON", SCHEMA).await.expect("register");
    // The outbox refuses events over 1000 bytes, while ingest lets them through its own
    // checks: the second event fails inside the transaction, after the first was inserted.
    let config =
        OutboxConfig { limits: Limits { max_event_bytes: 1000 }, ..OutboxConfig::default() };
    let outbox = Outbox::new(config).expect("a valid outbox config");
    let ingest = Ingest::new(db.db.clone(), Arc::new(local_schemas(db)), outbox, credentials())
        .with_limits(Limits::default());
    let decode = |value: Value| {
        Envelope::from_json(value.to_string().as_bytes(), &Limits::default()).expect("an event")
    };
    let small = decode(event(&EventId::new(), "k", &order("o-1", 1)));
    let large = decode(event(&EventId::new(), "k", &order(&"x".repeat(2000), 1)));
    let error = ingest.accept(vec![small, large.clone()]).await.expect_err("refused");
    assert_eq!(error.status().as_u16(), 413, "{error}");
    assert_eq!((error.index(), error.event_id()), (Some(1), Some(large.id.to_string())));
    let store = OutboxStore::new(db.db.clone(), Retention::default());
    let partitions: Vec<u32> = (0..16).collect();
    assert!(
        store.fetch_unsent(&partitions, 10).await.expect("read").is_empty(),
        "the first event's insert was rolled back"
    );
}

macro_rules! on_both_databases {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let db = TestDb::postgres("ingest").await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )+
        }
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let db = TestDb::sqlite("ingest").await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )+
        }
    };
}

on_both_databases!(
    binary_mode_events_are_enqueued_with_their_dataschema,
    structured_mode_events_are_enqueued_with_their_dataschema,
    any_valid_cloudevent_is_accepted_with_herald_attributes_filled_in,
    a_batch_is_enqueued_whole_with_ids_in_order,
    a_batch_with_one_payload_breaking_its_schema_enqueues_nothing,
    malformed_json_and_missing_attributes_are_bad_requests,
    oversize_bodies_events_and_batches_are_too_large,
    payloads_breaking_their_schema_or_without_one_are_unprocessable,
    requests_without_valid_credentials_are_refused,
    requests_in_no_content_mode_are_refused_with_a_clear_detail,
    an_unreachable_registry_is_service_unavailable,
    accept_without_http_is_all_or_nothing,
    a_write_that_fails_midway_is_rolled_back,
);
