//! The broker goes away in the middle of a 50,000-event run and comes back: no event is
//! lost, none is applied twice, and the relay publishes again within 5 s of the broker's
//! return. RabbitMQ is stopped and started (`rabbitmqctl stop_app` / `start_app`); the
//! NATS server is terminated and started again.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{TestConsumer, kill_hard, produce, settle, spawn_relay_with, wait_for_produced};
use herald_bench::workload::{self, OrderPlaced};
use herald_cli::transport::BrokerArgs;
use herald_envelope::Event;
use herald_testkit::brokers::{self, amqp_url, nats_url, unique};
use herald_testkit::{TestDb, wait_until};

const EVENTS: u64 = 50_000;

async fn broker_restarted_mid_run(url: &str, stop: fn(), start: fn()) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let test_db = TestDb::postgres("broker_restart").await;
    let db = test_db.db.clone();
    let herald_db::Database::Postgres(pool) = db.clone() else { unreachable!() };
    workload::create_tables(&db, &db).await.expect("tables");
    let namespace = unique("restart").replace('_', "-");
    let broker = BrokerArgs {
        broker: Some(url.into()),
        namespace: namespace.clone(),
        ..BrokerArgs::default()
    };
    let transport = broker.open(&db, 16).expect("transport");
    let pattern = OrderPlaced::routing_key().parse().expect("pattern");
    transport.declare_group("shipping", &[pattern]).await.expect("declare");
    let run = "restart";
    let consumer = TestConsumer::start_on(&db, run, Arc::clone(&transport.subscriber));
    let relay_args = ["--broker", url, "--namespace", &namespace, "--retention-secs", "3600"];
    let mut relay = spawn_relay_with(&test_db.url, "relay", 0, &relay_args);
    let produced = Arc::new(AtomicU64::new(0));
    let producers = produce(&db, run, EVENTS, 4, &produced);

    wait_for_produced(&produced, 15_000).await;
    tokio::task::spawn_blocking(stop).await.expect("stop the broker");
    // Should anything below fail, the broker still comes back for the tests after this one.
    let mut outage = Outage(Some(start));
    // Producers go on committing while the broker is away: the outbox holds their events.
    let at_stop = produced.load(Ordering::Relaxed);
    wait_for_produced(&produced, at_stop + 5_000).await;
    outage.0 = None;
    tokio::task::spawn_blocking(start).await.expect("start the broker");
    let returned_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT clock_timestamp()").fetch_one(&pool).await.expect("clock");

    wait_until(Duration::from_secs(30), "the relay to publish after the broker's return", || {
        let pool = pool.clone();
        async move { first_sent_after(&pool, returned_at).await.is_some() }
    })
    .await;
    let first_sent =
        first_sent_after(&pool, returned_at).await.expect("a row sent after the return");
    let resume = (first_sent - returned_at).to_std().unwrap_or_default();

    assert_eq!(producers.await.expect("producers"), EVENTS);
    let verification = settle(&db, run, Duration::from_secs(240)).await;
    kill_hard(&mut relay);
    let duplicates = consumer.stats.duplicates_suppressed.load(Ordering::Relaxed);
    consumer.stop().await;
    transport.delete_topology(&["shipping"]).await.expect("delete the test's broker names");
    eprintln!(
        "broker restart ({url}): relay resumed {resume:?} after the broker's return; {duplicates} redeliveries suppressed; {verification:?}"
    );
    assert_eq!(verification.produced, EVENTS as i64);
    assert_eq!(verification.lost, 0, "{verification:?}");
    assert_eq!(
        verification.applied_twice, 0,
        "the inbox applies each event once: {verification:?}"
    );
    assert!(
        resume < Duration::from_secs(5),
        "the relay resumed {resume:?} after the broker's return"
    );
    test_db.cleanup().await;
}

/// Starts the broker again when dropped during an outage.
struct Outage(Option<fn()>);

impl Drop for Outage {
    fn drop(&mut self) {
        if let Some(start) = self.0.take() {
            start();
        }
    }
}

/// When the relay first marked a row sent after `time`.
async fn first_sent_after(
    pool: &sqlx::PgPool,
    time: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let micros: Option<i64> =
        sqlx::query_scalar("SELECT min(sent_at) FROM herald_outbox WHERE sent_at > $1")
            .bind(time.timestamp_micros())
            .fetch_one(pool)
            .await
            .expect("query the outbox");
    micros.and_then(chrono::DateTime::from_timestamp_micros)
}

/// One broker outage at a time: the two runs would share the machine's two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restarted_during_50k_events_loses_nothing() {
    broker_restarted_mid_run(&amqp_url(), brokers::stop_rabbitmq, brokers::start_rabbitmq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_during_50k_events_loses_nothing() {
    broker_restarted_mid_run(&nats_url(), brokers::stop_nats, brokers::start_nats).await;
}
