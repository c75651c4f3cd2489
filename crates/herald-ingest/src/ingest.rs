//! The checks and the one-transaction write behind `POST /events`.

use std::collections::HashMap;
use std::sync::Arc;

use herald_db::Database;
use herald_envelope::{Envelope, EventId, Limits};
use herald_http::Credentials;
use herald_outbox::{Outbox, OutboxBackend, OutboxError};
use herald_schema::Schemas;
use sqlx::Transaction;

use crate::{IngestError, Result};

/// The default largest number of events in one batch.
pub const DEFAULT_MAX_BATCH_EVENTS: usize = 1000;
/// The default largest request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1_048_576;

/// Accepts events from outside: checks them all, then enqueues them all in one
/// transaction.
#[derive(Debug)]
pub struct Ingest {
    db: Database,
    schemas: Arc<Schemas>,
    outbox: Outbox,
    credentials: Credentials,
    limits: Limits,
    max_batch_events: usize,
    max_body_bytes: usize,
}

/// Whether the events of a request are reported by index (a batch, or a list given to
/// [`Ingest::accept`]) or not (binary and structured mode, one event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Indexing {
    /// Errors carry the event's index.
    ByIndex,
    /// Errors carry no index.
    Single,
}

impl Ingest {
    /// Ingest into the outbox of `db`, checking payloads against `schemas`; requests must
    /// carry `credentials` (with none configured, every request is refused).
    ///
    /// The event size limit starts as the outbox's (`OutboxConfig::limits`), at most
    /// [`DEFAULT_MAX_BATCH_EVENTS`] events are accepted per request, and bodies up to
    /// [`DEFAULT_MAX_BODY_BYTES`]. The outbox should wake the relays on commit
    /// ([`Outbox::with_wakeup`]), or they notice the events at their next poll.
    pub fn new(
        db: Database,
        schemas: Arc<Schemas>,
        outbox: Outbox,
        credentials: Credentials,
    ) -> Ingest {
        let limits = outbox.config().limits;
        Ingest {
            db,
            schemas,
            outbox,
            credentials,
            limits,
            max_batch_events: DEFAULT_MAX_BATCH_EVENTS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// Sets the limits each event is checked against (its encoded size). The outbox's own
    /// limit still applies when the event is enqueued.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Ingest {
        self.limits = limits;
        self
    }

    /// Sets the largest number of events one request may hold (at least 1).
    #[must_use]
    pub fn with_max_batch_events(mut self, max_batch_events: usize) -> Ingest {
        self.max_batch_events = max_batch_events.max(1);
        self
    }

    /// Sets the largest request body, in bytes, that [`router`](crate::router) reads; a
    /// larger one is refused with 413 before it is buffered whole.
    #[must_use]
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Ingest {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// The limits each event is checked against.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The largest number of events per request.
    pub fn max_batch_events(&self) -> usize {
        self.max_batch_events
    }

    /// The largest request body, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Who may ingest.
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Whether HTTP Basic credentials are configured (for the `WWW-Authenticate`
    /// challenges of a 401).
    pub(crate) fn accepts_basic(&self) -> bool {
        self.credentials.basic.is_some()
    }

    /// Checks every envelope (attribute rules and size, unique ids, payload against its
    /// registered schema, which sets `dataschema`), then enqueues them all in one
    /// transaction and commits. Returns their ids in order.
    ///
    /// All or nothing: when any event is refused, nothing is written, and the error names
    /// the event's index in `envelopes` and its id.
    pub async fn accept(&self, envelopes: Vec<Envelope>) -> Result<Vec<EventId>> {
        self.accept_with(envelopes, Indexing::ByIndex).await
    }

    /// [`Ingest::accept`], with errors indexed or not.
    pub(crate) async fn accept_with(
        &self,
        mut envelopes: Vec<Envelope>,
        indexing: Indexing,
    ) -> Result<Vec<EventId>> {
        if envelopes.is_empty() {
            return Err(IngestError::EmptyBatch);
        }
        if envelopes.len() > self.max_batch_events {
            return Err(IngestError::TooManyEvents {
                count: envelopes.len(),
                limit: self.max_batch_events,
            });
        }
        let at = |index: usize| (indexing == Indexing::ByIndex).then_some(index);
        let mut first_index_of_id = HashMap::with_capacity(envelopes.len());
        for (index, envelope) in envelopes.iter().enumerate() {
            if let Some(first_index) = first_index_of_id.insert(envelope.id, index) {
                return Err(IngestError::DuplicateId { index, first_index, id: envelope.id });
            }
        }
        for (index, envelope) in envelopes.iter_mut().enumerate() {
            let invalid = |source| IngestError::InvalidEvent {
                index: at(index),
                id: Some(envelope.id.to_string()),
                source,
            };
            envelope.validate(&self.limits).map_err(invalid)?;
            self.schemas.validate(envelope).await.map_err(|source| IngestError::Schema {
                index: at(index),
                id: envelope.id,
                source,
            })?;
            // `dataschema` was set: the event is a little larger than it came.
            envelope.validate(&self.limits).map_err(|source| IngestError::InvalidEvent {
                index: at(index),
                id: Some(envelope.id.to_string()),
                source,
            })?;
        }
        match &self.db {
            Database::Postgres(pool) => {
                let tx = pool.begin().await.map_err(|error| storage(error.into()))?;
                self.write(tx, &envelopes, indexing).await?;
            }
            Database::Sqlite(sqlite) => {
                let tx = sqlite.begin_write().await.map_err(|error| storage(error.into()))?;
                self.write(tx, &envelopes, indexing).await?;
            }
        }
        Ok(envelopes.iter().map(|envelope| envelope.id).collect())
    }

    /// Enqueues every envelope through `tx` and commits; on any failure `tx` is dropped,
    /// which rolls it back.
    async fn write<DB: OutboxBackend>(
        &self,
        mut tx: Transaction<'static, DB>,
        envelopes: &[Envelope],
        indexing: Indexing,
    ) -> Result<()> {
        self.outbox.enqueue_many(&mut tx, envelopes).await.map_err(|error| match error {
            OutboxError::InBatch { index, event_id, source } => match *source {
                OutboxError::Envelope(source) => IngestError::InvalidEvent {
                    index: (indexing == Indexing::ByIndex).then_some(index),
                    id: Some(event_id),
                    source,
                },
                other => storage(other),
            },
            other => storage(other),
        })?;
        self.outbox.commit(tx).await.map_err(storage)
    }
}

/// A failure to write.
fn storage(error: OutboxError) -> IngestError {
    IngestError::Storage(error)
}
