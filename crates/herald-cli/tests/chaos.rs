//! `herald chaos` as users run it, in short forms: on SQLite, PostgreSQL, and PostgreSQL
//! with RabbitMQ and NATS JetStream, the relay or the consumer process is SIGKILLed during
//! the run, the consumer is slowed far below the producers, and (with a broker) the
//! relay's connections to the broker are cut or stalled by the tool's proxy; the JSON
//! report counts every event (the tool counts from the databases: the test checks those
//! counts against its own plan) and shows nothing lost, nothing applied twice, no key out
//! of order, and events committed after each fault delivered soon after it. On SQLite,
//! the disk holding the database fills up; with two relays and two consumers, killing
//! one of them holds no event back for long. Restarting the broker itself is in
//! `chaos_broker_restart.rs`, restarting PostgreSQL in `chaos_database_restart.rs`.

mod common;

use std::process::Command;

use common::chaos::{EVENTS, SmallFilesystem, assert_held, chaos};
use herald_testkit::TestDb;
use herald_testkit::brokers::{amqp_url, nats_url, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_sqlite_loses_nothing() {
    let test = TestDb::sqlite("chaos").await;
    for scenario in ["relay-kill", "consumer-kill"] {
        assert_held(scenario, &chaos(scenario, &test.url, &[]));
    }
    test.cleanup().await;
}

#[test]
fn a_full_disk_under_sqlite_loses_nothing() {
    let Some(filesystem) = SmallFilesystem::mount(64) else { return };
    let database = filesystem.sqlite_url("chaos.db");
    let report = chaos("disk-full", &database, &["--outage-secs", "1"]);
    assert_held("disk-full", &report);
    // The fault reached the producers: their transactions failed and were tried again.
    let retries = report["producer_retries"].as_u64().expect("producer_retries");
    assert!(retries > 0, "no producer transaction failed while the disk was full: {report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_on_postgres_loses_nothing() {
    let test = TestDb::postgres("chaos").await;
    assert_held("relay-kill", &chaos("relay-kill", &test.url, &[]));
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_through_rabbitmq_loses_nothing() {
    let test = TestDb::postgres("chaos_rabbitmq").await;
    let namespace = unique("chaos").replace('_', "-");
    let broker = ["--broker", &amqp_url(), "--namespace", &namespace];
    for scenario in ["relay-kill", "consumer-kill", "network-cut"] {
        assert_held(scenario, &chaos(scenario, &test.url, &broker));
    }
    assert_stall_held(&test.url, &broker);
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_through_nats_loses_nothing() {
    let test = TestDb::postgres("chaos_nats").await;
    let namespace = unique("chaos").replace('_', "-");
    let broker = ["--broker", &nats_url(), "--namespace", &namespace];
    // Not the consumer scenarios: JetStream redelivers a stopped member's unacknowledged
    // messages only after the ack wait, after later ones (RELIABILITY.md).
    for scenario in ["relay-kill", "network-cut"] {
        assert_held(scenario, &chaos(scenario, &test.url, &broker));
    }
    assert_stall_held(&test.url, &broker);
    test.cleanup().await;
}

/// Two relays and two consumers, orders at 500/s: killing any one process (one at a
/// time, the others going on) holds no event back for long (RELIABILITY.md's bar is
/// 5 s; a killed relay's leases expire after 3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_of_each_process_one_killed_holds_no_event_back_for_long() {
    let test = TestDb::postgres("chaos_availability").await;
    let namespace = unique("chaos").replace('_', "-");
    let args = ["--broker", &amqp_url(), "--namespace", &namespace];
    let args = [&args[..], &["--relays", "2", "--consumers", "2", "--rate", "500"]].concat();
    for scenario in ["relay-kill", "consumer-kill"] {
        let report = chaos(scenario, &test.url, &args);
        assert_held(scenario, &report);
        assert_eq!(
            (report["relays"].as_u64(), report["consumer_processes"].as_u64()),
            (Some(2), Some(2)),
            "{report}"
        );
        let longest = report["max_latency_ms"].as_i64().expect("max_latency_ms");
        assert!(longest < 8_000, "{scenario}: an event waited {longest} ms: {report}");
    }
    test.cleanup().await;
}

/// Stalls of 11 s, longer than the relay's 10 s publish timeout: what it had in flight
/// times out and goes out again while the first copies are still held in the proxy.
fn assert_stall_held(database: &str, broker: &[&str]) {
    let stall = [broker, &["--outage-secs", "11"]].concat();
    assert_held("network-stall", &chaos("network-stall", database, &stall));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_grows_the_backlog_not_the_memory() {
    let test = TestDb::postgres("chaos_slow").await;
    let report = chaos("slow-consumer", &test.url, &["--outage-secs", "2"]);
    assert_held("slow-consumer", &report);
    // The producers commit everything while the consumer takes 20 ms an event: most of
    // the run waits in the log, none of it in the consumer's memory (checked above).
    let backlog = report["peak_backlog"].as_u64().expect("peak_backlog");
    assert!(backlog >= EVENTS / 4, "the backlog never grew: {report}");
    test.cleanup().await;
}

#[test]
fn an_unknown_scenario_is_refused_by_name() {
    let output = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["chaos", "--database", "sqlite://unused.db", "--scenario", "meteor"])
        .output()
        .expect("run herald chaos");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("meteor") && stderr.contains("network-cut"), "{stderr}");
}

#[test]
fn a_scenario_the_flags_cannot_serve_is_refused_with_what_it_needs() {
    let refusal = |args: &[&str]| {
        let database = match args.contains(&"--database") {
            true => &[][..],
            false => &["--database", "sqlite://unused.db"][..],
        };
        let output = Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("chaos")
            .args(database)
            .args(args)
            .env_remove("HERALD_BROKER_URL")
            .output()
            .expect("run herald chaos");
        assert!(!output.status.success(), "{args:?} ran");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refusal(&["--scenario", "network-stall"]);
    assert!(stderr.contains("network-stall needs --broker"), "{stderr}");
    let broker = ["--broker", "amqp://127.0.0.1:1/%2f", "--scenario", "broker-restart"];
    let stderr = refusal(&broker);
    assert!(stderr.contains("--broker-stop-cmd and --broker-start-cmd"), "{stderr}");
    let stderr = refusal(&["--broker-stop-cmd", "true"]);
    assert!(stderr.contains("--broker-start-cmd"), "{stderr}");
    let stderr = refusal(&["--scenario", "database-restart"]);
    assert!(stderr.contains("--database-stop-cmd and --database-start-cmd"), "{stderr}");
    let postgres = ["--database", "postgres://127.0.0.1:1/none", "--scenario", "disk-full"];
    let stderr = refusal(&postgres);
    assert!(stderr.contains("disk-full needs an SQLite --database"), "{stderr}");
    let nats = ["--broker", "nats://127.0.0.1:1", "--consumers", "2"];
    let stderr = refusal(&nats);
    assert!(stderr.contains("--consumers 2") && stderr.contains("NATS"), "{stderr}");
    let stderr = refusal(&["--outage-secs", "0"]);
    assert!(stderr.contains("outside 0.1 to 600 seconds"), "{stderr}");
    assert!(!std::path::Path::new("unused.db").exists(), "a refused run created its database");
}
