//! Projections: a read model caught up step by step while events are appended equals
//! the same projection rebuilt from scratch, and its checkpoint is the last position.

mod common;

use async_trait::async_trait;
use common::{OrderCancelled, OrderPlaced, cancelled, item, paid, placed};
use herald_db::{Database, Dialect, Statement};
use herald_eventstore::{
    EventStore, EventStoreBackend, ExpectedVersion, Projection, Projector, RecordedEvent, Result,
};
use herald_testkit::TestDb;

/// Orders per customer: placed, cancelled, and the sum of item amounts.
struct OrdersPerCustomer {
    name: &'static str,
    table: &'static str,
}

/// The customer and the changes one event makes to its row, if it concerns the model.
fn change_of(event: &RecordedEvent) -> Result<Option<(String, i64, i64, i64)>> {
    if let Some(placed) = event.decode::<OrderPlaced>()? {
        return Ok(Some((placed.customer, 1, 0, 0)));
    }
    if let Some(cancelled) = event.decode::<OrderCancelled>()? {
        return Ok(Some((cancelled.customer, 0, 1, 0)));
    }
    if let Some(item) = event.decode::<common::ItemAdded>()? {
        return Ok(Some((item.customer, 0, 0, item.amount)));
    }
    Ok(None)
}

#[async_trait]
impl<DB: Dialect> Projection<DB> for OrdersPerCustomer {
    fn name(&self) -> &str {
        self.name
    }

    async fn apply(&self, tx: &mut DB::Connection, event: &RecordedEvent) -> Result<()> {
        let Some((customer, placed, cancelled, total)) = change_of(event)? else {
            return Ok(());
        };
        let table = self.table;
        let sql = format!(
            "INSERT INTO {table} (customer, placed, cancelled, total) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (customer) DO UPDATE SET \
             placed = {table}.placed + excluded.placed, \
             cancelled = {table}.cancelled + excluded.cancelled, \
             total = {table}.total + excluded.total"
        );
        Statement::new(&sql)
            .bind(customer)
            .bind(placed)
            .bind(cancelled)
            .bind(total)
            .execute::<DB>(tx)
            .await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut DB::Connection) -> Result<()> {
        Statement::new(&format!("DELETE FROM {}", self.table)).execute::<DB>(tx).await?;
        Ok(())
    }
}

async fn create_tables(db: &Database) {
    for table in ["orders_live", "orders_rebuilt"] {
        let sql = format!(
            "CREATE TABLE {table} (customer TEXT PRIMARY KEY, placed BIGINT NOT NULL, \
             cancelled BIGINT NOT NULL, total BIGINT NOT NULL)"
        );
        db.writer().execute(Statement::new(&sql)).await.expect("create read model table");
    }
}

async fn rows(db: &Database, table: &str) -> Vec<(String, i64, i64, i64)> {
    let sql = format!("SELECT customer, placed, cancelled, total FROM {table} ORDER BY customer");
    db.reader().fetch_all(Statement::new(&sql)).await.expect("read model rows")
}

async fn catch_up(projector: &Projector, projection: &OrdersPerCustomer) -> u64 {
    match projector_backend(projector) {
        herald_db::Backend::Postgres => catch_up_on::<sqlx::Postgres>(projector, projection).await,
        herald_db::Backend::Sqlite => catch_up_on::<sqlx::Sqlite>(projector, projection).await,
    }
}

fn projector_backend(projector: &Projector) -> herald_db::Backend {
    projector.database().backend()
}

async fn catch_up_on<DB: EventStoreBackend>(
    projector: &Projector,
    projection: &OrdersPerCustomer,
) -> u64
where
    OrdersPerCustomer: Projection<DB>,
{
    projector.catch_up::<DB>(projection).await.expect("catch up")
}

async fn rebuild(projector: &Projector, projection: &OrdersPerCustomer) -> u64 {
    let rebuilt = match projector.database().backend() {
        herald_db::Backend::Postgres => projector.rebuild::<sqlx::Postgres>(projection).await,
        herald_db::Backend::Sqlite => projector.rebuild::<sqlx::Sqlite>(projection).await,
    };
    rebuilt.expect("rebuild")
}

/// Appends orders for three customers: placed, items, paid or cancelled.
async fn append_orders(store: EventStore, count: usize) -> usize {
    let mut appended = 0;
    for order in 0..count {
        let (order_id, customer) = (format!("order-{order}"), ["ann", "bob", "cyd"][order % 3]);
        let mut events = vec![placed(&order_id, customer), item(&order_id, customer, order as i64)];
        let last =
            if order % 4 == 0 { cancelled(&order_id, customer) } else { paid(&order_id, customer) };
        events.push(last);
        store.append(&order_id, ExpectedVersion::NoStream, &events).await.expect("append");
        appended += events.len();
    }
    appended
}

async fn an_incremental_read_model_equals_a_rebuilt_one(test: TestDb) {
    create_tables(&test.db).await;
    let store = EventStore::new(test.db.clone());
    let projector = Projector::new(test.db.clone()).with_batch_size(4).expect("batch size");
    let live = OrdersPerCustomer { name: "orders_live", table: "orders_live" };
    let appender = tokio::spawn(append_orders(store.clone(), 40));
    let mut applied = 0;
    let mut steps = 0;
    while !appender.is_finished() {
        applied += catch_up(&projector, &live).await;
        steps += 1;
        tokio::task::yield_now().await;
    }
    let appended = appender.await.expect("appender");
    applied += catch_up(&projector, &live).await;
    assert_eq!(applied, appended as u64, "every event applied once over {steps} steps");
    assert_eq!(catch_up(&projector, &live).await, 0, "nothing new");

    let last = store.read_all(0, 10_000).await.expect("read all").last().map(|e| e.position);
    assert_eq!(Some(projector.checkpoint("orders_live").await.expect("checkpoint")), last);

    let fresh = OrdersPerCustomer { name: "orders_rebuilt", table: "orders_rebuilt" };
    assert_eq!(rebuild(&projector, &fresh).await, appended as u64);
    let live_rows = rows(&test.db, "orders_live").await;
    assert_eq!(live_rows.len(), 3);
    assert_eq!(live_rows, rows(&test.db, "orders_rebuilt").await);

    assert_eq!(rebuild(&projector, &live).await, appended as u64, "a reset then a full replay");
    assert_eq!(rows(&test.db, "orders_live").await, live_rows);
    assert_eq!(Some(projector.checkpoint("orders_live").await.expect("checkpoint")), last);
    test.cleanup().await;
}

on_both_databases!(an_incremental_read_model_equals_a_rebuilt_one);
