//! `herald up` as an operator runs it: one process serving the probes, `/metrics`, the
//! admin API, the registry and the dashboard, relaying the outbox, refusing every change
//! without the token, and stopping gracefully on SIGTERM; and `herald config check`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::start_up;

use herald_bench::workload::OrderPlaced;
use herald_db::{Database, DatabaseOptions};
use herald_envelope::Envelope;
use herald_outbox::{Outbox, OutboxConfig};
use herald_testkit::wait_until;
use serde_json::Value;

const TOKEN: &str = "a-test-token-of-32-characters-xx";

/// Commits `count` events into the outbox of the SQLite file `herald up` relays.
async fn enqueue(url: &str, count: u32) {
    let options = DatabaseOptions { max_connections: 2, ..DatabaseOptions::default() };
    let db = Database::connect(url, &options).await.expect("connect");
    let outbox =
        Outbox::new(OutboxConfig { partitions: 16, ..OutboxConfig::default() }).expect("outbox");
    let Database::Sqlite(sqlite) = &db else { panic!("a SQLite database") };
    let mut tx = sqlite.writer.begin().await.expect("begin");
    for id in 0..count {
        let order = OrderPlaced {
            run: "up".into(),
            order_id: i64::from(id),
            customer: format!("customer-{}", id % 7),
            customer_seq: 1,
            amount_cents: 100,
            due_at_us: 0,
        };
        let envelope = Envelope::from_event("/test", &order).expect("envelope");
        outbox.enqueue(&mut tx, &envelope).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
    db.close().await;
}

/// GETs `url` with the token (reading recipients needs one; open routes ignore it).
async fn get(url: &str) -> (u16, String) {
    let request = reqwest::Client::new().get(url).bearer_auth(TOKEN);
    let response = request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (response.status().as_u16(), response.text().await.expect("body"))
}

async fn get_json(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// The value of a metric line `name{labels} value` (or `name value`) in a scrape.
fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_probes_metrics_the_api_and_the_dashboard_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("up.db").display());
    let up = start_up(&url, &["--token", TOKEN]);
    let base = up.base.clone();

    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    wait_until(Duration::from_secs(10), "/readyz answers 200", || async {
        get(&format!("{base}/readyz")).await.0 == 200
    })
    .await;

    enqueue(&url, 50).await;
    wait_until(Duration::from_secs(10), "the relay publishes the 50 events", || async {
        get_json(&format!("{base}/api/overview")).await["relay"]["published_total"] == 50
    })
    .await;
    let overview = get_json(&format!("{base}/api/overview")).await;
    assert_eq!(overview["outbox"]["pending"], 0, "{overview:#}");
    assert_eq!(overview["transport"], "embedded log");
    assert!(overview["latency_ms"]["p99"].as_f64().is_some_and(|p99| p99 > 0.0), "{overview:#}");

    let (status, scrape) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(metric(&scrape, "herald_relay_published_total"), Some(50.0), "{scrape}");
    assert!(
        metric(&scrape, "herald_relay_commit_to_confirm_seconds_count") == Some(50.0),
        "{scrape}"
    );
    assert!(scrape.contains("herald_build_info{version="), "{scrape}");

    let (status, page) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("/assets/app.js"), "{page}");
    assert_eq!(get(&format!("{base}/assets/app.js")).await.0, 200);
    assert_eq!(get(&format!("{base}/assets/style.css")).await.0, 200);
    assert_eq!(get(&format!("{base}/registry/subjects")).await, (200, "[]".to_owned()));
    let page = reqwest::get(format!("{base}/")).await.expect("the dashboard");
    let policy = page.headers().get("content-security-policy").expect("a CSP");
    let policy = policy.to_str().expect("text");
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let rebound = reqwest::Client::new()
        .get(format!("{base}/api/overview"))
        .header("host", "attacker.example")
        .send()
        .await
        .expect("a request by another host name");
    assert_eq!(rebound.status().as_u16(), 403, "DNS rebinding: only loopback names are answered");

    // The ledger from a terminal: the relay recorded each event's commit and publish.
    let listed = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["events", "list", "--database", &url, "--json", "--limit", "100"])
        .output()
        .expect("herald events list");
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let events: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(events.as_array().map(Vec::len), Some(50), "{events:#}");
    let id = events[0]["event_id"].as_str().expect("an event id");
    let shown = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["events", "show", id, "--database", &url])
        .output()
        .expect("herald events show");
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{text}");
    assert!(text.contains("committed") && text.contains("published"), "{text}");
    let unknown = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["events", "show", &uuid::Uuid::now_v7().to_string(), "--database", &url])
        .output()
        .expect("herald events show");
    assert!(!unknown.status.success(), "an unknown event exits non-zero");

    let mut up = up;
    let pid = up.child.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    assert!(signalled.success());
    let exited = (0..150).find_map(|_| {
        std::thread::sleep(Duration::from_millis(100));
        up.child.try_wait().expect("wait")
    });
    let status = exited.expect("herald up stops within 15 s of SIGTERM");
    assert!(status.success(), "herald up exits 0 after SIGTERM: {status}");
    let said: Vec<String> = up.stderr.try_iter().collect();
    assert!(said.iter().any(|line| line == "Stopped."), "{said:?}");
}

/// Every route that changes state, as (method, path, body).
const CHANGES: [(&str, &str, &str); 11] = [
    ("POST", "/events", r#"{"specversion": "1.0", "id": "x", "source": "/s", "type": "t"}"#),
    ("POST", "/api/dlq/replay", r#"{"all": true}"#),
    ("PUT", "/api/recipients/alice", r#"{"locale": "en"}"#),
    ("PUT", "/api/templates/welcome/email/en", r#"{"body": "hi"}"#),
    (
        "POST",
        "/api/subscriptions",
        r##"{"service": "s", "pattern": "#", "endpoint": "http://127.0.0.1:9/"}"##,
    ),
    ("DELETE", "/api/subscriptions/0190a8d4-0000-7000-8000-000000000000", ""),
    ("POST", "/api/subscriptions/0190a8d4-0000-7000-8000-000000000000/enable", ""),
    ("POST", "/api/subscriptions/0190a8d4-0000-7000-8000-000000000000/rotate-secret", ""),
    ("POST", "/registry/subjects/orders.v1/versions", r#"{"schema": "{}", "schemaType": "JSON"}"#),
    ("PUT", "/registry/config", r#"{"compatibility": "NONE"}"#),
    ("DELETE", "/registry/subjects/orders.v1", ""),
];

/// Runs `openssl` with `args`, which must succeed.
fn openssl(args: &[&str]) {
    let output = Command::new("openssl").args(args).output().expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes a certificate authority and a certificate it signs for `127.0.0.1` and
/// `localhost` with `openssl`; returns the paths of the CA, the certificate and its key.
fn certificates(dir: &std::path::Path) -> [String; 3] {
    let [ca, ca_key, cert, key, request, extensions] =
        ["ca.pem", "ca.key", "cert.pem", "key.pem", "leaf.csr", "leaf.ext"]
            .map(|file| dir.join(file).display().to_string());
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let authority = ["-keyout", &ca_key, "-out", &ca, "-days", "1", "-subj", "/CN=herald-test-ca"];
    openssl(&[&["req", "-x509"][..], &ec, &authority].concat());
    let leaf = ["-keyout", &key, "-out", &request, "-subj", "/CN=localhost"];
    openssl(&[&["req"][..], &ec, &leaf].concat());
    openssl(&[
        "x509",
        "-req",
        "-in",
        &request,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "1",
        "-extfile",
        &extensions,
    ]);
    [ca, cert, key]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_https_with_the_certificate_it_is_given() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let [ca, cert, key] = certificates(dir.path());
    let url = format!("sqlite://{}", dir.path().join("up.db").display());
    let up = start_up(&url, &["--token", TOKEN, "--tls-cert", &cert, "--tls-key", &key]);
    assert!(up.base.starts_with("https://127.0.0.1:"), "{}", up.base);
    let authority = std::fs::read(&ca).expect("the CA's certificate");
    let authority = reqwest::Certificate::from_pem(&authority).expect("PEM");
    let client =
        reqwest::Client::builder().add_root_certificate(authority).build().expect("client");
    let health = client.get(format!("{}/healthz", up.base)).send().await.expect("https");
    assert_eq!(health.status().as_u16(), 200);
    let plain = up.base.replacen("https://", "http://", 1);
    assert!(reqwest::get(format!("{plain}/healthz")).await.is_err(), "plain HTTP is not served");
    let untrusting = reqwest::get(format!("{}/healthz", up.base)).await;
    assert!(untrusting.is_err(), "a client that does not trust the CA refuses the server");

    let missing = config_check(&["--tls-cert", &cert], None);
    assert!(!missing.0 && missing.1.contains("--tls-key"), "{}", missing.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_change_is_refused_without_the_token_or_with_a_wrong_one() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("up.db").display());
    let up = start_up(&url, &["--token", TOKEN]);
    let client = reqwest::Client::new();
    for (method, path, body) in CHANGES {
        for authorization in [None, Some("Bearer wrong-token-of-the-same-size-xxxx")] {
            let mut request = client
                .request(method.parse().expect("method"), format!("{}{path}", up.base))
                .header("content-type", "application/json")
                .body(body);
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status().as_u16(),
                401,
                "{method} {path} with {authorization:?} must be refused"
            );
        }
    }
    // Nothing changed.
    assert_eq!(get(&format!("{}/registry/subjects", up.base)).await, (200, "[]".to_owned()));
    assert_eq!(get(&format!("{}/api/recipients/alice", up.base)).await.0, 404);
    assert_eq!(get_json(&format!("{}/api/templates", up.base)).await, serde_json::json!([]));
    let config = get_json(&format!("{}/registry/config", up.base)).await;
    assert_ne!(config["compatibilityLevel"], "NONE", "{config}");
    // And with the token, a change goes through.
    let response = client
        .put(format!("{}/api/recipients/alice", up.base))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(r#"{"locale": "en"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.text().await);
}

/// A service in another language publishes through `herald up` alone: `POST /events`
/// with the token, an event as any CloudEvents SDK sends it; it is relayed like the
/// events Herald's own producers commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_ingests_cloudevents_posted_to_events_with_the_token() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("up.db").display());
    let up = start_up(&url, &["--token", TOKEN]);
    let client = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, content_type: &str, body: String| {
        client
            .request(method, format!("{}{path}", up.base))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let schema = serde_json::json!({ "schemaType": "JSON", "schema": r#"{"type":"object"}"# });
    let path = "/registry/subjects/shop.order_placed.v1/versions";
    let registered = send(reqwest::Method::POST, path, "application/json", schema.to_string());
    assert_eq!(registered.await.expect("register").status().as_u16(), 200);
    let event = serde_json::json!({
        "specversion": "1.0", "id": "order-7", "source": "/python/shop",
        "type": "shop.order_placed", "data": {"order": 7},
    });
    let posted =
        send(reqwest::Method::POST, "/events", "application/cloudevents+json", event.to_string());
    let posted = posted.await.expect("post the event");
    assert_eq!(posted.status().as_u16(), 202);
    let answer: Value =
        serde_json::from_str(&posted.text().await.expect("the answer")).expect("a JSON answer");
    let id = answer["ids"][0].as_str().expect("the event's id").to_owned();
    assert_eq!(answer["defaulted"][0]["sent_id"], "order-7", "{answer}");
    wait_until(Duration::from_secs(30), "the posted event to be published", || async {
        let journey = send(
            reqwest::Method::GET,
            &format!("/api/events/{id}"),
            "application/json",
            String::new(),
        );
        let Ok(journey) = journey.await else { return false };
        journey.text().await.unwrap_or_default().contains("\"published\"")
    })
    .await;
}

fn config_check(args: &[&str], file: Option<&str>) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command.args(["config", "check"]).args(args).env_remove("HERALD_API_TOKEN");
    if let Some(text) = file {
        let path = dir.path().join("herald.toml");
        std::fs::write(&path, text).expect("write the configuration");
        command.arg("--config").arg(&path);
    }
    let output = command.output().expect("run herald config check");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn config_check_names_every_problem_and_flags_win_over_the_file() {
    let bad = r#"
listen = "nowhere"
database = "mysql://root:hunter2@db/app"
broker = "kafka://localhost:9092"
partitions = 0
token = "short"
otlp_endpoint = "collector:4317"
ledger_retention_days = 0

[notify]
webhook_secrets = ["not-a-secret"]
"#;
    let (ok, said) = config_check(&[], Some(bad));
    assert!(!ok, "{said}");
    for expected in [
        "listen: `nowhere`",
        "database: `mysql://***@db/app`",
        "`kafka://localhost:9092` is neither",
        "partitions: 0 is not between 1 and 4096",
        "token: 5 characters",
        "notify:",
        "otlp_endpoint: `collector:4317` is not an http:// URL",
        "ledger_retention_days: 0 is not between 1 and 3650",
    ] {
        assert!(said.contains(expected), "names `{expected}`: {said}");
    }
    assert!(!said.contains("hunter2"), "no password in messages: {said}");
    assert!(said.contains("8 problem(s)"), "{said}");

    // Flags win over the file: these four are fixed, the rest remain.
    let flags = [
        ["--listen", "127.0.0.1:9000"],
        ["--partitions", "8"],
        ["--otlp-endpoint", "http://127.0.0.1:4318"],
        ["--ledger-retention-days", "30"],
    ];
    let (ok, said) = config_check(flags.as_flattened(), Some(bad));
    assert!(!ok);
    assert!(!said.contains("listen:") && !said.contains("partitions:"), "{said}");
    assert!(!said.contains("otlp_endpoint:") && !said.contains("ledger_retention"), "{said}");
    assert!(said.contains("4 problem(s)"), "{said}");

    let (ok, said) = config_check(&[], Some("listen = \"127.0.0.1:9000\"\nunknown_key = 1\n"));
    assert!(!ok);
    assert!(said.contains("unknown_key"), "an unknown key is named: {said}");

    let (ok, said) = config_check(&[], Some("listen = \"127.0.0.1:9000\"\npartitions = 32\n"));
    assert!(ok, "{said}");
    assert!(said.contains("32 partitions"), "{said}");
    let (ok, said) = config_check(&[], None);
    assert!(ok, "no configuration at all is valid: {said}");
}

#[test]
fn config_check_reads_the_tls_files_of_the_broker_and_of_smtp() {
    let file = r#"
broker = "tls://127.0.0.1:4222"
broker_ca_file = "/nonexistent/broker-ca.pem"

[notify]
smtp = "smtp://127.0.0.1:587?tls=starttls"
smtp_ca_file = "/nonexistent/smtp-ca.pem"
"#;
    let (ok, said) = config_check(&[], Some(file));
    assert!(!ok, "{said}");
    assert!(said.contains("cannot read `/nonexistent/broker-ca.pem`"), "{said}");
    assert!(said.contains("smtp CA file `/nonexistent/smtp-ca.pem`"), "{said}");
    // A flag wins over the file, and a CA file is for a TLS broker only.
    let (ok, said) = config_check(&["--broker", "amqp://127.0.0.1:5672/%2f"], Some(file));
    assert!(!ok && said.contains("is for a TLS broker"), "{said}");
    let (ok, said) = config_check(&["--broker-client-cert", "/tmp/client.pem"], None);
    assert!(!ok && said.contains("--broker-client-key: give both"), "{said}");
}

#[test]
fn up_refuses_a_bad_configuration_naming_every_problem() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["up", "--listen", "nowhere", "--partitions", "0"])
        .output()
        .expect("run herald up");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(said.contains("listen: `nowhere`") && said.contains("partitions: 0"), "{said}");
}
