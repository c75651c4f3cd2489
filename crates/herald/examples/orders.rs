//! Enqueue, relay and consume with the `herald` crate: an orders service commits each
//! order and its `OrderPlaced` event in one transaction; a billing service invoices each
//! order exactly once, in its own transaction, with a handler written once for both
//! databases.
//!
//! ```sh
//! cargo run -p herald --example orders                                   # embedded SQLite
//! cargo run -p herald --example orders -- postgres://postgres@127.0.0.1/herald_example \
//!     amqp://guest:guest@127.0.0.1:5672/%2f                               # or nats://127.0.0.1:4222
//! ```

use std::time::Duration;

use herald::prelude::*;
use herald::{ConsumerConfig, Statement};
use serde::{Deserialize, Serialize};

/// The orders service's event: an order was placed.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlaced {
    /// The order.
    order_id: String,
    /// Its amount in cents.
    cents: i64,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "example.order_placed";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.order_id.clone()
    }
}

/// The orders service: the order row and its event commit together or not at all.
async fn place_order(herald: &Herald, order: &OrderPlaced) -> Result<(), herald::Error> {
    if let herald::Database::Sqlite(_) = herald.database() {
        return place_order_embedded(herald, order.clone()).await;
    }
    let mut tx = herald.begin().await?;
    tx.execute(
        Statement::new("INSERT INTO example_orders (order_id, cents) VALUES ($1, $2)")
            .bind(&order.order_id)
            .bind(order.cents),
    )
    .await?;
    tx.enqueue_event("/examples/orders", order).await?;
    tx.commit().await
}

/// The same on embedded SQLite's fast path: the transaction is a closure on the writer
/// thread, over `rusqlite`; transactions arriving together share one commit.
async fn place_order_embedded(herald: &Herald, order: OrderPlaced) -> Result<(), herald::Error> {
    herald
        .write(move |tx| {
            tx.prepare_cached("INSERT INTO example_orders (order_id, cents) VALUES (?1, ?2)")?
                .execute((&order.order_id, order.cents))?;
            tx.enqueue_event("/examples/orders", &order)?;
            Ok(())
        })
        .await
}

/// The billing service's handler: one invoice per order, written in the consumer's
/// transaction, which also records the event in the inbox. One body for both databases.
struct RecordInvoice;

#[async_trait]
impl<DB: Backend> Handler<OrderPlaced, DB> for RecordInvoice {
    async fn handle(
        &self,
        order: OrderPlaced,
        ctx: HandlerContext<'_, DB>,
    ) -> Result<(), HandlerError> {
        Statement::new(
            "INSERT INTO example_invoices (order_id, cents, event_id) VALUES ($1, $2, $3)",
        )
        .bind(&order.order_id)
        .bind(order.cents)
        .bind(ctx.envelope.id.to_string())
        .execute::<DB>(ctx.tx)
        .await?;
        Ok(())
    }
}

/// The billing service's routes.
struct Billing;

impl Routes for Billing {
    fn routes<DB: Backend>(&self) -> Router<DB> {
        Router::new().on::<OrderPlaced, _>(RecordInvoice)
    }
}

/// What a run did, counted from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Orders committed.
    pub(crate) orders: i64,
    /// Invoices written (one per order: the inbox drops redeliveries).
    pub(crate) invoices: i64,
    /// Cents ordered and cents invoiced.
    pub(crate) cents: (i64, i64),
}

/// Places `orders` orders and waits until billing has invoiced each of them (at most
/// `timeout`). `namespace` names the broker's exchange, queues or stream.
pub(crate) async fn run(
    database_url: &str,
    broker_url: Option<&str>,
    namespace: &str,
    orders: i64,
    timeout: Duration,
) -> anyhow::Result<Summary> {
    let herald = Herald::builder()
        .database(database_url)
        .broker_url(broker_url.map(str::to_owned))
        .namespace(namespace)
        .build()
        .await?;
    for table in [
        "CREATE TABLE IF NOT EXISTS example_orders (order_id TEXT PRIMARY KEY, cents BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS example_invoices (order_id TEXT PRIMARY KEY, cents BIGINT NOT NULL, event_id TEXT NOT NULL)",
    ] {
        let mut tx = herald.begin().await?;
        tx.execute(Statement::new(table)).await?;
        tx.commit().await?;
    }
    herald.declare("billing", &Billing).await?;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let relay = tokio::spawn(herald.relay().run(until_stopped(stopped.clone())));
    let consumer = herald.consumer(ConsumerConfig::new("billing"), &Billing);
    let consumer = tokio::spawn(consumer.run(until_stopped(stopped)));

    for n in 0..orders {
        let order = OrderPlaced { order_id: format!("order-{n}"), cents: 100 + n };
        place_order(&herald, &order).await?;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let summary = loop {
        let summary = count(&herald).await?;
        if summary.invoices >= summary.orders || tokio::time::Instant::now() >= deadline {
            break summary;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.send_replace(true);
    relay.await??;
    consumer.await??;
    herald.transport().delete_topology(&["billing"]).await?;
    herald.close().await;
    Ok(summary)
}

async fn count(herald: &Herald) -> Result<Summary, herald::Error> {
    let mut tx = herald.begin().await?;
    let (orders, ordered): (i64, i64) = tx
        .fetch_optional(Statement::new(
            "SELECT count(*), CAST(coalesce(sum(cents), 0) AS BIGINT) FROM example_orders",
        ))
        .await?
        .unwrap_or_default();
    let (invoices, invoiced): (i64, i64) = tx
        .fetch_optional(Statement::new(
            "SELECT count(*), CAST(coalesce(sum(cents), 0) AS BIGINT) FROM example_invoices",
        ))
        .await?
        .unwrap_or_default();
    tx.rollback().await?;
    Ok(Summary { orders, invoices, cents: (ordered, invoiced) })
}

#[allow(dead_code, reason = "the tests include this file for `run` and call it themselves")]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let database_url = args.next().unwrap_or_else(|| "sqlite://herald-example.db".into());
    let broker_url = args.next();
    let summary =
        run(&database_url, broker_url.as_deref(), "herald-example", 100, Duration::from_secs(30))
            .await?;
    println!(
        "{} orders, {} invoices ({} cents ordered, {} invoiced)",
        summary.orders, summary.invoices, summary.cents.0, summary.cents.1
    );
    anyhow::ensure!(summary.orders == summary.invoices, "billing did not invoice every order");
    Ok(())
}
