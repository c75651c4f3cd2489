//! In-process handlers and translations, run in the business transaction.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_trait::async_trait;
use herald_envelope::{Envelope, Event, EventKind};
use herald_outbox::{Outbox, OutboxBackend};
use sqlx::Transaction;

use crate::{DomainError, RaisedEvent, Result};

/// Applies one type of domain event inside the business transaction.
#[async_trait]
pub trait DomainHandler<E: Event, DB: sqlx::Database>: Send + Sync + 'static {
    /// Applies `event` through `tx`; an error aborts the dispatch (the caller rolls back).
    async fn handle(&self, event: &E, tx: &mut DB::Connection) -> std::result::Result<(), String>;
}

#[async_trait]
trait ErasedHandler<DB: sqlx::Database>: Send + Sync {
    async fn call(&self, raised: &RaisedEvent, tx: &mut DB::Connection) -> Result<()>;
}

struct Typed<E, H> {
    handler: H,
    event: PhantomData<fn() -> E>,
}

#[async_trait]
impl<E, H, DB> ErasedHandler<DB> for Typed<E, H>
where
    E: Event + Send + Sync + 'static,
    H: DomainHandler<E, DB>,
    DB: sqlx::Database,
{
    async fn call(&self, raised: &RaisedEvent, tx: &mut DB::Connection) -> Result<()> {
        let Some(event) = raised.decode::<E>() else { return Ok(()) };
        let event = event?;
        self.handler.handle(&event, tx).await.map_err(|message| DomainError::Handler {
            event_type: raised.event_type.to_owned(),
            message,
        })
    }
}

type Translation = Box<dyn Fn(&RaisedEvent, &str) -> Result<Option<Envelope>> + Send + Sync>;
type Key = (&'static str, u32);

/// What a dispatch did.
#[derive(Debug, Default)]
pub struct Dispatched {
    /// In-process handler runs.
    pub handled: usize,
    /// The integration events enqueued in the outbox, in order.
    pub published: Vec<Envelope>,
}

/// The domain events' in-process handlers and their translations into integration events.
pub struct DomainBus<DB: sqlx::Database> {
    outbox: Outbox,
    source: String,
    handlers: HashMap<Key, Vec<Arc<dyn ErasedHandler<DB>>>>,
    translations: HashMap<Key, Vec<Translation>>,
}

impl<DB: OutboxBackend> DomainBus<DB> {
    /// A bus that enqueues translated events into `outbox` with `source` (the service).
    pub fn new(outbox: Outbox, source: impl Into<String>) -> DomainBus<DB> {
        DomainBus {
            outbox,
            source: source.into(),
            handlers: HashMap::new(),
            translations: HashMap::new(),
        }
    }

    /// Runs `handler` for every `E` dispatched, in the business transaction.
    #[must_use]
    pub fn on<E, H>(mut self, handler: H) -> Self
    where
        E: Event + Send + Sync + 'static,
        H: DomainHandler<E, DB>,
    {
        let typed = Typed { handler, event: PhantomData::<fn() -> E> };
        self.handlers.entry((E::TYPE, E::VERSION)).or_default().push(Arc::new(typed));
        self
    }

    /// Publishes `D` to other services as the integration (or notification) event
    /// `translate` makes of it (`None`: this one stays inside). A translation into a
    /// domain event is refused: domain events never leave the service.
    pub fn translate<D, I, F>(mut self, translate: F) -> Result<Self>
    where
        D: Event + 'static,
        I: Event + 'static,
        F: Fn(&D) -> Option<I> + Send + Sync + 'static,
    {
        if I::KIND == EventKind::Domain {
            return Err(DomainError::StaysInside {
                from: D::TYPE.to_owned(),
                to: I::TYPE.to_owned(),
            });
        }
        let translation = move |raised: &RaisedEvent, source: &str| -> Result<Option<Envelope>> {
            let Some(event) = raised.decode::<D>() else { return Ok(None) };
            match translate(&event?) {
                Some(integration) => Ok(Some(Envelope::from_event(source, &integration)?)),
                None => Ok(None),
            }
        };
        self.translations.entry((D::TYPE, D::VERSION)).or_default().push(Box::new(translation));
        Ok(self)
    }

    /// Runs the handlers of each raised event, in order, then enqueues its translations,
    /// all in `tx`. On error nothing is undone here: roll `tx` back.
    pub async fn dispatch(
        &self,
        tx: &mut Transaction<'_, DB>,
        raised: &[RaisedEvent],
    ) -> Result<Dispatched> {
        let mut dispatched = Dispatched::default();
        for event in raised {
            let key = (event.event_type, event.version);
            for handler in self.handlers.get(&key).into_iter().flatten() {
                handler.call(event, &mut **tx).await?;
                dispatched.handled += 1;
            }
            for translation in self.translations.get(&key).into_iter().flatten() {
                if let Some(envelope) = translation(event, &self.source)? {
                    self.outbox.enqueue(tx, &envelope).await?;
                    dispatched.published.push(envelope);
                }
            }
        }
        Ok(dispatched)
    }
}
