//! [`ShopError`], what the shop's services can fail with.

/// A `Result` with [`ShopError`] as its default error.
pub type Result<T, E = ShopError> = std::result::Result<T, E>;

/// What the shop's services can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopError {
    /// A query failed.
    #[error("shop query failed: {0}")]
    Sql(#[from] sqlx::Error),
    /// The database refused a transaction (typed for the other engine, for one).
    #[error(transparent)]
    Database(#[from] herald_db::DbError),
    /// The event store refused or failed an append or a read (a conflict included).
    #[error(transparent)]
    EventStore(#[from] herald_eventstore::EventStoreError),
    /// The domain bus failed (a read-model handler or a translation).
    #[error(transparent)]
    Domain(#[from] herald_domain::DomainError),
    /// The outbox refused an event.
    #[error(transparent)]
    Outbox(#[from] herald_outbox::OutboxError),
    /// A consumer failed to start.
    #[error(transparent)]
    Consumer(#[from] herald_consumer::ConsumerError),
    /// The transport refused a declaration (RabbitMQ queues and bindings).
    #[error(transparent)]
    Transport(#[from] herald_transport::TransportError),
    /// The relay failed to start.
    #[error(transparent)]
    Relay(#[from] herald_relay::RelayError),
    /// The broker refused to declare a service's queue.
    #[error(transparent)]
    Broker(#[from] herald::Error),
    /// The notification service failed (templates, recipients, deliveries).
    #[error(transparent)]
    Notify(#[from] herald_notify::NotifyError),
    /// A command broke an order's rule, e.g. paying a cancelled order.
    #[error("order `{order_id}` refused the command: {reason}")]
    Rule {
        /// The order.
        order_id: String,
        /// The rule, e.g. `a cancelled order cannot be paid`.
        reason: String,
    },
    /// A command named an order that does not exist.
    #[error("order `{order_id}` does not exist; expected the id `place` returned")]
    UnknownOrder {
        /// The order id given.
        order_id: String,
    },
    /// A service task stopped with a panic or did not stop in time.
    #[error("shop task failed: {0}")]
    Task(String),
    /// `Shop::verify` found the services disagreeing.
    #[error("the shop's services disagree: {}", .0.join("; "))]
    Inconsistent(Vec<String>),
}
