//! `herald bench` and other commands as processes: bad input is refused with a clear
//! error, and the benchmark's JSON summary keeps its promises, on the embedded log,
//! RabbitMQ and NATS.

mod common;

use std::process::Command;

use herald_testkit::TestDb;

#[test]
fn malformed_database_urls_are_refused_by_every_command() {
    for args in [
        vec!["relay", "--database", "nonsense"],
        vec!["bench", "--events", "1", "--database", "mysql://root@127.0.0.1/test"],
        vec!["outbox", "status", "--database", "postgres:/missing-slashes"],
    ] {
        let output =
            Command::new(env!("CARGO_BIN_EXE_herald")).args(&args).output().expect("run herald");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr.contains("invalid database URL"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("expected `postgres://"),
            "{args:?} says what is expected: {stderr}"
        );
    }
}

#[test]
fn bad_broker_settings_are_refused_with_what_is_expected() {
    for (args, expected) in [
        (vec!["declare", "--group", "Bad Name", "--pattern", "#"], "invalid --group `Bad Name`"),
        (vec!["declare", "--group", "ok", "--pattern", "a..b"], "--pattern `a..b`"),
        (
            vec!["declare", "--group", "ok", "--pattern", "#", "--broker", "kafka://x"],
            "neither `amqp://",
        ),
        (
            vec!["declare", "--group", "ok", "--pattern", "#", "--namespace", "Nope!"],
            "--namespace `Nope!`",
        ),
        (vec!["dlq", "replay", "--database", "sqlite::memory:"], "say what to replay"),
        (vec!["dlq", "list"], "pass --database URL or set HERALD_DATABASE_URL"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(&args)
            .env_remove("HERALD_DATABASE_URL")
            .env_remove("HERALD_BROKER_URL")
            .output()
            .expect("run herald");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr.contains(expected), "{args:?} says `{expected}`: {stderr}");
    }
}

#[test]
fn bench_json_reports_the_promised_keys() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--events", "300", "--rate", "0", "--events-per-tx", "4", "--json"])
        .output()
        .expect("run herald bench");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["produced"], 300);
    assert_eq!(summary["delivered"], 300);
    assert_eq!(summary["events_per_tx"], 4);
    assert_eq!(summary["transport"], "embedded log");
    assert_eq!(summary["order_violations"], 0);
    assert_eq!(summary["lost"], 0);
    assert!(summary["duplicates_suppressed"].is_u64());
    assert!(summary["throughput_eps"].as_f64().is_some_and(|t| t > 0.0));
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(summary["latency_ms"][key].as_f64().is_some_and(|v| v > 0.0), "latency_ms.{key}");
        let publish = &summary["commit_to_publish_ms"][key];
        assert!(publish.as_f64().is_some_and(|v| v > 0.0), "commit_to_publish_ms.{key}");
    }
    let stages = &summary["stages"];
    let batches = stages["relay_batches"].as_f64().expect("relay batches");
    let per_batch = stages["events_per_relay_batch"].as_f64().expect("events per batch");
    assert!((batches * per_batch - 300.0).abs() < 1e-6, "the batches carried every event");
    let rounds = stages["consumer_rounds"].as_f64().expect("consumer rounds");
    let per_round = stages["events_per_consumer_round"].as_f64().expect("events per round");
    assert!((rounds * per_round - 300.0).abs() < 1e-6, "the rounds handled every event");
    assert!(stages["consumer_transactions"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(summary["producer_api"], "rusqlite", "SQLite's fastest path by default");
    let rss = &summary["rss_mb"];
    let (first, max, last) = (rss["first"].as_f64(), rss["max"].as_f64(), rss["last"].as_f64());
    assert!(first.is_some_and(|mb| mb > 1.0), "the process's memory was sampled: {rss}");
    assert!(max >= first && max >= last, "the largest sample is the largest: {rss}");
}

/// Several relays and consumer group members share the work: every event is applied once,
/// in order per key, on the embedded log and over RabbitMQ.
#[tokio::test]
async fn bench_with_several_relays_and_consumers_keeps_every_guarantee() {
    let test_db = TestDb::postgres("bench_scale").await;
    let namespace = herald_testkit::brokers::unique("scale").replace('_', "-");
    let amqp = herald_testkit::brokers::amqp_url();
    let runs: [&[&str]; 2] =
        [&[], &["--database", &test_db.url, "--broker", &amqp, "--namespace", &namespace]];
    for extra in runs {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["bench", "--events", "3000", "--relays", "3", "--consumers", "2", "--json"])
            .args(extra)
            .output()
            .expect("run herald bench");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("JSON summary");
        assert_eq!(summary["delivered"], 3000, "{summary}");
        assert_eq!(summary["lost"], 0, "{summary}");
        assert_eq!(summary["applied_twice"], 0, "{summary}");
        assert_eq!(summary["order_violations"], 0, "{summary}");
        assert_eq!((summary["relays"].as_u64(), summary["consumers"].as_u64()), (Some(3), Some(2)));
        let relayed = summary["stages"]["relay_batches"].as_f64().unwrap_or_default()
            * summary["stages"]["events_per_relay_batch"].as_f64().unwrap_or_default();
        assert!((relayed - 3000.0).abs() < 1e-6, "the relays together carried every event");
    }
    test_db.cleanup().await;
}

/// On NATS JetStream, group members do not keep one key's order: the bench refuses
/// `--consumers` above 1 there instead of reporting order violations it caused.
#[tokio::test]
async fn several_consumers_on_a_transport_that_does_not_keep_key_order_are_refused() {
    let test_db = TestDb::postgres("bench_scale_nats").await;
    let namespace = herald_testkit::brokers::unique("scale").replace('_', "-");
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--events", "10", "--consumers", "2", "--database", &test_db.url])
        .args(["--broker", &herald_testkit::brokers::nats_url(), "--namespace", &namespace])
        .output()
        .expect("run herald bench");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("do not keep one key's order"), "{stderr}");
    test_db.cleanup().await;
}

/// `herald bench --broker …` runs the same path over a real broker, with the same summary.
async fn bench_over_a_broker(url: &str, transport: &str) {
    let test_db = TestDb::postgres("bench_broker").await;
    let namespace = herald_testkit::brokers::unique("bench").replace('_', "-");
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--events", "500", "--rate", "0", "--events-per-tx", "2", "--json"])
        .args(["--database", &test_db.url, "--broker", url, "--namespace", &namespace])
        .output()
        .expect("run herald bench");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_nothing_left_behind(&test_db).await;
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["transport"], transport);
    assert_eq!(summary["database"], "postgres");
    assert_eq!(summary["produced"], 500);
    assert_eq!(summary["delivered"], 500);
    assert_eq!(summary["lost"], 0);
    assert_eq!(summary["applied_twice"], 0);
    assert_eq!(summary["order_violations"], 0);
    assert!(summary["latency_ms"]["p99"].as_f64().is_some_and(|v| v > 0.0));
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_over_rabbitmq() {
    bench_over_a_broker(&herald_testkit::brokers::amqp_url(), "RabbitMQ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_over_nats() {
    bench_over_a_broker(&herald_testkit::brokers::nats_url(), "NATS JetStream").await;
}

/// `herald bench --baseline broker` publishes with confirms straight to the broker and
/// consumes, with no database: every message arrives, counted.
fn broker_baseline_counts_every_message(url: &str, transport: &str) {
    let namespace = herald_testkit::brokers::unique("baseline").replace('_', "-");
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--baseline", "broker", "--events", "1000", "--rate", "0", "--json"])
        .args(["--broker", url, "--namespace", &namespace])
        .output()
        .expect("run herald bench --baseline broker");
    assert_counted_every_message(&output, transport, 1000);
}

/// A yardstick's `--json` result: every one of `events` published and delivered once
/// over `transport`, with a throughput and ordered latencies.
fn assert_counted_every_message(output: &std::process::Output, transport: &str, events: u64) {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON result");
    assert_eq!(result["transport"], transport);
    assert_eq!(result["published"], events);
    assert_eq!(result["delivered"], events);
    assert_eq!(result["lost"], 0);
    assert!(result["duplicates_delivered"].is_u64());
    assert!(result["throughput_eps"].as_f64().is_some_and(|t| t > 0.0));
    let latency = |key: &str| result["latency_ms"][key].as_f64().expect("a latency");
    assert!(0.0 < latency("p50") && latency("p50") <= latency("p99"));
    assert!(latency("p99") <= latency("max"));
}

#[test]
fn broker_baseline_over_rabbitmq() {
    broker_baseline_counts_every_message(&herald_testkit::brokers::amqp_url(), "RabbitMQ");
}

#[test]
fn broker_baseline_over_nats() {
    broker_baseline_counts_every_message(&herald_testkit::brokers::nats_url(), "NATS JetStream");
}

#[test]
fn baseline_alone_is_the_producers_and_the_others_need_a_broker() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--baseline", "--events", "100", "--json"])
        .output()
        .expect("run herald bench --baseline");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON result");
    assert_eq!(result["committed"], 100);
    assert_eq!(result["database"], "sqlite");

    for kind in ["broker", "naive"] {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["bench", "--baseline", kind, "--events", "10"])
            .output()
            .expect("run herald bench --baseline");
        assert!(!output.status.success(), "--baseline {kind} without a broker");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--broker amqp://"), "{stderr}");
    }
}

/// `herald bench --baseline naive` runs the hand-written relay on PostgreSQL and a broker:
/// every order arrives, and its tables are gone afterwards.
async fn naive_baseline_counts_every_message(url: &str, transport: &str) {
    let test_db = TestDb::postgres("naive_baseline").await;
    let namespace = herald_testkit::brokers::unique("naive").replace('_', "-");
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--baseline", "naive", "--events", "1000", "--json"])
        .args(["--database", &test_db.url, "--broker", url, "--namespace", &namespace])
        .output()
        .expect("run herald bench --baseline naive");
    assert_counted_every_message(&output, transport, 1000);
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'naive_%'",
    )
    .fetch_one(&mut *test_db_connection(&test_db).await)
    .await
    .expect("count tables");
    assert_eq!(left, 0, "the naive relay's tables are dropped");
    test_db.cleanup().await;
}

/// A bench run works in a schema of its own and drops it: neither the schema nor the
/// workload's tables remain in the database it was given.
async fn assert_nothing_left_behind(test_db: &TestDb) {
    let mut conn = test_db_connection(test_db).await;
    let schemas: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'herald_bench_%'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("count schemas");
    assert_eq!(schemas, 0, "the run's schema is dropped");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'shop_orders'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("count tables");
    assert_eq!(tables, 0, "no workload table is left in the database given");
}

/// `herald bench --compare` runs Herald and every yardstick that applies, and reports
/// each yardstick's throughput and Herald's ratio to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_reports_every_yardstick_with_its_ratio() {
    let test_db = TestDb::postgres("bench_compare").await;
    let namespace = herald_testkit::brokers::unique("compare").replace('_', "-");
    let url = herald_testkit::brokers::amqp_url();
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--compare", "--events", "500", "--json"])
        .args(["--database", &test_db.url, "--broker", &url, "--namespace", &namespace])
        .output()
        .expect("run herald bench --compare");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(summary["delivered"], 500);
    assert_eq!(summary["lost"], 0);
    let herald = summary["throughput_eps"].as_f64().expect("Herald's throughput");
    for name in ["producers", "broker", "naive"] {
        let yardstick = &summary["baselines"][name];
        let throughput = yardstick["throughput_eps"].as_f64().expect("a throughput");
        assert!(throughput > 0.0, "{name}: {yardstick}");
        let ratio = yardstick["ratio"].as_f64().expect("a ratio");
        assert!((ratio - herald / throughput).abs() < 1e-6, "{name}: {ratio}");
    }
    assert_eq!(summary["baselines"]["broker"]["lost"], 0);
    assert_eq!(summary["baselines"]["naive"]["lost"], 0);
    assert_nothing_left_behind(&test_db).await;
    test_db.cleanup().await;
}

async fn test_db_connection(test_db: &TestDb) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    let herald_db::Database::Postgres(pool) = &test_db.db else { unreachable!("PostgreSQL") };
    pool.acquire().await.expect("a connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_baseline_over_rabbitmq() {
    naive_baseline_counts_every_message(&herald_testkit::brokers::amqp_url(), "RabbitMQ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_baseline_over_nats() {
    naive_baseline_counts_every_message(&herald_testkit::brokers::nats_url(), "NATS JetStream")
        .await;
}

/// `herald bench --drain` fills the outbox behind a history of sent rows, drains it with
/// the relay alone and counts every event at the other end; the history stays as it was.
#[test]
fn drain_relays_a_filled_outbox_behind_its_history_and_counts_every_event() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--drain", "--events", "2000", "--history", "5000", "--json"])
        .output()
        .expect("run herald bench --drain");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_drained(&summary, 2000, 5000);
    assert_eq!(summary["transport"], "embedded log");
    assert_eq!(summary["database"], "sqlite");
}

/// The same on PostgreSQL and RabbitMQ with `--compare`: the broker alone runs next, and
/// the ratio is the relay's throughput over the broker's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_compare_reports_the_ratio_to_the_broker_alone() {
    let test_db = TestDb::postgres("bench_drain").await;
    let namespace = herald_testkit::brokers::unique("drain").replace('_', "-");
    let url = herald_testkit::brokers::amqp_url();
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["bench", "--drain", "--compare", "--events", "1000", "--history", "3000"])
        .args(["--json", "--database", &test_db.url, "--broker", &url, "--namespace", &namespace])
        .output()
        .expect("run herald bench --drain --compare");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_drained(&summary, 1000, 3000);
    assert_eq!(summary["transport"], "RabbitMQ");
    let broker = &summary["baselines"]["broker"];
    let relay = summary["throughput_eps"].as_f64().expect("the relay's throughput");
    let alone = broker["throughput_eps"].as_f64().expect("the broker's throughput");
    assert!(alone > 0.0, "{broker}");
    let ratio = broker["ratio"].as_f64().expect("a ratio");
    assert!((ratio - relay / alone).abs() < 1e-6, "{ratio}");
    assert_eq!(broker["lost"], 0);
    assert_nothing_left_behind(&test_db).await;
    test_db.cleanup().await;
}

/// A drain's `--json`: every one of `rows` relayed and delivered, `history` kept apart.
fn assert_drained(summary: &serde_json::Value, rows: u64, history: u64) {
    assert_eq!(summary["rows"], rows);
    assert_eq!(summary["history"], history);
    assert_eq!(summary["relayed"], rows);
    assert_eq!(summary["delivered"], rows);
    assert_eq!(summary["lost"], 0);
    assert!(summary["duplicates_delivered"].is_u64());
    assert!(summary["throughput_eps"].as_f64().is_some_and(|t| t > 0.0));
    assert!(summary["relay_batches"].as_u64().is_some_and(|b| b > 0));
}

#[test]
fn drain_options_are_refused_where_they_cannot_apply() {
    for (args, expected) in [
        (vec!["bench", "--history", "10"], "--drain"),
        (vec!["bench", "--drain", "--compare", "--events", "10"], "give --broker"),
        (vec!["bench", "--drain", "--baseline", "broker"], "cannot be used with"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(&args)
            .env_remove("HERALD_BROKER_URL")
            .output()
            .expect("run herald bench");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr.contains(expected), "{args:?} says `{expected}`: {stderr}");
    }
}
