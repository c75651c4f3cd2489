//! Typed handlers and the router.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use herald_envelope::{Envelope, Event};
use herald_transport::Pattern;

/// Why a handler did not apply an event. The event is retried.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    message: String,
}

impl HandlerError {
    /// An error with a message for logs and, later, the dead-letter reason.
    pub fn new(message: impl Into<String>) -> HandlerError {
        HandlerError { message: message.into() }
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        HandlerError::new(format!("database error: {error}"))
    }
}

/// What a handler gets besides its event: the envelope and the consumer's transaction.
pub struct HandlerContext<'a, DB: sqlx::Database> {
    /// The envelope the event came in (id, source, time, sequence, trace context, …).
    pub envelope: &'a Envelope,
    /// The consumer's own transaction, shared with the inbox record: write through it and
    /// the effect commits exactly when the event is marked processed.
    pub tx: &'a mut DB::Connection,
}

/// Applies one type of event.
#[async_trait]
pub trait Handler<E: Event, DB: sqlx::Database>: Send + Sync + 'static {
    /// Applies `event`; an error rolls back this event's writes and retries it.
    async fn handle(&self, event: E, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError>;
}

/// A handler with its event type erased, so the router can hold many.
#[async_trait]
pub(crate) trait ErasedHandler<DB: sqlx::Database>: Send + Sync {
    async fn call(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError>;
}

struct Typed<E, H> {
    handler: H,
    event: PhantomData<fn() -> E>,
}

#[async_trait]
impl<E, H, DB> ErasedHandler<DB> for Typed<E, H>
where
    E: Event + Send + 'static,
    H: Handler<E, DB>,
    DB: sqlx::Database,
{
    async fn call(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError> {
        let event: E = ctx
            .envelope
            .decode_data()
            .map_err(|error| HandlerError::new(format!("cannot decode event data: {error}")))?;
        self.handler.handle(event, ctx).await
    }
}

/// Handlers by event type and schema version.
pub struct Router<DB: sqlx::Database> {
    handlers: HashMap<String, HashMap<u32, Arc<dyn ErasedHandler<DB>>>>,
    patterns: Vec<Pattern>,
}

impl<DB: sqlx::Database> Default for Router<DB> {
    fn default() -> Self {
        Self { handlers: HashMap::new(), patterns: Vec::new() }
    }
}

impl<DB: sqlx::Database> Router<DB> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes events of type `E` (its `TYPE` and `VERSION`) to `handler`, and subscribes
    /// to their routing key.
    pub fn on<E, H>(mut self, handler: H) -> Self
    where
        E: Event + Send + 'static,
        H: Handler<E, DB>,
    {
        let typed = Typed { handler, event: PhantomData::<fn() -> E> };
        self.handlers.entry(E::TYPE.to_owned()).or_default().insert(E::VERSION, Arc::new(typed));
        if let Ok(pattern) = E::routing_key().parse() {
            self.patterns.push(pattern);
        }
        self
    }

    /// The routing-key patterns of every routed event type.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub(crate) fn handler_for(&self, envelope: &Envelope) -> Option<&Arc<dyn ErasedHandler<DB>>> {
        self.handlers.get(envelope.event_type.as_str())?.get(&envelope.schema_version)
    }
}
