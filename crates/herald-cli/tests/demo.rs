//! `herald demo` as a user runs it: the reference shop end to end, on SQLite with nothing
//! installed and on PostgreSQL with RabbitMQ or NATS between the services. The summary is
//! counted from the database; the test checks the promised keys and that every event
//! reached every service, the services agree and each notification arrived once.

use std::process::Command;

use herald_testkit::TestDb;
use serde_json::Value;

/// Runs `herald demo --json` with `extra` arguments and returns its summary.
fn demo(extra: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["demo", "--orders", "150", "--rate", "0", "--customers", "12", "--json"])
        .args(extra)
        .output()
        .expect("run herald demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "herald demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {stdout}"))
}

/// What every run must show, whatever the database and broker.
fn check(summary: &Value, database: &str, transport: &str) {
    assert_eq!(summary["database"], database);
    assert_eq!(summary["transport"], transport);
    assert_eq!(summary["consistent"], true, "{summary:#}");
    assert_eq!(summary["problems"], serde_json::json!([]));
    assert_eq!(summary["commands"]["placed"], 150);
    assert_eq!(summary["shop"]["orders"], 150);
    // Each order yields at least `shop.order_placed` and inventory's answer.
    let produced = summary["produced"].as_u64().expect("produced");
    assert!(produced >= 300, "{summary:#}");
    assert_eq!(summary["delivered"], produced);
    assert_eq!(summary["lost"], 0);
    assert!(summary["duplicates_suppressed"].is_u64());
    // Eventual, and bounded: the settle timeout is 30 s; the services agree within a few.
    let agreed = summary["agreed_after_s"].as_f64().expect("agreed_after_s");
    assert!(agreed < 10.0, "the services took {agreed} s to agree: {summary:#}");
    assert!(summary["throughput_eps"].as_f64().is_some_and(|t| t > 0.0));
    for key in ["p50", "p99", "max"] {
        assert!(summary["latency_ms"][key].as_f64().is_some_and(|v| v > 0.0), "latency_ms.{key}");
    }
    let services = summary["services"].as_object().expect("services");
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(names, ["inventory", "notifications", "notify", "orders", "shipping"]);
    for (name, figures) in services {
        let subscribed = figures["subscribed"].as_u64().expect("subscribed");
        assert!(subscribed > 0, "{name} received nothing: {summary:#}");
        assert_eq!(figures["processed"], subscribed, "{name}: {summary:#}");
    }
    // Inventory hears of every order; the orders service cancels the rejected ones.
    assert_eq!(summary["services"]["inventory"]["handled"]["shop.order_placed"], 150);
    let rejected = summary["shop"]["rejected"].as_u64().expect("rejected");
    assert!(rejected >= 6, "every 25th order names an unknown sku: {summary:#}");
    assert_eq!(summary["services"]["orders"]["subscribed"], rejected);
    // Every shipped order was confirmed and announced: one webhook each, signed, received.
    let shipped = summary["shop"]["shipped"].as_u64().expect("shipped");
    assert!(shipped >= 50, "{summary:#}");
    let sent = summary["shop"]["notifications_sent"].as_u64().expect("notifications_sent");
    assert!(sent >= 2 * shipped, "{summary:#}");
    assert_eq!(summary["webhooks_received"], sent);
    assert_eq!(summary["events"]["herald.notify"], sent);
}

#[test]
fn the_demo_runs_the_shop_on_the_embedded_defaults() {
    check(&demo(&[]), "sqlite", "embedded log");
}

#[test]
fn the_demo_explains_itself_and_shows_the_services_at_work() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["demo", "--orders", "40", "--rate", "40", "--customers", "5"])
        .output()
        .expect("run herald demo");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(stderr.contains("the reference shop"), "{stderr}");
    for service in ["inventory", "orders", "shipping", "notifications", "notify"] {
        assert!(
            stderr.contains(&format!("  {service} ")),
            "the live view shows {service}: {stderr}"
        );
    }
    assert!(stdout.contains("lost                   0 (ok)"), "{stdout}");
    assert!(stdout.contains("consistency            ok"), "{stdout}");
}

/// `--database` and `--broker` move the shop to PostgreSQL and a broker, under a
/// namespace of the test's own, deleted afterwards.
async fn demo_over(broker_url: &str, transport: &str) {
    let test_db = TestDb::postgres("demo_broker").await;
    let namespace = herald_testkit::brokers::unique("demo").replace('_', "-");
    let summary =
        demo(&["--database", &test_db.url, "--broker", broker_url, "--namespace", &namespace]);
    let broker = herald_cli::transport::BrokerArgs {
        broker: Some(broker_url.into()),
        namespace,
        ..Default::default()
    };
    let mut groups = herald_shop::shop::GROUPS.to_vec();
    groups.push(herald_shop::shop::NOTIFY_GROUP);
    let cleanup = broker.open(&test_db.db, 8).expect("transport");
    cleanup.delete_topology(&groups).await.expect("delete the broker names");
    check(&summary, "postgres", transport);
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_postgres_and_rabbitmq() {
    demo_over(&herald_testkit::brokers::amqp_url(), "RabbitMQ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_postgres_and_nats() {
    demo_over(&herald_testkit::brokers::nats_url(), "NATS JetStream").await;
}

#[test]
fn bad_demo_arguments_are_refused_with_what_is_expected() {
    for (args, expected) in [
        (&["--customers", "0"][..], "--customers"),
        (&["--broker", "kafka://localhost"][..], "neither `amqp://…`"),
        (&["--database", "mysql://x"][..], "mysql"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("demo")
            .args(args)
            .output()
            .expect("run herald demo");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr.contains(expected), "{args:?} says `{expected}`: {stderr}");
    }
}
