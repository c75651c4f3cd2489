//! A business transaction on either database that also enqueues events.

use herald_db::{Database, FromRow, Statement};
use herald_envelope::{Envelope, Event};
use herald_outbox::{Outbox, OutboxId};
use sqlx::{Postgres, Sqlite};

use crate::Result;

/// The service's business transaction, on PostgreSQL or SQLite: its writes and its
/// events commit together or not at all. Dropped without [`Transaction::commit`], it
/// rolls back.
pub struct Transaction<'h> {
    inner: Inner,
    outbox: &'h Outbox,
}

enum Inner {
    Postgres(sqlx::Transaction<'static, Postgres>),
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

/// Runs `$body` with `$tx` bound to the transaction, whichever database it is on, and
/// `$db` to its sqlx database type.
macro_rules! on_either {
    ($inner:expr, $tx:ident, $db:ident => $body:expr) => {
        match $inner {
            Inner::Postgres($tx) => {
                type $db = Postgres;
                $body
            }
            Inner::Sqlite($tx) => {
                type $db = Sqlite;
                $body
            }
        }
    };
}

impl<'h> Transaction<'h> {
    /// Begins a transaction on `database` whose events go to `outbox`; [`crate::Herald::begin`]
    /// is the usual way.
    pub async fn begin(database: &Database, outbox: &'h Outbox) -> Result<Transaction<'h>> {
        let inner = match database {
            Database::Postgres(pool) => Inner::Postgres(pool.begin().await?),
            Database::Sqlite(sqlite) => Inner::Sqlite(sqlite.writer.begin().await?),
        };
        Ok(Transaction { inner, outbox })
    }

    /// Runs one of the service's statements; returns the rows it affected.
    pub async fn execute(&mut self, statement: Statement<'_>) -> Result<u64> {
        Ok(on_either!(&mut self.inner, tx, DB => statement.execute::<DB>(tx).await?))
    }

    /// Runs a query and returns its first row, if any.
    pub async fn fetch_optional<T: FromRow>(
        &mut self,
        statement: Statement<'_>,
    ) -> Result<Option<T>> {
        Ok(on_either!(&mut self.inner, tx, DB => statement.fetch_optional::<DB, T>(tx).await?))
    }

    /// Runs a query and returns every row.
    pub async fn fetch_all<T: FromRow>(&mut self, statement: Statement<'_>) -> Result<Vec<T>> {
        Ok(on_either!(&mut self.inner, tx, DB => statement.fetch_all::<DB, T>(tx).await?))
    }

    /// Validates, encodes and enqueues an envelope; see [`Outbox::enqueue`].
    pub async fn enqueue(&mut self, envelope: &Envelope) -> Result<OutboxId> {
        Ok(on_either!(&mut self.inner, tx, _DB => self.outbox.enqueue(tx, envelope).await?))
    }

    /// Validates, encodes and enqueues several envelopes, in one statement on PostgreSQL;
    /// if one is refused, none is written. See [`Outbox::enqueue_many`].
    pub async fn enqueue_many(&mut self, envelopes: &[Envelope]) -> Result<Vec<OutboxId>> {
        Ok(on_either!(&mut self.inner, tx, _DB => self.outbox.enqueue_many(tx, envelopes).await?))
    }

    /// Builds a typed event's envelope (from `source`, the producing service) and
    /// enqueues it; returns the envelope.
    pub async fn enqueue_event<E: Event>(&mut self, source: &str, event: &E) -> Result<Envelope> {
        Ok(
            on_either!(&mut self.inner, tx, _DB => self.outbox.enqueue_event(tx, source, event).await?),
        )
    }

    /// Commits, then wakes the relays at once.
    pub async fn commit(self) -> Result<()> {
        on_either!(self.inner, tx, _DB => self.outbox.commit(tx).await?);
        Ok(())
    }

    /// Rolls back: neither the writes nor the events happened.
    pub async fn rollback(self) -> Result<()> {
        on_either!(self.inner, tx, _DB => tx.rollback().await?);
        Ok(())
    }

    /// The PostgreSQL transaction, for queries written with `sqlx` directly.
    pub fn as_postgres(&mut self) -> Option<&mut sqlx::Transaction<'static, Postgres>> {
        match &mut self.inner {
            Inner::Postgres(tx) => Some(tx),
            Inner::Sqlite(_) => None,
        }
    }

    /// The SQLite transaction, for queries written with `sqlx` directly.
    pub fn as_sqlite(&mut self) -> Option<&mut sqlx::Transaction<'static, Sqlite>> {
        match &mut self.inner {
            Inner::Sqlite(tx) => Some(tx),
            Inner::Postgres(_) => None,
        }
    }
}
