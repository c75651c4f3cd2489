//! The producer side of the registry: typed events registered under `<type>.v<version>`,
//! payloads validated before enqueue with the field and rule named, `dataschema` set, a
//! registry outage survived for cached schemas — over the registry's tables and over HTTP.

use std::time::Duration;

use herald_envelope::{Envelope, Event, EventKind};
use herald_http::Credentials as ServerCredentials;
use herald_registry::SchemaStore;
use herald_registry::api::router;
use herald_schema::{
    Credentials, LocalRegistry, Registration, RegistryClient, SchemaError, Schemas, subject_for,
};
use herald_testkit::TestDb;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

const PUBLIC_URL: &str = "http://registry.test:8081";

/// An event whose schema says more than its Rust type enforces.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlaced {
    order_id: String,
    #[schemars(range(min = 1, max = 100))]
    quantity: i64,
    #[schemars(length(min = 3, max = 3))]
    currency: String,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "shop.order_placed";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.order_id.clone()
    }
}

/// Version 1 of the same type, changed in a way BACKWARD forbids: a new required field.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlacedBroken {
    order_id: String,
    quantity: i64,
    currency: String,
    customer: String,
}

impl Event for OrderPlacedBroken {
    const TYPE: &'static str = "shop.order_placed";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.order_id.clone()
    }
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderCancelled {
    order_id: String,
}

impl Event for OrderCancelled {
    const TYPE: &'static str = "shop.order_cancelled";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.order_id.clone()
    }
}

fn order(quantity: i64, currency: &str) -> OrderPlaced {
    OrderPlaced { order_id: "o-1".into(), quantity, currency: currency.into() }
}

fn local(db: &TestDb, registration: Registration) -> Schemas {
    Schemas::new(LocalRegistry::new(SchemaStore::new(db.db.clone()), PUBLIC_URL), registration)
}

async fn registers_validates_and_points_at_the_version(db: TestDb) {
    let schemas = local(&db, Registration::Register);
    let envelope = schemas.envelope("shop", &order(2, "EUR")).await.expect("a valid order");
    assert_eq!(
        envelope.dataschema.as_deref(),
        Some("http://registry.test:8081/subjects/shop.order_placed.v1/versions/1")
    );
    let store = SchemaStore::new(db.db.clone());
    let registered = store.history(&subject_for("shop.order_placed", 1)).await.expect("subject");
    assert_eq!(registered.len(), 1, "registered once, whatever the number of events");
    schemas.envelope("shop", &order(3, "USD")).await.expect("another valid order");
    assert_eq!(store.history("shop.order_placed.v1").await.expect("subject").len(), 1);

    let error = schemas.envelope("shop", &order(0, "EUR")).await.expect_err("quantity 0");
    let SchemaError::InvalidPayload(invalid) = &error else {
        panic!("not a payload error: {error}")
    };
    assert_eq!(invalid.violations.len(), 1, "{error}");
    assert_eq!(invalid.violations[0].field, "/quantity");
    assert_eq!(invalid.violations[0].rule, "minimum");
    let message = error.to_string();
    assert!(message.contains("field `/quantity` breaks rule `minimum`"), "{message}");
    assert!(message.contains("shop.order_placed"), "{message}");

    let error = schemas.envelope("shop", &order(500, "euro")).await.expect_err("two faults");
    let SchemaError::InvalidPayload(invalid) = &error else {
        panic!("not a payload error: {error}")
    };
    let mut named: Vec<_> =
        invalid.violations.iter().map(|v| (v.field.as_str(), v.rule.as_str())).collect();
    named.sort_unstable();
    assert_eq!(named, [("/currency", "maxLength"), ("/quantity", "maximum")]);
    assert!(!error.to_string().contains("euro"), "values are not quoted: {error}");
    db.cleanup().await;
}

async fn a_breaking_change_is_refused(db: TestDb) {
    let schemas = local(&db, Registration::Register);
    schemas.prepare::<OrderPlaced>().await.expect("first schema");
    let fresh = local(&db, Registration::Register);
    let error = fresh.prepare::<OrderPlacedBroken>().await.expect_err("a new required field");
    assert!(matches!(error, SchemaError::Refused { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("shop.order_placed.v1") && message.contains("409"), "{message}");
    db.cleanup().await;
}

async fn look_up_only_needs_the_schema_registered(db: TestDb) {
    let schemas = local(&db, Registration::LookUp);
    let error = schemas.prepare::<OrderPlaced>().await.expect_err("nothing registered");
    assert!(matches!(error, SchemaError::NotRegistered { .. }), "{error}");
    assert!(error.to_string().contains("herald schema register"), "{error}");

    let store = SchemaStore::new(db.db.clone());
    let text = serde_json::to_string(&<OrderPlaced as Event>::json_schema()).expect("schema");
    store.register("shop.order_placed.v1", "JSON", &text).await.expect("register");
    let envelope = schemas.envelope("shop", &order(1, "EUR")).await.expect("registered now");
    assert!(envelope.dataschema.expect("dataschema").ends_with("/versions/1"));
    db.cleanup().await;
}

async fn an_untyped_envelope_is_checked_against_its_subject(db: TestDb) {
    let store = SchemaStore::new(db.db.clone());
    let v1 = r#"{"type":"object","required":["sku"],"properties":{"sku":{"type":"string"}}}"#;
    let v2 = r#"{"type":"object","required":["sku"],"properties":{"sku":{"type":"string"},"note":{"type":"string"}}}"#;
    store.register("shop.item_added.v1", "JSON", v1).await.expect("v1");
    store.register("shop.item_added.v1", "JSON", v2).await.expect("v2");
    let schemas = local(&db, Registration::LookUp);

    let mut envelope = envelope_of("shop.item_added", r#"{"sku":"a","note":"hi"}"#);
    let compiled = schemas.validate(&mut envelope).await.expect("valid against the latest");
    assert_eq!((compiled.subject.as_str(), compiled.version), ("shop.item_added.v1", 2));
    assert_eq!(
        envelope.dataschema.as_deref(),
        Some("http://registry.test:8081/subjects/shop.item_added.v1/versions/2")
    );

    let mut envelope = envelope_of("shop.item_added", r#"{"note":"hi"}"#);
    envelope.dataschema =
        Some("http://registry.test:8081/subjects/shop.item_added.v1/versions/1".into());
    let error = schemas.validate(&mut envelope).await.expect_err("sku missing");
    let SchemaError::InvalidPayload(invalid) = &error else { panic!("{error}") };
    assert_eq!((invalid.violations[0].field.as_str(), invalid.version), ("", 1));
    assert_eq!(invalid.violations[0].rule, "required");
    assert!(invalid.violations[0].message.contains("sku"), "{error}");

    let mut envelope = envelope_of("shop.item_added", r#"{"sku":"a"}"#);
    envelope.dataschema = Some("https://elsewhere.example/schemas/7".into());
    let error = schemas.validate(&mut envelope).await.expect_err("not our registry");
    assert!(matches!(error, SchemaError::ForeignDataschema { .. }), "{error}");

    let mut envelope = envelope_of("shop.unknown", r#"{}"#);
    let error = schemas.validate(&mut envelope).await.expect_err("no subject");
    assert!(
        matches!(error, SchemaError::NotRegistered { ref subject, .. } if subject == "shop.unknown.v1")
    );
    db.cleanup().await;
}

fn envelope_of(event_type: &str, data: &str) -> Envelope {
    let json = format!(
        r#"{{"specversion":"1.0","id":"0190d1f2-5d4c-7000-8000-000000000001","source":"shop","type":"{event_type}","time":"2026-11-21T10:00:00Z","datacontenttype":"application/json","eventkind":"integration","schemaversion":1,"partitionkey":"k","data":{data}}}"#
    );
    Envelope::from_json(json.as_bytes(), &Default::default()).expect("a valid envelope")
}

#[tokio::test]
async fn sqlite_registers_validates_and_points_at_the_version() {
    registers_validates_and_points_at_the_version(TestDb::sqlite("schema_valid").await).await;
}

#[tokio::test]
async fn postgres_registers_validates_and_points_at_the_version() {
    registers_validates_and_points_at_the_version(TestDb::postgres("schema_valid").await).await;
}

#[tokio::test]
async fn sqlite_a_breaking_change_is_refused() {
    a_breaking_change_is_refused(TestDb::sqlite("schema_breaking").await).await;
}

#[tokio::test]
async fn postgres_a_breaking_change_is_refused() {
    a_breaking_change_is_refused(TestDb::postgres("schema_breaking").await).await;
}

#[tokio::test]
async fn sqlite_look_up_only_needs_the_schema_registered() {
    look_up_only_needs_the_schema_registered(TestDb::sqlite("schema_lookup").await).await;
}

#[tokio::test]
async fn sqlite_an_untyped_envelope_is_checked_against_its_subject() {
    an_untyped_envelope_is_checked_against_its_subject(TestDb::sqlite("schema_untyped").await)
        .await;
}

#[tokio::test]
async fn postgres_an_untyped_envelope_is_checked_against_its_subject() {
    an_untyped_envelope_is_checked_against_its_subject(TestDb::postgres("schema_untyped").await)
        .await;
}

/// A registry served over HTTP that the test can take down.
struct Served {
    base: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(db: &TestDb) -> Served {
    let credentials = ServerCredentials {
        read_tokens: vec!["r3ad-only".into()],
        ..ServerCredentials::bearer("t0ken")
    };
    let app = router(SchemaStore::new(db.db.clone()), &credentials).into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
    });
    Served { base, stop, task }
}

#[tokio::test]
async fn over_http_a_registry_outage_spares_cached_schemas() {
    let db = TestDb::sqlite("schema_outage").await;
    let served = serve(&db).await;
    let client = RegistryClient::new(&served.base, Credentials::Bearer("t0ken".into()));
    let schemas = Schemas::new(client, Registration::Register).with_latest_ttl(Duration::ZERO);

    let envelope = schemas.envelope("shop", &order(1, "EUR")).await.expect("registered over HTTP");
    let expected = format!("{}/subjects/shop.order_placed.v1/versions/1", served.base);
    assert_eq!(envelope.dataschema.as_deref(), Some(expected.as_str()));
    let mut untyped =
        envelope_of("shop.order_placed", r#"{"order_id":"o","quantity":1,"currency":"EUR"}"#);
    schemas.validate(&mut untyped).await.expect("latest fetched over HTTP");

    served.stop.send(()).expect("stop the registry");
    served.task.await.expect("the registry stopped");

    schemas.envelope("shop", &order(2, "EUR")).await.expect("cached: produced during the outage");
    let error = schemas.envelope("shop", &order(0, "EUR")).await.expect_err("still validated");
    assert!(matches!(error, SchemaError::InvalidPayload(_)), "{error}");
    let mut untyped =
        envelope_of("shop.order_placed", r#"{"order_id":"o","quantity":1,"currency":"EUR"}"#);
    schemas.validate(&mut untyped).await.expect("a stale latest version beats no version");

    let error = schemas
        .envelope("shop", &OrderCancelled { order_id: "o-1".into() })
        .await
        .expect_err("never cached");
    assert!(matches!(error, SchemaError::RegistryUnavailable { .. }), "{error}");
    assert!(error.to_string().contains("unreachable"), "{error}");
    db.cleanup().await;
}

#[tokio::test]
async fn over_http_registering_needs_credentials() {
    let db = TestDb::sqlite("schema_credentials").await;
    let served = serve(&db).await;
    let client = RegistryClient::new(&served.base, Credentials::Bearer("wrong".into()));
    let error = Schemas::new(client, Registration::Register)
        .prepare::<OrderPlaced>()
        .await
        .expect_err("wrong token");
    assert!(matches!(error, SchemaError::Refused { .. }), "{error}");
    assert!(error.to_string().contains("401"), "{error}");
    let anonymous = RegistryClient::new(&served.base, Credentials::None);
    let refused = anonymous.check("shop.order_placed.v1", None, "JSON", "{}").await;
    assert!(
        matches!(refused, Err(herald_schema::ClientError::Refused { status: 401, .. })),
        "a compatibility check needs a token: {refused:?}"
    );
    let reader = RegistryClient::new(&served.base, Credentials::Bearer("r3ad-only".into()));
    let first = reader.check("shop.order_placed.v1", None, "JSON", "{}").await.expect("check");
    assert!(first.is_compatible, "a new subject takes any first schema");
    let missing = reader.check("shop.order_placed.v1", Some(1), "JSON", "{}").await;
    assert!(missing.is_err_and(|error| error.is_not_found()), "no version 1 yet");
    db.cleanup().await;
}
