//! Typed handlers, their outcome, and the router.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use herald_envelope::{Envelope, Event};
use herald_transport::Pattern;

/// What became of an event: the handler's returned value decides.
///
/// `Ok(())` from a handler is [`Outcome::Ack`]; `Err(HandlerError::retry(..))` (and any
/// database error) is [`Outcome::Retry`]; `Err(HandlerError::dead_letter(..))` is
/// [`Outcome::DeadLetter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied: the effects commit with the inbox record and the delivery is acknowledged.
    Ack,
    /// Failed for now: retried at once, then later with backoff, then dead-lettered.
    Retry,
    /// Will never succeed: dead-lettered without further attempts.
    DeadLetter,
}

/// Why a handler did not apply an event, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    message: String,
    outcome: Outcome,
}

impl HandlerError {
    /// A failure worth retrying (a timeout, a dependency down, a lock conflict).
    pub fn retry(message: impl Into<String>) -> HandlerError {
        HandlerError { message: message.into(), outcome: Outcome::Retry }
    }

    /// A failure no retry can fix (the event is invalid for this service).
    pub fn dead_letter(message: impl Into<String>) -> HandlerError {
        HandlerError { message: message.into(), outcome: Outcome::DeadLetter }
    }

    /// Same as [`HandlerError::retry`].
    pub fn new(message: impl Into<String>) -> HandlerError {
        HandlerError::retry(message)
    }

    /// [`Outcome::Retry`] or [`Outcome::DeadLetter`].
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        HandlerError::retry(format!("database error: {error}"))
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
    /// Applies `event`; an error rolls back this event's writes, and its
    /// [`HandlerError::outcome`] says whether to retry or dead-letter it.
    async fn handle(&self, event: E, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError>;
}

/// Applies any event whose routing key matches a pattern, as an envelope (push
/// subscriptions, archives, bridges).
#[async_trait]
pub trait EnvelopeHandler<DB: sqlx::Database>: Send + Sync + 'static {
    /// Applies the event of `ctx.envelope`.
    async fn handle(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError>;
}

/// A handler with its event type erased, so the router can hold many.
#[async_trait]
pub(crate) trait ErasedHandler<DB: sqlx::Database>: Send + Sync {
    async fn call(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError>;
    /// The handler's type, for dead-letter reasons.
    fn name(&self) -> &'static str;
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
        let event: E = ctx.envelope.decode_data().map_err(|error| {
            HandlerError::dead_letter(format!("cannot decode event data: {error}"))
        })?;
        self.handler.handle(event, ctx).await
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<H>()
    }
}

struct Raw<H>(H);

#[async_trait]
impl<H, DB> ErasedHandler<DB> for Raw<H>
where
    H: EnvelopeHandler<DB>,
    DB: sqlx::Database,
{
    async fn call(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError> {
        self.0.handle(ctx).await
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<H>()
    }
}

/// Handlers by event type and schema version, and envelope handlers by pattern.
pub struct Router<DB: sqlx::Database> {
    handlers: HashMap<String, HashMap<u32, Arc<dyn ErasedHandler<DB>>>>,
    envelope_handlers: Vec<(Pattern, Arc<dyn ErasedHandler<DB>>)>,
    patterns: Vec<Pattern>,
}

impl<DB: sqlx::Database> Default for Router<DB> {
    fn default() -> Self {
        Self { handlers: HashMap::new(), envelope_handlers: Vec::new(), patterns: Vec::new() }
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

    /// Routes every event whose routing key matches `pattern` (and has no typed handler)
    /// to `handler`, and subscribes to the pattern.
    pub fn on_pattern<H: EnvelopeHandler<DB>>(mut self, pattern: Pattern, handler: H) -> Self {
        self.patterns.push(pattern.clone());
        self.envelope_handlers.push((pattern, Arc::new(Raw(handler))));
        self
    }

    /// Also subscribes to `pattern` without a handler: its events follow the consumer's
    /// policy for unhandled events.
    pub fn subscribe(mut self, pattern: Pattern) -> Self {
        self.patterns.push(pattern);
        self
    }

    /// The routing-key patterns of every routed event type.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub(crate) fn handler_for(
        &self,
        envelope: &Envelope,
        routing_key: &str,
    ) -> Option<&Arc<dyn ErasedHandler<DB>>> {
        let typed = self
            .handlers
            .get(envelope.event_type.as_str())
            .and_then(|versions| versions.get(&envelope.schema_version));
        typed.or_else(|| {
            self.envelope_handlers
                .iter()
                .find(|(pattern, _)| pattern.matches(routing_key))
                .map(|(_, handler)| handler)
        })
    }
}
