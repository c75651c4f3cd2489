//! The reference shop's services as a library: the proof that Herald's domain events,
//! event sourcing and CQRS fit together.
//!
//! Four small services share one database (or each could have its own), each with its own
//! tables prefixed by its name, created at start with `CREATE TABLE IF NOT EXISTS`:
//!
//! - **orders** keeps the event-sourced `Order` aggregate (stream `order-<id>`). Commands
//!   append `orders.order_placed`, `orders.order_paid` and `orders.order_cancelled` (domain
//!   events) with optimistic concurrency, and in the same transaction the domain bus
//!   updates the read model `orders_by_customer` and enqueues `shop.order_placed`,
//!   `shop.order_paid` and `shop.order_cancelled`. It cancels an order on
//!   `shop.stock_rejected`.
//! - **inventory** reserves stock for `shop.order_placed` (`shop.stock_reserved` or
//!   `shop.stock_rejected`) and releases it on `shop.order_cancelled`.
//! - **shipping** ships each paid order whose stock was reserved, once
//!   (`shop.order_shipped`).
//! - **notifications** requests an `order_confirmation` after a reservation and an
//!   `order_shipped` notice (`herald.notify` events for the notification service).
//!
//! [`Shop`] runs them all in one process with a relay and the embedded log, and
//! [`Shop::verify`] checks that they agree.
//!
//! # Layout
//!
//! - [`events`]: the domain and integration events.
//! - [`orders`]: [`Orders`], the [`Order`] aggregate, the read model [`OrdersByCustomer`]
//!   (a domain handler and a projection), and the `stock_rejected` handler.
//! - [`inventory`], [`shipping`], [`notifications`]: the consumers of those services.
//! - [`shop`]: [`Shop`], [`ShopConfig`], [`ShopSummary`].
//! - `error.rs`: [`ShopError`].

pub mod activity;
pub mod census;
mod error;
pub mod events;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod shipping;
pub mod shop;

pub use activity::{Activity, ServiceActivity};
pub use census::{Census, RunMark, ServiceCensus};
pub use error::{Result, ShopError};
pub use events::OrderItem;
pub use orders::{Order, OrderStatus, OrderSummary, Orders, OrdersByCustomer};
pub use shop::{NotificationService, Shop, ShopConfig, ShopSummary};

use herald_db::{Database, Statement};

/// Runs each statement (DDL, the same on both databases) on the writer.
pub(crate) async fn execute_all(db: &Database, statements: &[&str]) -> Result<()> {
    for statement in statements {
        db.writer().execute(Statement::new(statement)).await?;
    }
    Ok(())
}
