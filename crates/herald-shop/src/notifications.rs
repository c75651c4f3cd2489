//! Customer notifications: an order confirmation once inventory reserved an order's
//! stock (`shop.stock_reserved`), and a shipping notice for `shop.order_shipped`. Each is
//! a `herald.notify` event ([`NotificationRequest`]) enqueued into the outbox for the
//! notification service, with the idempotency key `<template>:<order id>`.

use async_trait::async_trait;
use herald::Backend;
use herald_consumer::{Handler, HandlerContext, HandlerError};
use herald_notify::{NotificationRequest, Priority, RecipientRef};
use herald_outbox::Outbox;

use crate::events::{OrderShipped, StockReserved};

/// The source of the notification requests.
pub const SOURCE: &str = "/shop/notifications";

/// The template of an order confirmation.
pub const ORDER_CONFIRMATION: &str = "order_confirmation";

/// The template of a shipping notice.
pub const ORDER_SHIPPED: &str = "order_shipped";

/// The idempotency key (and partition key) of a notification about an order.
pub fn idempotency_key(template: &str, order_id: &str) -> String {
    format!("{template}:{order_id}")
}

/// The request for one customer and order.
pub fn request(template: &str, customer: &str, order_id: &str) -> NotificationRequest {
    NotificationRequest {
        template: template.to_owned(),
        recipients: vec![RecipientRef::User(customer.to_owned())],
        channels: None,
        category: Some("orders".to_owned()),
        data: serde_json::json!({ "order_id": order_id }),
        idempotency_key: Some(idempotency_key(template, order_id)),
        priority: Priority::default(),
    }
}

/// The notifications consumer (group `notifications`).
#[derive(Debug, Clone)]
pub struct Notifications {
    outbox: Outbox,
}

impl Notifications {
    /// The handler, enqueueing through `outbox`.
    pub fn new(outbox: Outbox) -> Notifications {
        Notifications { outbox }
    }
}

impl Notifications {
    /// Enqueues the `template` notification about an order for its customer, under a
    /// savepoint of the consumer's transaction. One body for both databases and both
    /// events.
    async fn notify<DB: Backend>(
        &self,
        template: &str,
        customer: &str,
        order_id: &str,
        tx: &mut DB::Connection,
    ) -> std::result::Result<(), HandlerError> {
        let notification = request(template, customer, order_id);
        let mut tx = sqlx::Connection::begin(&mut *tx).await?;
        self.outbox
            .enqueue_event(&mut tx, SOURCE, &notification)
            .await
            .map_err(|error| HandlerError::retry(error.to_string()))?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl<DB: Backend> Handler<StockReserved, DB> for Notifications {
    async fn handle(
        &self,
        event: StockReserved,
        ctx: HandlerContext<'_, DB>,
    ) -> std::result::Result<(), HandlerError> {
        self.notify::<DB>(ORDER_CONFIRMATION, &event.customer, &event.order_id, ctx.tx).await
    }
}

#[async_trait]
impl<DB: Backend> Handler<OrderShipped, DB> for Notifications {
    async fn handle(
        &self,
        event: OrderShipped,
        ctx: HandlerContext<'_, DB>,
    ) -> std::result::Result<(), HandlerError> {
        self.notify::<DB>(ORDER_SHIPPED, &event.customer, &event.order_id, ctx.tx).await
    }
}

/// The shop's templates: (name, subject, body), rendered with the request's data.
pub const TEMPLATES: [(&str, &str, &str); 2] = [
    (
        ORDER_CONFIRMATION,
        "Your order {{ order_id }} is confirmed",
        "Thank you! We reserved everything in order {{ order_id }}.",
    ),
    (ORDER_SHIPPED, "Your order {{ order_id }} is on its way", "Order {{ order_id }} has shipped."),
];

/// Saves the shop's templates for `channel`, in English, unless the latest version
/// already reads the same (a saved template is a new version).
pub async fn install_templates(db: &herald_db::Database, channel: &str) -> crate::Result<()> {
    let store = herald_notify::TemplateStore::new(db.clone());
    for (name, subject, body) in TEMPLATES {
        let current = store.find(name, channel, "en").await.ok();
        let unchanged = current.is_some_and(|template| {
            template.body == body && template.subject.as_deref() == Some(subject)
        });
        if !unchanged {
            store.save(name, channel, "en", Some(subject), body, None).await?;
        }
    }
    Ok(())
}
