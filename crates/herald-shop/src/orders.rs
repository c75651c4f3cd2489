//! The orders service: the event-sourced [`Order`] aggregate (stream `order-<id>`), its
//! commands, the CQRS read model `orders_by_customer`, and the translation of its domain
//! events into `shop.*` integration events.
//!
//! A command loads the aggregate, checks its rule, and in one transaction appends the new
//! events at the version it loaded ([`ExpectedVersion::Exactly`], so a concurrent command
//! on the same order fails with a conflict) and hands them to the [`DomainBus`], which
//! updates `orders_by_customer` and enqueues the translated integration events.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use herald::Backend;
use herald_consumer::{Handler, HandlerContext, HandlerError};
use herald_db::{Database, Dialect, Statement};
use herald_domain::{DomainBus, DomainHandler, Raised};
use herald_envelope::Event;
use herald_eventstore::{
    Aggregate, EventStore, EventStoreBackend, EventStoreError, ExpectedVersion, NewEvent,
    Projection, RecordedEvent, load_aggregate,
};
use herald_outbox::{Outbox, OutboxBackend};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::events::{
    OrderCancelled, OrderItem, OrderPaid, OrderPlaced, ShopOrderCancelled, ShopOrderPaid,
    ShopOrderPlaced, StockRejected,
};
use crate::{Result, ShopError};

/// The source of the orders service's events.
pub const SOURCE: &str = "/shop/orders";

/// The read model's name, also the projection's name.
pub const READ_MODEL: &str = "orders_by_customer";

const CREATE_TABLES: &[&str] = &["CREATE TABLE IF NOT EXISTS orders_by_customer (
    order_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    status   TEXT NOT NULL,
    items    TEXT NOT NULL,
    quantity BIGINT NOT NULL
)"];

const INSERT_PLACED: &str = "INSERT INTO orders_by_customer (order_id, customer, status, items, quantity) \
     VALUES ($1, $2, 'placed', $3, $4) ON CONFLICT (order_id) DO NOTHING";
const UPDATE_STATUS: &str = "UPDATE orders_by_customer SET status = $1 WHERE order_id = $2";

/// The event stream of an order.
pub fn stream_of(order_id: &str) -> String {
    format!("order-{order_id}")
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// No event yet: the order does not exist.
    #[default]
    New,
    /// Placed, neither paid nor cancelled.
    Placed,
    /// Paid; it can no longer be cancelled.
    Paid,
    /// Cancelled; it can no longer be paid.
    Cancelled,
}

/// The order aggregate, folded from its stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Where the order stands.
    pub status: OrderStatus,
    /// The customer.
    pub customer: String,
    /// What was ordered.
    pub items: Vec<OrderItem>,
}

impl Aggregate for Order {
    fn apply(&mut self, event: &RecordedEvent) -> std::result::Result<(), String> {
        let error = |error: EventStoreError| error.to_string();
        if let Some(placed) = event.decode::<OrderPlaced>().map_err(error)? {
            if self.status != OrderStatus::New {
                return Err(format!("order `{}` was placed twice", placed.order_id));
            }
            *self = Order {
                status: OrderStatus::Placed,
                customer: placed.customer,
                items: placed.items,
            };
        } else if let Some(paid) = event.decode::<OrderPaid>().map_err(error)? {
            self.check_pay(&paid.order_id)?;
            self.status = OrderStatus::Paid;
        } else if let Some(cancelled) = event.decode::<OrderCancelled>().map_err(error)? {
            self.check_cancel(&cancelled.order_id)?;
            self.status = OrderStatus::Cancelled;
        } else {
            return Err(format!("unexpected event type `{}` in an order stream", event.event_type));
        }
        Ok(())
    }
}

impl Order {
    /// Whether the order may be paid now.
    pub fn check_pay(&self, order_id: &str) -> std::result::Result<(), String> {
        match self.status {
            OrderStatus::Placed => Ok(()),
            OrderStatus::New => Err(format!("order `{order_id}` was never placed")),
            OrderStatus::Paid => Err("the order is already paid".to_owned()),
            OrderStatus::Cancelled => Err("a cancelled order cannot be paid".to_owned()),
        }
    }

    /// Whether the order may be cancelled now.
    pub fn check_cancel(&self, order_id: &str) -> std::result::Result<(), String> {
        match self.status {
            OrderStatus::Placed => Ok(()),
            OrderStatus::New => Err(format!("order `{order_id}` was never placed")),
            OrderStatus::Paid => Err("a paid order cannot be cancelled".to_owned()),
            OrderStatus::Cancelled => Err("the order is already cancelled".to_owned()),
        }
    }
}

/// A row of `orders_by_customer`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub struct OrderSummary {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
    /// `placed`, `paid` or `cancelled`.
    pub status: String,
    /// The items as JSON (`[{"sku": …, "quantity": …}]`).
    pub items: String,
    /// The total quantity of the order's items.
    pub quantity: i64,
}

impl OrderSummary {
    /// The order's quantity per sku.
    pub fn quantities(&self) -> BTreeMap<String, i64> {
        let items: Vec<OrderItem> = serde_json::from_str(&self.items).unwrap_or_default();
        quantities(&items)
    }
}

/// Sums items per sku.
pub fn quantities(items: &[OrderItem]) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for item in items {
        *totals.entry(item.sku.clone()).or_insert(0) += item.quantity;
    }
    totals
}

/// A change of the read model.
enum Change<'a> {
    Placed(&'a OrderPlaced),
    Status(&'a str, &'static str),
}

/// Applies a [`Change`] through a connection of either database.
async fn apply_change<DB: Dialect>(
    conn: &mut DB::Connection,
    change: Change<'_>,
) -> std::result::Result<(), sqlx::Error> {
    match change {
        Change::Placed(event) => {
            let items = serde_json::to_string(&event.items)
                .expect("items of strings and integers always serialise");
            let quantity: i64 = event.items.iter().map(|item| item.quantity).sum();
            Statement::new(INSERT_PLACED)
                .bind(&event.order_id)
                .bind(&event.customer)
                .bind(items)
                .bind(quantity)
                .execute::<DB>(conn)
                .await?;
        }
        Change::Status(order_id, status) => {
            Statement::new(UPDATE_STATUS).bind(status).bind(order_id).execute::<DB>(conn).await?;
        }
    }
    Ok(())
}

/// Maintains `orders_by_customer`: in the command's transaction as a [`DomainHandler`],
/// and as a [`Projection`] when it is rebuilt from the event store.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrdersByCustomer;

#[async_trait]
impl<DB: Dialect> DomainHandler<OrderPlaced, DB> for OrdersByCustomer {
    async fn handle(
        &self,
        event: &OrderPlaced,
        tx: &mut DB::Connection,
    ) -> std::result::Result<(), String> {
        apply_change::<DB>(tx, Change::Placed(event)).await.map_err(|error| error.to_string())
    }
}

#[async_trait]
impl<DB: Dialect> DomainHandler<OrderPaid, DB> for OrdersByCustomer {
    async fn handle(
        &self,
        event: &OrderPaid,
        tx: &mut DB::Connection,
    ) -> std::result::Result<(), String> {
        apply_change::<DB>(tx, Change::Status(&event.order_id, "paid"))
            .await
            .map_err(|error| error.to_string())
    }
}

#[async_trait]
impl<DB: Dialect> DomainHandler<OrderCancelled, DB> for OrdersByCustomer {
    async fn handle(
        &self,
        event: &OrderCancelled,
        tx: &mut DB::Connection,
    ) -> std::result::Result<(), String> {
        apply_change::<DB>(tx, Change::Status(&event.order_id, "cancelled"))
            .await
            .map_err(|error| error.to_string())
    }
}

#[async_trait]
impl<DB: Dialect> Projection<DB> for OrdersByCustomer {
    fn name(&self) -> &str {
        READ_MODEL
    }

    async fn apply(
        &self,
        tx: &mut DB::Connection,
        event: &RecordedEvent,
    ) -> herald_eventstore::Result<()> {
        if let Some(placed) = event.decode::<OrderPlaced>()? {
            apply_change::<DB>(tx, Change::Placed(&placed)).await?;
        } else if let Some(paid) = event.decode::<OrderPaid>()? {
            apply_change::<DB>(tx, Change::Status(&paid.order_id, "paid")).await?;
        } else if let Some(cancelled) = event.decode::<OrderCancelled>()? {
            apply_change::<DB>(tx, Change::Status(&cancelled.order_id, "cancelled")).await?;
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut DB::Connection) -> herald_eventstore::Result<()> {
        Statement::new("DELETE FROM orders_by_customer").execute::<DB>(tx).await?;
        Ok(())
    }
}

/// The domain bus of the orders service on one database: the read model's handlers and
/// the translations into integration events.
fn build_bus<DB: Dialect + OutboxBackend>(outbox: &Outbox) -> Result<DomainBus<DB>> {
    Ok(DomainBus::<DB>::new(outbox.clone(), SOURCE)
        .on::<OrderPlaced, _>(OrdersByCustomer)
        .on::<OrderPaid, _>(OrdersByCustomer)
        .on::<OrderCancelled, _>(OrdersByCustomer)
        .translate::<OrderPlaced, ShopOrderPlaced, _>(|placed| {
            Some(ShopOrderPlaced {
                order_id: placed.order_id.clone(),
                customer: placed.customer.clone(),
                items: placed.items.clone(),
            })
        })?
        .translate::<OrderPaid, ShopOrderPaid, _>(|paid| {
            Some(ShopOrderPaid { order_id: paid.order_id.clone(), customer: paid.customer.clone() })
        })?
        .translate::<OrderCancelled, ShopOrderCancelled, _>(|cancelled| {
            Some(ShopOrderCancelled {
                order_id: cancelled.order_id.clone(),
                customer: cancelled.customer.clone(),
            })
        })?)
}

/// New events of one command, both as the store appends them and as the bus sees them.
#[derive(Default)]
struct Pending {
    new: Vec<NewEvent>,
    raised: Raised,
}

impl Pending {
    fn of<E: Event>(event: &E) -> Result<Pending> {
        let mut pending = Pending::default();
        pending.new.push(NewEvent::from_event(event)?);
        pending.raised.raise(event)?;
        Ok(pending)
    }
}

/// Appends the events at the expected version and dispatches them, in `tx`.
async fn append_and_dispatch<DB: EventStoreBackend + OutboxBackend>(
    tx: &mut Transaction<'_, DB>,
    bus: &DomainBus<DB>,
    order_id: &str,
    expected: ExpectedVersion,
    pending: &Pending,
) -> Result<()> {
    EventStore::append_in(tx, &stream_of(order_id), expected, &pending.new).await?;
    bus.dispatch(tx, pending.raised.events()).await?;
    Ok(())
}

/// The domain bus for each database, built once: a bus holds handlers typed by the
/// database they write through.
pub(crate) struct Buses {
    postgres: DomainBus<Postgres>,
    sqlite: DomainBus<Sqlite>,
}

/// A database the orders service runs on: a consumer's [`Backend`] with the event store.
/// The one thing that differs per database is which of the [`Buses`] dispatches.
pub(crate) trait OrdersBackend: Backend + EventStoreBackend {
    /// This database's domain bus.
    fn bus(buses: &Buses) -> &DomainBus<Self>;
}

impl OrdersBackend for Postgres {
    fn bus(buses: &Buses) -> &DomainBus<Postgres> {
        &buses.postgres
    }
}

impl OrdersBackend for Sqlite {
    fn bus(buses: &Buses) -> &DomainBus<Sqlite> {
        &buses.sqlite
    }
}

struct Inner {
    db: Database,
    store: EventStore,
    outbox: Outbox,
    buses: Buses,
}

/// The orders service: commands on [`Order`]s and the `orders_by_customer` read model.
#[derive(Clone)]
pub struct Orders {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Orders {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Orders").finish_non_exhaustive()
    }
}

impl Orders {
    /// The service over `db`, enqueueing through `outbox`.
    pub fn new(db: Database, outbox: Outbox) -> Result<Orders> {
        Ok(Orders {
            inner: Arc::new(Inner {
                store: EventStore::new(db.clone()),
                buses: Buses { postgres: build_bus(&outbox)?, sqlite: build_bus(&outbox)? },
                db,
                outbox,
            }),
        })
    }

    /// Creates the service's tables if they are missing.
    pub async fn create_tables(db: &Database) -> Result<()> {
        crate::execute_all(db, CREATE_TABLES).await
    }

    /// The event store the orders live in.
    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    /// Places an order and returns its id. Fails with [`ShopError::Rule`] for an order
    /// without items or with a quantity below 1.
    pub async fn place(&self, customer: &str, items: Vec<OrderItem>) -> Result<String> {
        let order_id = uuid::Uuid::now_v7().to_string();
        if items.is_empty() || items.iter().any(|item| item.quantity < 1) {
            return Err(ShopError::Rule {
                order_id,
                reason: "an order needs at least one item, each with a quantity of at least 1"
                    .to_owned(),
            });
        }
        let placed =
            OrderPlaced { order_id: order_id.clone(), customer: customer.to_owned(), items };
        self.commit(&order_id, ExpectedVersion::NoStream, &Pending::of(&placed)?).await?;
        Ok(order_id)
    }

    /// Pays an order. Fails with [`ShopError::Rule`] unless the order is placed, and with
    /// a conflict ([`ShopError::EventStore`]) when another command changed it meanwhile.
    pub async fn pay(&self, order_id: &str) -> Result<()> {
        let loaded = self.load(order_id).await?;
        loaded.state.check_pay(order_id).map_err(|reason| rule(order_id, reason))?;
        let paid = OrderPaid { order_id: order_id.to_owned(), customer: loaded.state.customer };
        self.commit(order_id, ExpectedVersion::Exactly(loaded.version), &Pending::of(&paid)?).await
    }

    /// Cancels an order at the customer's request. Fails with [`ShopError::Rule`] unless
    /// the order is placed (a paid order cannot be cancelled).
    pub async fn cancel(&self, order_id: &str) -> Result<()> {
        let loaded = self.load(order_id).await?;
        loaded.state.check_cancel(order_id).map_err(|reason| rule(order_id, reason))?;
        let cancelled = OrderCancelled {
            order_id: order_id.to_owned(),
            customer: loaded.state.customer,
            reason: "customer".to_owned(),
        };
        self.commit(order_id, ExpectedVersion::Exactly(loaded.version), &Pending::of(&cancelled)?)
            .await
    }

    /// Loads an order; fails with [`ShopError::UnknownOrder`] when it has no events.
    pub async fn load(&self, order_id: &str) -> Result<herald_eventstore::Loaded<Order>> {
        let loaded = load_aggregate::<Order>(&self.inner.store, &stream_of(order_id)).await?;
        if loaded.version == 0 {
            return Err(ShopError::UnknownOrder { order_id: order_id.to_owned() });
        }
        Ok(loaded)
    }

    /// The customer's orders from the read model, oldest first.
    pub async fn by_customer(&self, customer: &str) -> Result<Vec<OrderSummary>> {
        let sql = "SELECT order_id, customer, status, items, quantity FROM orders_by_customer \
                   WHERE customer = $1 ORDER BY order_id";
        Ok(self.inner.db.reader().fetch_all(Statement::new(sql).bind(customer)).await?)
    }

    /// Every row of the read model, by order id.
    pub async fn read_model(&self) -> Result<Vec<OrderSummary>> {
        read_model(&self.inner.db).await
    }

    /// Appends and dispatches the command's events in a write transaction of the
    /// service's database, and commits.
    async fn commit(
        &self,
        order_id: &str,
        expected: ExpectedVersion,
        pending: &Pending,
    ) -> Result<()> {
        match &self.inner.db {
            Database::Postgres(_) => self.commit_on::<Postgres>(order_id, expected, pending).await,
            Database::Sqlite(_) => self.commit_on::<Sqlite>(order_id, expected, pending).await,
        }
    }

    /// [`Orders::commit`] on the database `DB`, which is the service's.
    async fn commit_on<DB: OrdersBackend>(
        &self,
        order_id: &str,
        expected: ExpectedVersion,
        pending: &Pending,
    ) -> Result<()> {
        let inner = &self.inner;
        let mut tx = DB::begin_write(&inner.db).await?;
        append_and_dispatch(&mut tx, DB::bus(&inner.buses), order_id, expected, pending).await?;
        inner.outbox.commit(tx).await?;
        Ok(())
    }
}

/// Every row of `orders_by_customer`, by order id.
pub async fn read_model(db: &Database) -> Result<Vec<OrderSummary>> {
    let sql = "SELECT order_id, customer, status, items, quantity FROM orders_by_customer ORDER BY order_id";
    Ok(db.reader().fetch_all(Statement::new(sql)).await?)
}

fn rule(order_id: &str, reason: String) -> ShopError {
    ShopError::Rule { order_id: order_id.to_owned(), reason }
}

/// The orders service's consumer: cancels an order whose stock inventory rejected.
#[derive(Debug, Clone)]
pub struct CancelRejected {
    orders: Orders,
}

impl CancelRejected {
    /// The handler for `orders`.
    pub fn new(orders: Orders) -> CancelRejected {
        CancelRejected { orders }
    }
}

#[async_trait]
impl<DB: OrdersBackend> Handler<StockRejected, DB> for CancelRejected {
    async fn handle(
        &self,
        event: StockRejected,
        ctx: HandlerContext<'_, DB>,
    ) -> std::result::Result<(), HandlerError> {
        let retry = |error: ShopError| HandlerError::retry(error.to_string());
        let loaded = self.orders.load(&event.order_id).await.map_err(retry)?;
        if loaded.state.check_cancel(&event.order_id).is_err() {
            // Already cancelled, or paid before the rejection arrived: a paid order is never
            // cancelled, and shipping does not ship it without stock.
            tracing::info!(order_id = %event.order_id, status = ?loaded.state.status, "Rejected order left as it is.");
            return Ok(());
        }
        let cancelled = OrderCancelled {
            order_id: event.order_id.clone(),
            customer: loaded.state.customer,
            reason: format!("stock rejected: {}", event.reason),
        };
        let pending = Pending::of(&cancelled).map_err(retry)?;
        let mut tx = sqlx::Connection::begin(&mut *ctx.tx).await?;
        append_and_dispatch(
            &mut tx,
            DB::bus(&self.orders.inner.buses),
            &event.order_id,
            ExpectedVersion::Exactly(loaded.version),
            &pending,
        )
        .await
        .map_err(retry)?;
        tx.commit().await?;
        Ok(())
    }
}
