//! The embedded engine's fast path for producers: a business transaction as a closure on
//! SQLite's writer thread, over `rusqlite`.

use herald_envelope::{Envelope, Event};
use herald_outbox::{Outbox, OutboxId};

use crate::Result;

/// A business transaction on the embedded SQLite database's writer thread, given to the
/// closure of [`crate::Herald::write`]. It dereferences to the `rusqlite` transaction,
/// so the service writes its rows with `execute` or `prepare_cached` (placeholders
/// `?1`, `?2`, …), and enqueues its events with [`EmbeddedTransaction::enqueue`]. Both
/// commit together, possibly in one commit with other callers' transactions.
pub struct EmbeddedTransaction<'t> {
    tx: &'t herald_db::rusqlite::Transaction<'t>,
    outbox: &'t Outbox,
}

impl<'t> EmbeddedTransaction<'t> {
    /// Validates, encodes and inserts an event; it is published once the transaction
    /// commits. An invalid or oversize event is refused and nothing is written.
    pub fn enqueue(&self, envelope: &Envelope) -> Result<OutboxId> {
        Ok(self.outbox.enqueue_rusqlite(self.tx, envelope)?)
    }

    /// Builds the envelope of a typed event, enqueues it and returns it.
    pub fn enqueue_event<E: Event>(&self, source: &str, event: &E) -> Result<Envelope> {
        let envelope = Envelope::from_event(source, event)?;
        self.enqueue(&envelope)?;
        Ok(envelope)
    }
}

impl<'t> std::ops::Deref for EmbeddedTransaction<'t> {
    type Target = herald_db::rusqlite::Transaction<'t>;

    fn deref(&self) -> &Self::Target {
        self.tx
    }
}

/// Runs `work` as one business transaction on `engine`, then wakes the relays.
pub(crate) async fn write<T, F>(
    engine: &herald_db::SqliteWriter,
    outbox: &Outbox,
    work: F,
) -> Result<T>
where
    F: FnOnce(&EmbeddedTransaction<'_>) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let writer_outbox = outbox.clone();
    let result = engine
        .transaction(move |tx| work(&EmbeddedTransaction { tx, outbox: &writer_outbox }))
        .await?;
    outbox.committed();
    Ok(result)
}
