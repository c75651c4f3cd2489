//! The shop's events: the order aggregate's domain events, which stay inside the orders
//! service, and the integration events the services exchange through the log.

use herald_envelope::{Event, EventKind};
use serde::{Deserialize, Serialize};

/// One line of an order: a stock keeping unit and how many of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderItem {
    /// The stock keeping unit.
    pub sku: String,
    /// How many, at least 1.
    pub quantity: i64,
}

/// Declares an event type keyed by its `order_id`.
macro_rules! order_event {
    ($name:ident, $type:literal, $kind:expr) => {
        impl Event for $name {
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            const KIND: EventKind = $kind;
            fn partition_key(&self) -> String {
                self.order_id.clone()
            }
        }
    };
}

/// Domain event: a customer placed an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: String,
    /// The customer who placed it.
    pub customer: String,
    /// What was ordered.
    pub items: Vec<OrderItem>,
}

/// Domain event: the customer paid the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPaid {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
}

/// Domain event: the order was cancelled (by the customer, or because stock was short).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderCancelled {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
    /// Why, e.g. `customer` or `stock rejected: …`.
    pub reason: String,
}

order_event!(OrderPlaced, "orders.order_placed", EventKind::Domain);
order_event!(OrderPaid, "orders.order_paid", EventKind::Domain);
order_event!(OrderCancelled, "orders.order_cancelled", EventKind::Domain);

/// Integration event `shop.order_placed`: an order other services act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShopOrderPlaced {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
    /// What was ordered.
    pub items: Vec<OrderItem>,
}

/// Integration event `shop.order_paid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShopOrderPaid {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
}

/// Integration event `shop.order_cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShopOrderCancelled {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
}

/// Integration event `shop.stock_reserved`: inventory reserved every item of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StockReserved {
    /// The order.
    pub order_id: String,
    /// The customer (for the confirmation).
    pub customer: String,
}

/// Integration event `shop.stock_rejected`: inventory could not reserve an order's items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StockRejected {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
    /// Which sku was short.
    pub reason: String,
}

/// Integration event `shop.order_shipped`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderShipped {
    /// The order.
    pub order_id: String,
    /// The customer.
    pub customer: String,
    /// The shipment's id.
    pub shipment_id: String,
}

order_event!(ShopOrderPlaced, "shop.order_placed", EventKind::Integration);
order_event!(ShopOrderPaid, "shop.order_paid", EventKind::Integration);
order_event!(ShopOrderCancelled, "shop.order_cancelled", EventKind::Integration);
order_event!(StockReserved, "shop.stock_reserved", EventKind::Integration);
order_event!(StockRejected, "shop.stock_rejected", EventKind::Integration);
order_event!(OrderShipped, "shop.order_shipped", EventKind::Integration);
