//! A consumer group member on either database, with handlers written once.

use std::future::Future;
use std::sync::Arc;

use herald_consumer::{ConsumerConfig, ConsumerStats, InboxBackend, Router};
use herald_db::{Database, Dialect};
use herald_outbox::OutboxBackend;
use herald_transport::Subscriber;
use sqlx::{Postgres, Sqlite};

use crate::Result;

/// A database Herald runs on, with everything a handler needs: [`Dialect`] (portable
/// statements), the outbox (a handler may enqueue events) and the inbox. Implemented for
/// [`sqlx::Postgres`] and [`sqlx::Sqlite`]; write a handler once as
/// `impl<DB: Backend> Handler<MyEvent, DB> for MyHandler`.
pub trait Backend: Dialect + OutboxBackend + InboxBackend {}

impl Backend for Postgres {}
impl Backend for Sqlite {}

/// Builds a service's router for whichever database its consumer runs on. Closures
/// cannot be generic, so a service names its routes with a type:
///
/// ```
/// use herald::prelude::*;
///
/// struct Billing;
///
/// impl Routes for Billing {
///     fn routes<DB: Backend>(&self) -> Router<DB> {
///         Router::new() // .on::<OrderPlaced, _>(RecordInvoice)
///     }
/// }
/// ```
pub trait Routes {
    /// The router: handlers by event type, and the subscription they add up to.
    fn routes<DB: Backend>(&self) -> Router<DB>;
}

/// A member of a consumer group, on PostgreSQL or SQLite.
pub struct Consumer {
    member: Member,
    subscriber: Arc<dyn Subscriber>,
}

enum Member {
    Postgres(herald_consumer::Consumer<Postgres>),
    Sqlite(herald_consumer::Consumer<Sqlite>),
}

impl Consumer {
    pub(crate) fn new(
        database: &Database,
        subscriber: Arc<dyn Subscriber>,
        config: ConsumerConfig,
        routes: &impl Routes,
    ) -> Consumer {
        let member = match database {
            Database::Postgres(pool) => Member::Postgres(herald_consumer::Consumer::new(
                config,
                pool.clone(),
                routes.routes(),
            )),
            Database::Sqlite(sqlite) => Member::Sqlite(herald_consumer::Consumer::new(
                config,
                sqlite.writer.clone(),
                routes.routes(),
            )),
        };
        Consumer { member, subscriber }
    }

    /// The consumer's counters, to read while it runs.
    pub fn stats(&self) -> Arc<ConsumerStats> {
        match &self.member {
            Member::Postgres(consumer) => consumer.stats(),
            Member::Sqlite(consumer) => consumer.stats(),
        }
    }

    /// Runs until `shutdown` completes; the round in hand is finished and settled first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let subscriber = self.subscriber.as_ref();
        match self.member {
            Member::Postgres(consumer) => consumer.run(subscriber, shutdown).await?,
            Member::Sqlite(consumer) => consumer.run(subscriber, shutdown).await?,
        }
        Ok(())
    }
}
