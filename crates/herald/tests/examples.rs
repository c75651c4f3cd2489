//! Each example of `examples/` runs here, on PostgreSQL and on SQLite (and over the real
//! brokers): what a user copies works.

use std::time::Duration;

use herald_testkit::TestDb;
use herald_testkit::brokers::{amqp_url, nats_url, unique};

#[path = "../examples/orders.rs"]
mod orders;

async fn every_order_is_invoiced_once(db: TestDb, broker: Option<String>) {
    let namespace = unique("example");
    let summary = orders::run(&db.url, broker.as_deref(), &namespace, 200, Duration::from_secs(30))
        .await
        .expect("the example runs");
    assert_eq!(summary.orders, 200, "{summary:?}");
    assert_eq!(summary.invoices, 200, "every order invoiced once: {summary:?}");
    assert_eq!(summary.cents.0, summary.cents.1, "{summary:?}");
    db.cleanup().await;
}

#[tokio::test]
async fn the_orders_example_runs_on_sqlite_with_the_embedded_log() {
    every_order_is_invoiced_once(TestDb::sqlite("example_sqlite").await, None).await;
}

#[tokio::test]
async fn the_orders_example_runs_on_postgres_with_the_embedded_log() {
    every_order_is_invoiced_once(TestDb::postgres("example_pg").await, None).await;
}

#[tokio::test]
async fn the_orders_example_runs_on_postgres_and_rabbitmq() {
    every_order_is_invoiced_once(TestDb::postgres("example_rabbit").await, Some(amqp_url())).await;
}

#[tokio::test]
async fn the_orders_example_runs_on_sqlite_and_nats() {
    every_order_is_invoiced_once(TestDb::sqlite("example_nats").await, Some(nats_url())).await;
}
