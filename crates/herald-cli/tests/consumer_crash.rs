//! The consumer process is killed with SIGKILL again and again, mid-handler: every event
//! is still applied, and none twice, because the inbox row and the effect commit together
//! and the transport forgets a delivery only after that commit. On the embedded log and
//! on RabbitMQ (where the unacknowledged deliveries of the killed process are redelivered).

mod common;

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use common::{child_stderr, kill_hard, produce, settle, spawn_relay_with, wait_for_produced};
use herald_bench::workload::{self, OrderPlaced};
use herald_cli::transport::BrokerArgs;
use herald_envelope::Event;
use herald_testkit::TestDb;
use herald_testkit::brokers::{amqp_url, unique};

fn spawn_consumer(url: &str, broker: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["shop-consumer", "--database", url, "--member", "shipping-1"])
        // Each handler waits 1 ms inside its transaction: kills land mid-handler.
        .args(["--handler-delay-ms", "1"])
        .args(broker)
        .stdout(std::process::Stdio::null())
        .stderr(child_stderr())
        .spawn()
        .expect("start the shop consumer")
}

async fn consumer_killed_five_times(broker: Option<String>) {
    let test_db = TestDb::postgres("consumer_crash").await;
    let db = test_db.db.clone();
    workload::create_tables(&db, &db).await.expect("tables");
    let namespace = unique("crash").replace('_', "-");
    let mut broker_args: Vec<String> = Vec::new();
    if let Some(url) = &broker {
        broker_args = vec!["--broker".into(), url.clone(), "--namespace".into(), namespace.clone()];
    }
    let args: Vec<&str> = broker_args.iter().map(String::as_str).collect();
    let transport = BrokerArgs { broker: broker.clone(), namespace, ..BrokerArgs::default() }
        .open(&db, 16)
        .expect("transport");
    let pattern = OrderPlaced::routing_key().parse().expect("pattern");
    transport.declare_group("shipping", &[pattern]).await.expect("declare");
    let run = "consumer-crash";
    let mut relay = spawn_relay_with(&test_db.url, "relay", 0, &args);
    let mut consumer = spawn_consumer(&test_db.url, &args);
    let events = 20_000;
    let produced = Arc::new(AtomicU64::new(0));
    let producers = produce(&db, run, events, 2, &produced);
    let mut applied_at_kills = Vec::new();
    for threshold in [3_000, 6_000, 9_000, 12_000, 15_000] {
        wait_for_produced(&produced, threshold).await;
        applied_at_kills.push(workload::verify(&db, &db, run).await.expect("verify").delivered);
        kill_hard(&mut consumer);
        consumer = spawn_consumer(&test_db.url, &args);
    }
    assert_eq!(producers.await.expect("producers"), events);
    let verification = settle(&db, run, Duration::from_secs(180)).await;
    kill_hard(&mut consumer);
    kill_hard(&mut relay);
    transport.delete_topology(&["shipping"]).await.expect("delete the test's broker names");
    assert!(
        applied_at_kills.windows(2).all(|pair| pair[0] < pair[1]),
        "every restarted consumer was applying events when it was killed: {applied_at_kills:?}"
    );
    assert_eq!(verification.produced, events as i64);
    assert_eq!(verification.lost, 0, "{verification:?}");
    assert_eq!(
        verification.applied_twice, 0,
        "the inbox applies each event once: {verification:?}"
    );
    assert_eq!(verification.order_violations, 0, "{verification:?}");
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_consumer_killed_five_times_applies_every_event_exactly_once() {
    consumer_killed_five_times(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_consumer_killed_five_times_mid_handler_applies_every_event_exactly_once() {
    consumer_killed_five_times(Some(amqp_url())).await;
}
