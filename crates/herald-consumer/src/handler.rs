//! Typed handlers, their outcome, and the router.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use herald_envelope::{Envelope, Event};
use herald_transport::Pattern;

use crate::DeadLetterReason;
use crate::layer::HandlerLayer;
use crate::upcast::{UpcastFailure, Upcaster, Upcasters};

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

/// Handlers by event type and schema version, upcasters between versions, and envelope
/// handlers by pattern.
pub struct Router<DB: sqlx::Database> {
    handlers: HashMap<String, HashMap<u32, Arc<dyn ErasedHandler<DB>>>>,
    upcasters: Upcasters,
    envelope_handlers: Vec<(Pattern, Arc<dyn ErasedHandler<DB>>)>,
    patterns: Vec<Pattern>,
    layers: Vec<Arc<dyn HandlerLayer<DB>>>,
}

impl<DB: sqlx::Database> Default for Router<DB> {
    fn default() -> Self {
        Self {
            handlers: HashMap::new(),
            upcasters: Upcasters::default(),
            envelope_handlers: Vec::new(),
            patterns: Vec::new(),
            layers: Vec::new(),
        }
    }
}

/// Where the router sends an event.
pub(crate) enum Route<'r, DB: sqlx::Database> {
    /// To this handler, with the envelope as the handler takes it (upcast if need be).
    Handle(Box<Envelope>, &'r Arc<dyn ErasedHandler<DB>>),
    /// To the dead-letter queue (or, for unhandled events, the unroutable policy), with
    /// the envelope as it came.
    Park(DeadLetterReason, String, Box<Envelope>),
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

    /// Runs `layer` around every handler call of this router (tracing, metrics, a
    /// service's own counters; see [`HandlerLayer`]). Layers added first run outermost.
    pub fn layer(mut self, layer: impl HandlerLayer<DB>) -> Self {
        self.layers.push(Arc::new(layer));
        self
    }

    /// The layers added with [`Router::layer`], outermost first.
    pub(crate) fn layers(&self) -> &[Arc<dyn HandlerLayer<DB>>] {
        &self.layers
    }

    /// Lifts events of `From` to `To` (the next version of the same type, or of a renamed
    /// type) with `lift`, and subscribes to `From`'s routing key. Upcasters chain: an
    /// event of version 1 reaches a handler of version 3 through 1 → 2 and 2 → 3.
    pub fn upcast<From, To, F>(mut self, lift: F) -> Self
    where
        From: Event,
        To: Event,
        F: Fn(From) -> To + Send + Sync + 'static,
    {
        self.upcasters.insert(From::TYPE, From::VERSION, Upcaster::typed::<From, To, F>(lift));
        self.subscribe_to(&From::routing_key());
        self
    }

    /// Lifts events of `event_type` version `from_version` to `to_version` by rewriting
    /// their JSON data, for old versions whose Rust types are gone. An `Err` from `lift`
    /// dead-letters the event with that reason. Subscribes to the old version's routing
    /// key under `kind`.
    pub fn upcast_json<F>(
        mut self,
        kind: herald_envelope::EventKind,
        event_type: &str,
        from_version: u32,
        to_version: u32,
        lift: F,
    ) -> Self
    where
        F: Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    {
        let step = Upcaster::json(event_type, to_version, lift);
        self.upcasters.insert(event_type, from_version, step);
        self.subscribe_to(&herald_envelope::routing_key(kind, event_type, from_version));
        self
    }

    fn subscribe_to(&mut self, routing_key: &str) {
        if let Ok(pattern) = routing_key.parse::<Pattern>()
            && !self.patterns.contains(&pattern)
        {
            self.patterns.push(pattern);
        }
    }

    fn typed(&self, event_type: &str, version: u32) -> Option<&Arc<dyn ErasedHandler<DB>>> {
        self.handlers.get(event_type).and_then(|versions| versions.get(&version))
    }

    /// The handler of `envelope`: a typed handler of its version, else one reached through
    /// upcasters, else an envelope handler whose pattern matches `routing_key`.
    pub(crate) fn route(&self, envelope: Box<Envelope>, routing_key: &str) -> Route<'_, DB> {
        if let Some(handler) = self.typed(&envelope.event_type, envelope.schema_version) {
            return Route::Handle(envelope, handler);
        }
        let handled = |event_type: &str, version: u32| self.typed(event_type, version).is_some();
        match self.upcasters.lift(&envelope, handled) {
            Some(Ok(lifted)) => {
                return match self.typed(&lifted.event_type, lifted.schema_version) {
                    Some(handler) => Route::Handle(Box::new(lifted), handler),
                    None => {
                        Route::Park(DeadLetterReason::NoUpcastPath, "no handler".into(), envelope)
                    }
                };
            }
            Some(Err(UpcastFailure::NoPath(reason))) => {
                return Route::Park(DeadLetterReason::NoUpcastPath, reason, envelope);
            }
            Some(Err(UpcastFailure::Failed(reason))) => {
                return Route::Park(DeadLetterReason::Rejected, reason, envelope);
            }
            None => {}
        }
        if let Some((_, handler)) =
            self.envelope_handlers.iter().find(|(pattern, _)| pattern.matches(routing_key))
        {
            return Route::Handle(envelope, handler);
        }
        let (reason, message) =
            (self.unhandled_reason(&envelope), self.unhandled_message(&envelope));
        Route::Park(reason, message, envelope)
    }

    fn unhandled_reason(&self, envelope: &Envelope) -> DeadLetterReason {
        if self.handlers.contains_key(&envelope.event_type) {
            DeadLetterReason::NoUpcastPath
        } else {
            DeadLetterReason::Unhandled
        }
    }

    fn unhandled_message(&self, envelope: &Envelope) -> String {
        let (event_type, version) = (&envelope.event_type, envelope.schema_version);
        let Some(versions) = self.handlers.get(event_type) else {
            return format!("no handler for type `{event_type}` version {version}");
        };
        let mut handled: Vec<u32> = versions.keys().copied().collect();
        handled.sort_unstable();
        let handled: Vec<String> = handled.iter().map(|v| format!("v{v}")).collect();
        let towards = if self.upcasters.starts_at(event_type, version) {
            ""
        } else {
            " and no upcaster starts there"
        };
        format!(
            "no handler takes `{event_type}` v{version}{towards}: handlers take {}; register an upcaster from v{version} with `Router::upcast`",
            handled.join(", ")
        )
    }
}
