//! The inventory service: reserves stock per sku for each `shop.order_placed` and answers
//! with `shop.stock_reserved` or `shop.stock_rejected` through its outbox, in the
//! consumer's transaction; releases the stock of a `shop.order_cancelled` order.
//!
//! `inventory_orders` records each order's outcome (`reserved`, `rejected`, `released`,
//! or `cancelled` when the cancellation came first), so an order is decided once.

use async_trait::async_trait;
use herald::Backend;
use herald_consumer::{Handler, HandlerContext, HandlerError};
use herald_db::{Database, Statement};
use herald_outbox::Outbox;

use crate::Result;
use crate::events::{ShopOrderCancelled, ShopOrderPlaced, StockRejected, StockReserved};
use crate::orders::quantities;

/// The source of the inventory service's events.
pub const SOURCE: &str = "/shop/inventory";

const CREATE_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS inventory_stock (
    sku       TEXT PRIMARY KEY,
    initial   BIGINT NOT NULL,
    available BIGINT NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS inventory_orders (
    order_id TEXT PRIMARY KEY,
    outcome  TEXT NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS inventory_reservations (
    order_id TEXT NOT NULL,
    sku      TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    PRIMARY KEY (order_id, sku)
)",
];

const SEED: &str = "INSERT INTO inventory_stock (sku, initial, available) VALUES ($1, $2, $2) \
                    ON CONFLICT (sku) DO NOTHING";
const OUTCOME: &str = "SELECT outcome FROM inventory_orders WHERE order_id = $1";
const DECIDE: &str = "INSERT INTO inventory_orders (order_id, outcome) VALUES ($1, $2)";
const TAKE: &str =
    "UPDATE inventory_stock SET available = available - $1 WHERE sku = $2 AND available >= $1";
const RESERVE: &str =
    "INSERT INTO inventory_reservations (order_id, sku, quantity) VALUES ($1, $2, $3)";
const RESERVED: &str = "SELECT sku, quantity FROM inventory_reservations WHERE order_id = $1";
const GIVE_BACK: &str = "UPDATE inventory_stock SET available = available + $1 WHERE sku = $2";
const RELEASE: &str = "DELETE FROM inventory_reservations WHERE order_id = $1";
const RELEASED: &str = "UPDATE inventory_orders SET outcome = 'released' WHERE order_id = $1";

/// Creates the inventory's tables if they are missing and seeds stock levels; a sku
/// already stocked keeps its level.
pub async fn create_tables(db: &Database, stock: &[(String, i64)]) -> Result<()> {
    crate::execute_all(db, CREATE_TABLES).await?;
    for (sku, quantity) in stock {
        db.writer().execute(Statement::new(SEED).bind(sku).bind(*quantity)).await?;
    }
    Ok(())
}

/// The inventory's consumer (group `inventory`).
#[derive(Debug, Clone)]
pub struct Inventory {
    outbox: Outbox,
}

impl Inventory {
    /// The handler, enqueueing through `outbox`.
    pub fn new(outbox: Outbox) -> Inventory {
        Inventory { outbox }
    }
}

#[allow(clippy::needless_pass_by_value, reason = "used as `map_err(outbox_error)`")]
fn outbox_error(error: herald_outbox::OutboxError) -> HandlerError {
    HandlerError::retry(error.to_string())
}

/// What inventory decided for an order (`reserved` or `rejected`), if it did.
async fn outcome<DB: Backend>(
    order_id: &str,
    conn: &mut DB::Connection,
) -> Result<Option<String>, sqlx::Error> {
    let decided: Option<(String,)> =
        Statement::new(OUTCOME).bind(order_id).fetch_optional::<DB, _>(conn).await?;
    Ok(decided.map(|(outcome,)| outcome))
}

#[async_trait]
impl<DB: Backend> Handler<ShopOrderPlaced, DB> for Inventory {
    async fn handle(
        &self,
        event: ShopOrderPlaced,
        ctx: HandlerContext<'_, DB>,
    ) -> std::result::Result<(), HandlerError> {
        let decided = outcome::<DB>(&event.order_id, &mut *ctx.tx).await?;
        if decided.is_some() {
            return Ok(());
        }
        let wanted = quantities(&event.items);
        let mut tx = sqlx::Connection::begin(&mut *ctx.tx).await?;
        let mut short = None;
        for (sku, quantity) in &wanted {
            let taken =
                Statement::new(TAKE).bind(*quantity).bind(sku).execute::<DB>(&mut *tx).await?;
            if taken == 0 {
                short = Some(sku.clone());
                break;
            }
        }
        if let Some(sku) = short {
            tx.rollback().await?;
            let mut tx = sqlx::Connection::begin(&mut *ctx.tx).await?;
            Statement::new(DECIDE)
                .bind(&event.order_id)
                .bind("rejected")
                .execute::<DB>(&mut *tx)
                .await?;
            let rejected = StockRejected {
                order_id: event.order_id.clone(),
                customer: event.customer.clone(),
                reason: format!("not enough `{sku}` in stock"),
            };
            self.outbox.enqueue_event(&mut tx, SOURCE, &rejected).await.map_err(outbox_error)?;
            tx.commit().await?;
            return Ok(());
        }
        for (sku, quantity) in &wanted {
            Statement::new(RESERVE)
                .bind(&event.order_id)
                .bind(sku)
                .bind(*quantity)
                .execute::<DB>(&mut *tx)
                .await?;
        }
        Statement::new(DECIDE)
            .bind(&event.order_id)
            .bind("reserved")
            .execute::<DB>(&mut *tx)
            .await?;
        let reserved =
            StockReserved { order_id: event.order_id.clone(), customer: event.customer.clone() };
        self.outbox.enqueue_event(&mut tx, SOURCE, &reserved).await.map_err(outbox_error)?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl<DB: Backend> Handler<ShopOrderCancelled, DB> for Inventory {
    async fn handle(
        &self,
        event: ShopOrderCancelled,
        ctx: HandlerContext<'_, DB>,
    ) -> std::result::Result<(), HandlerError> {
        let decided = outcome::<DB>(&event.order_id, &mut *ctx.tx).await?;
        match decided.as_deref() {
            Some("reserved") => {
                let reserved: Vec<(String, i64)> = Statement::new(RESERVED)
                    .bind(&event.order_id)
                    .fetch_all::<DB, _>(&mut *ctx.tx)
                    .await?;
                for (sku, quantity) in reserved {
                    Statement::new(GIVE_BACK)
                        .bind(quantity)
                        .bind(sku)
                        .execute::<DB>(&mut *ctx.tx)
                        .await?;
                }
                Statement::new(RELEASE).bind(&event.order_id).execute::<DB>(&mut *ctx.tx).await?;
                Statement::new(RELEASED).bind(&event.order_id).execute::<DB>(&mut *ctx.tx).await?;
            }
            None => {
                Statement::new(DECIDE)
                    .bind(&event.order_id)
                    .bind("cancelled")
                    .execute::<DB>(&mut *ctx.tx)
                    .await?;
            }
            Some(_) => {}
        }
        Ok(())
    }
}
