//! `herald registry` serves the Confluent-compatible API over a database: a client
//! registers with the token, is refused without it, and reads back what it registered.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::KillOnDrop;
use herald_testkit::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_registry_serves_the_confluent_api() {
    let test_db = TestDb::sqlite("registry_cli").await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "registry",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &test_db.url,
            "--token",
            "t0ken-0123456789abcdef",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald registry");
    let stderr = child.stderr.take().expect("stderr");
    let registry = KillOnDrop(child);
    // Kept open to the end: the registry must be able to write to its stderr.
    let mut lines = BufReader::new(stderr).lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("Schema registry on ").map(str::to_owned))
        .expect("the registry prints its address");
    let http = reqwest::Client::new();
    let body = r#"{"schema": "{\"type\":\"object\"}", "schemaType": "JSON"}"#;
    let url = format!("{base}/subjects/orders-value/versions");
    let refused = http.post(&url).body(body).send().await.expect("post");
    assert_eq!(refused.status().as_u16(), 401);
    let registered = http
        .post(&url)
        .bearer_auth("t0ken-0123456789abcdef")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(registered.status().as_u16(), 200);
    let id: serde_json::Value =
        serde_json::from_str(&registered.text().await.expect("body")).expect("json");
    assert!(id["id"].as_i64().is_some(), "{id}");
    let subjects = http.get(format!("{base}/subjects")).send().await.expect("get");
    assert_eq!(subjects.text().await.expect("body"), r#"["orders-value"]"#);
    drop(registry);
    drop(lines);
    test_db.cleanup().await;
}

/// Starts `herald <args>` and returns it with the address it prints after `prefix`.
fn serve(
    args: &[&str],
    prefix: &str,
) -> (KillOnDrop, String, impl Iterator<Item = String> + use<>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald");
    let stderr = child.stderr.take().expect("stderr");
    let process = KillOnDrop(child);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let address = lines
        .by_ref()
        .find_map(|line| line.strip_prefix(prefix).map(str::to_owned))
        .expect("the server prints its address");
    (process, address, lines)
}

/// Runs `herald schema <args>` against `base`; returns the exit code and stdout.
fn schema(base: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["schema", "--registry", base, "--token", "t0ken-0123456789abcdef"])
        .args(args)
        .output()
        .expect("run herald schema");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

const V1: &str = r#"{"type":"object","properties":{"order_id":{"type":"string"},"quantity":{"type":"integer","minimum":1}},"required":["order_id","quantity"],"additionalProperties":false}"#;
/// Compatible with V1 under BACKWARD: an optional property more in a closed model.
const V2: &str = r#"{"type":"object","properties":{"order_id":{"type":"string"},"quantity":{"type":"integer","minimum":1},"note":{"type":"string"}},"required":["order_id","quantity"],"additionalProperties":false}"#;
/// Breaking under BACKWARD: a new required property.
const BREAKING: &str = r#"{"type":"object","properties":{"order_id":{"type":"string"},"quantity":{"type":"integer","minimum":1},"customer":{"type":"string"}},"required":["order_id","quantity","customer"],"additionalProperties":false}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_schema_registers_checks_lists_and_shows() {
    let test_db = TestDb::sqlite("schema_cli").await;
    let args = [
        "registry",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &test_db.url,
        "--token",
        "t0ken-0123456789abcdef",
    ];
    let (registry, base, _lines) = serve(&args, "Schema registry on ");
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write schema");
        path.display().to_string()
    };
    let (v1, v2, breaking) = (file("v1.json", V1), file("v2.json", V2), file("bad.json", BREAKING));
    let subject = "shop.order_placed.v1";

    let (code, out) = schema(&base, &["register", "--subject", subject, &v1]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Registered `shop.order_placed.v1` version 1"), "{out}");

    let (code, out) = schema(&base, &["check", "--subject", subject, &v2]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Compatible") && out.contains("BACKWARD"), "{out}");

    let (code, out) = schema(&base, &["check", "--subject", subject, &breaking]);
    assert_eq!(code, 1, "a breaking change fails the gate: {out}");
    assert!(out.contains("Breaking change"), "{out}");
    assert!(out.contains("/properties/customer") || out.contains("customer"), "{out}");

    let (code, out) = schema(&base, &["register", "--subject", subject, &breaking]);
    assert_ne!(code, 0, "the registry refuses it too: {out}");
    assert!(out.contains("409"), "{out}");

    let (code, out) = schema(&base, &["register", "--subject", subject, &v2]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = schema(&base, &["list", "--json"]);
    assert_eq!(code, 0, "{out}");
    let listed: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(listed, serde_json::json!([{ "subject": subject, "versions": [1, 2] }]));

    let (code, out) = schema(&base, &["show", subject, "--version", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("version: 1") && out.contains("\"minimum\": 1"), "{out}");
    let (code, out) = schema(&base, &["show", "nobody.v1"]);
    assert_ne!(code, 0);
    assert!(out.contains("40401") && out.contains("nobody.v1"), "{out}");
    let (code, out) = schema(&base, &["show", subject, "--version", "0"]);
    assert_ne!(code, 0);
    assert!(out.contains("not a version"), "{out}");

    // Avro, with the type in lower case; a field added without a default breaks it.
    let avro = |fields: &str| format!(r#"{{"type":"record","name":"Order","fields":[{fields}]}}"#);
    let id = r#"{"name":"id","type":"long"}"#;
    let v1 = file("v1.avsc", &avro(id));
    let without_default =
        file("bad.avsc", &avro(&format!(r#"{id},{{"name":"note","type":"string"}}"#)));
    let (code, out) =
        schema(&base, &["register", "--type", "avro", "--subject", "shop.avro.v1", &v1]);
    assert_eq!(code, 0, "{out}");
    let check = ["check", "--type", "Avro", "--subject", "shop.avro.v1", &without_default];
    let (code, out) = schema(&base, &check);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{out}");
    let (code, out) = schema(&base, &["register", "--type", "xml", "--subject", "s.v1", &v1]);
    assert_ne!(code, 0);
    assert!(out.contains("`xml` is not a schema type"), "{out}");
    drop(registry);
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_ingest_needs_credentials_and_enqueues_validated_events() {
    let test_db = TestDb::sqlite("ingest_cli").await;
    let refused = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["ingest", "--listen", "127.0.0.1:0", "--database", &test_db.url])
        .env_remove("HERALD_INGEST_TOKEN")
        .output()
        .expect("run herald ingest");
    assert!(!refused.status.success(), "no credentials, no ingest");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("needs credentials"));

    let store = herald_registry::SchemaStore::new(test_db.db.clone());
    store.register("shop.order_placed.v1", "JSON", V1).await.expect("register");
    let args = [
        "ingest",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &test_db.url,
        "--token",
        "t0ken-0123456789abcdef",
    ];
    let (ingest, url, _lines) = serve(&args, "CloudEvents ingest on ");
    let event = |quantity: i64| {
        serde_json::json!({
            "specversion": "1.0", "id": uuid::Uuid::now_v7().to_string(), "source": "/php-shop",
            "type": "shop.order_placed", "time": "2026-11-21T10:00:00Z",
            "eventkind": "integration", "schemaversion": 1, "partitionkey": "o-1",
            "datacontenttype": "application/json",
            "data": { "order_id": "o-1", "quantity": quantity }
        })
        .to_string()
    };
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(&url)
            .bearer_auth("t0ken-0123456789abcdef")
            .header("content-type", "application/cloudevents+json")
            .body(body)
            .send()
    };
    let accepted = post(event(2)).await.expect("post");
    assert_eq!(accepted.status().as_u16(), 202);
    let rejected = post(event(0)).await.expect("post");
    assert_eq!(rejected.status().as_u16(), 422);
    let problem = rejected.text().await.expect("body");
    assert!(problem.contains("/quantity") && problem.contains("minimum"), "{problem}");
    let herald_db::Database::Sqlite(sqlite) = &test_db.db else { unreachable!("SQLite") };
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM herald_outbox")
        .fetch_one(&sqlite.reader)
        .await
        .expect("count");
    assert_eq!(rows, 1, "only the valid event is in the outbox");
    drop(ingest);
    test_db.cleanup().await;
}
