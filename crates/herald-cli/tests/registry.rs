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
            "t0ken",
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
    let registered = http.post(&url).bearer_auth("t0ken").body(body).send().await.expect("post");
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
