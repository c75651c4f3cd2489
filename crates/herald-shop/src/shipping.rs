//! The shipping service: ships each paid order whose stock was reserved, once. It keeps
//! what it has heard per order in `shipping_orders` (`shop.order_paid` and
//! `shop.stock_reserved` arrive in either order), records each shipment in
//! `shipping_shipments`, and raises `shop.order_shipped` in the same transaction.

use async_trait::async_trait;
use herald::Backend;
use herald_consumer::{Handler, HandlerContext, HandlerError};
use herald_db::Statement;
use herald_outbox::Outbox;

use crate::events::{OrderShipped, ShopOrderPaid, StockReserved};

/// The source of the shipping service's events.
pub const SOURCE: &str = "/shop/shipping";

pub(crate) const CREATE_TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS shipping_orders (
    order_id TEXT PRIMARY KEY,
    customer TEXT NOT NULL,
    paid     BIGINT NOT NULL,
    reserved BIGINT NOT NULL
)",
    "CREATE TABLE IF NOT EXISTS shipping_shipments (
    order_id    TEXT PRIMARY KEY,
    shipment_id TEXT NOT NULL,
    customer    TEXT NOT NULL
)",
];

const PAID: &str = "INSERT INTO shipping_orders (order_id, customer, paid, reserved) \
                    VALUES ($1, $2, 1, 0) ON CONFLICT (order_id) DO UPDATE SET paid = 1";
const RESERVED: &str = "INSERT INTO shipping_orders (order_id, customer, paid, reserved) \
                        VALUES ($1, $2, 0, 1) ON CONFLICT (order_id) DO UPDATE SET reserved = 1";
const READY: &str = "SELECT paid, reserved FROM shipping_orders WHERE order_id = $1";
const SHIP: &str = "INSERT INTO shipping_shipments (order_id, shipment_id, customer) \
                    VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING";

/// The shipping consumer (group `shipping`).
#[derive(Debug, Clone)]
pub struct Shipping {
    outbox: Outbox,
}

impl Shipping {
    /// The handler, enqueueing through `outbox`.
    pub fn new(outbox: Outbox) -> Shipping {
        Shipping { outbox }
    }
}

impl Shipping {
    /// Records what was heard, then ships the order if it is paid and reserved and not
    /// shipped yet. One body for both databases.
    async fn hear<DB: Backend>(
        &self,
        sql: &str,
        order_id: &str,
        customer: &str,
        tx: &mut DB::Connection,
    ) -> std::result::Result<(), HandlerError> {
        Statement::new(sql).bind(order_id).bind(customer).execute::<DB>(&mut *tx).await?;
        let (paid, reserved): (i64, i64) =
            Statement::new(READY).bind(order_id).fetch_one::<DB, _>(&mut *tx).await?;
        if paid == 0 || reserved == 0 {
            return Ok(());
        }
        let shipment_id = uuid::Uuid::now_v7().to_string();
        let mut tx = sqlx::Connection::begin(&mut *tx).await?;
        let shipped = Statement::new(SHIP)
            .bind(order_id)
            .bind(&shipment_id)
            .bind(customer)
            .execute::<DB>(&mut *tx)
            .await?;
        if shipped == 1 {
            let event = OrderShipped {
                order_id: order_id.to_owned(),
                customer: customer.to_owned(),
                shipment_id,
            };
            self.outbox
                .enqueue_event(&mut tx, SOURCE, &event)
                .await
                .map_err(|error| HandlerError::retry(error.to_string()))?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl<DB: Backend> Handler<ShopOrderPaid, DB> for Shipping {
    async fn handle(
        &self,
        event: ShopOrderPaid,
        ctx: HandlerContext<'_, DB>,
    ) -> std::result::Result<(), HandlerError> {
        self.hear::<DB>(PAID, &event.order_id, &event.customer, ctx.tx).await
    }
}

#[async_trait]
impl<DB: Backend> Handler<StockReserved, DB> for Shipping {
    async fn handle(
        &self,
        event: StockReserved,
        ctx: HandlerContext<'_, DB>,
    ) -> std::result::Result<(), HandlerError> {
        self.hear::<DB>(RESERVED, &event.order_id, &event.customer, ctx.tx).await
    }
}
