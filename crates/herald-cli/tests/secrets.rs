//! Secrets never reach the logs nor the API's answers: `herald up` runs with debug logs,
//! a database password in its URL, full and read-only tokens and a webhook secret; the
//! test makes it refuse a wrong token, store a subscription whose endpoint carries a key
//! in its query, list it, and stop; then it greps everything the process printed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use herald_testkit::TestDb;

const TOKEN: &str = "full-token-SECRET-0123456789";
const READ_TOKEN: &str = "read-token-SECRET-0123456789";
const WRONG_TOKEN: &str = "wrong-token-SECRET-0123456789";
const DB_PASSWORD: &str = "db-password-SECRET-0123";
const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LWtleS1vZi10aGUtd2ViaG9vay1TRUNSRVQ=";
const QUERY_KEY: &str = "query-key-SECRET-0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_printed_or_answered() {
    let test = TestDb::postgres("secrets").await;
    let url = test.url.replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1);
    assert!(url.contains(DB_PASSWORD), "the URL carries the password: {}", test.url);
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["up", "--listen", "127.0.0.1:0", "--database", &url])
        .args(["--token", TOKEN, "--read-token", READ_TOKEN, "--webhook-secret", WEBHOOK_SECRET])
        .env("HERALD_LOG", "debug")
        .env_remove("HERALD_API_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald up");
    let (lines, printed) = mpsc::channel::<String>();
    for pipe in [
        Box::new(child.stderr.take().expect("stderr")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stdout.take().expect("stdout")),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
    }
    drop(lines);
    let mut output = Vec::new();
    let base = loop {
        let line = printed.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("herald up did not announce itself: {output:#?}")
        });
        let address = line.strip_prefix("Herald is up on ").map(|a| a.trim().to_owned());
        output.push(line);
        if let Some(address) = address {
            break address;
        }
    };

    let http = reqwest::Client::new();
    let refused = http.get(format!("{base}/api/dlq")).bearer_auth(WRONG_TOKEN).send().await;
    assert_eq!(refused.expect("GET").status().as_u16(), 401);
    let endpoint = format!("https://hooks.example/in?key={QUERY_KEY}");
    let body = serde_json::json!({ "service": "billing", "pattern": "#", "endpoint": endpoint });
    let created = http
        .post(format!("{base}/api/subscriptions"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(created.status().as_u16(), 201);
    let created = created.text().await.expect("body");
    assert!(!created.contains(QUERY_KEY), "the endpoint's key is answered: {created}");
    let listed = http.get(format!("{base}/api/subscriptions")).bearer_auth(READ_TOKEN).send();
    let listed = listed.await.expect("GET").text().await.expect("body");
    assert!(listed.contains("key=***"), "{listed}");
    let overview = http.get(format!("{base}/api/overview")).send().await.expect("GET");
    let overview = overview.text().await.expect("body");

    let stop = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(stop.expect("kill -TERM").success());
    let stopped = child.wait().expect("herald up stops");
    assert!(stopped.success(), "{stopped}");
    output.extend(printed.iter());
    let printed = output.join("\n");
    assert!(printed.contains("Stopped."), "everything it printed was read: {printed}");
    for secret in [TOKEN, READ_TOKEN, WRONG_TOKEN, DB_PASSWORD, WEBHOOK_SECRET, QUERY_KEY] {
        assert!(!printed.contains(secret), "`{secret}` was printed:\n{printed}");
        for answer in [&listed, &overview] {
            assert!(!answer.contains(secret), "`{secret}` was answered: {answer}");
        }
    }
    test.cleanup().await;
}
