//! [`Herald`]: the settings every part shares, and the parts.

use herald_consumer::ConsumerConfig;
use herald_db::{Database, DatabaseOptions, SqliteDb, Wakeup};
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig};

use crate::{Consumer, EmbeddedTransaction, Error, Result, Routes, Transaction, Transport};

/// Builds a [`Herald`]: where the database and the broker are, and the settings every
/// producer, relay and consumer of one outbox must agree on.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct HeraldBuilder {
    database_url: Option<String>,
    database: Option<Database>,
    database_options: DatabaseOptions,
    broker_url: Option<String>,
    namespace: String,
    partitions: u32,
}

impl Default for HeraldBuilder {
    fn default() -> Self {
        HeraldBuilder {
            database_url: None,
            database: None,
            database_options: DatabaseOptions::default(),
            broker_url: None,
            namespace: "herald".into(),
            partitions: OutboxConfig::default().partitions,
        }
    }
}

impl HeraldBuilder {
    /// The database: `sqlite://FILE` (embedded, created if missing) or
    /// `postgres://user@host:5432/db`. Herald's tables are migrated when it connects.
    pub fn database(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// A database the service has already connected (and migrated).
    pub fn with_database(mut self, database: Database) -> Self {
        self.database = Some(database);
        self
    }

    /// Pool size and SQLite durability (see [`DatabaseOptions`]).
    pub fn database_options(mut self, options: DatabaseOptions) -> Self {
        self.database_options = options;
        self
    }

    /// The broker: `amqp://…` (RabbitMQ) or `nats://…` (NATS JetStream). Without one,
    /// events travel through the embedded log in the database.
    pub fn broker(mut self, url: impl Into<String>) -> Self {
        self.broker_url = Some(url.into());
        self
    }

    /// Like [`HeraldBuilder::broker`], for a URL that may be absent.
    pub fn broker_url(mut self, url: Option<String>) -> Self {
        self.broker_url = url;
        self
    }

    /// The prefix of the broker's names, so several installations share one broker.
    /// Default `herald`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The outbox's partitions (1 to 4096, default 16); the same for the producers, the
    /// relays and the embedded log, which is why only Herald sets it.
    pub fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions;
        self
    }

    /// Checks every setting, connects the database (and migrates it) and opens the
    /// transport. The broker itself is connected on first use.
    pub async fn build(self) -> Result<Herald> {
        let outbox =
            Outbox::new(OutboxConfig { partitions: self.partitions, ..OutboxConfig::default() })?;
        Transport::check(self.broker_url.as_deref(), &self.namespace)?;
        let database = match (self.database, &self.database_url) {
            (Some(database), _) => database,
            (None, Some(url)) => Database::connect(url, &self.database_options).await?,
            (None, None) => return Err(Error::NoDatabase),
        };
        let outbox = outbox.with_wakeup(match &database {
            Database::Sqlite(sqlite) => sqlite.wakeup.clone(),
            Database::Postgres(pool) => Wakeup::for_postgres(pool.clone()),
        });
        let transport = Transport::open(
            self.broker_url.as_deref(),
            &self.namespace,
            &database,
            self.partitions,
        )?;
        Ok(Herald { database, outbox, transport, namespace: self.namespace })
    }
}

/// Herald in a service: one database, one transport, and the settings they share.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Herald {
    database: Database,
    outbox: Outbox,
    transport: Transport,
    namespace: String,
}

impl Herald {
    /// A builder; see [`HeraldBuilder`].
    pub fn builder() -> HeraldBuilder {
        HeraldBuilder::default()
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The producers' outbox handle, for enqueueing into a `sqlx::Transaction` of the
    /// service's own ([`Outbox::enqueue`]); [`Herald::begin`] is the shorter way.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// The transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The outbox's partition count.
    pub fn partitions(&self) -> u32 {
        self.outbox.config().partitions
    }

    /// The broker namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Begins a business transaction: write the service's rows and enqueue its events
    /// through it, then [`Transaction::commit`] commits both at once.
    pub async fn begin(&self) -> Result<Transaction<'_>> {
        Transaction::begin(&self.database, &self.outbox).await
    }

    /// Runs `work` as one business transaction on the embedded SQLite database's writer
    /// thread (`rusqlite`, cached prepared statements), the fastest way to produce on
    /// SQLite: transactions that arrive together share one commit, and each is still all
    /// or nothing. The closure writes the service's rows through the
    /// [`EmbeddedTransaction`] (it dereferences to `rusqlite::Transaction`) and enqueues
    /// events; an `Err` rolls back its writes. Returns once committed, and wakes the
    /// relays. On PostgreSQL or an in-memory database it is
    /// [`Error::NotEmbedded`](crate::Error::NotEmbedded): use [`Herald::begin`].
    ///
    /// The closure runs on the writer thread: keep it to database work (no waiting on
    /// other services).
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&EmbeddedTransaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        match &self.database {
            Database::Sqlite(SqliteDb { engine: Some(engine), .. }) => {
                crate::embedded::write(engine, &self.outbox, work).await
            }
            Database::Sqlite(_) => Err(crate::Error::NotEmbedded("in memory")),
            Database::Postgres(_) => Err(crate::Error::NotEmbedded("PostgreSQL")),
        }
    }

    /// A relay with the default settings: run it with [`Relay::run`]. Sent rows are
    /// deleted once the transport confirmed them.
    pub fn relay(&self) -> Relay {
        self.relay_with(RelayConfig::default())
    }

    /// A relay with these settings; its partition count is Herald's.
    pub fn relay_with(&self, config: RelayConfig) -> Relay {
        let store = OutboxStore::new(self.database.clone(), Retention::DeleteOnSend);
        let config = RelayConfig { partitions: self.partitions(), ..config };
        Relay::new(store, std::sync::Arc::clone(&self.transport.publisher), config)
    }

    /// A member of the consumer group `config.name`, with the router `routes` builds for
    /// this database. Its inbox, effects and dead letters are written to Herald's
    /// database. Run it with [`Consumer::run`].
    pub fn consumer(&self, config: ConsumerConfig, routes: &impl Routes) -> Consumer {
        Consumer::new(
            &self.database,
            std::sync::Arc::clone(&self.transport.subscriber),
            config,
            routes,
        )
    }

    /// Declares `routes`' subscription on the broker for `group` before any consumer
    /// runs, so that events published meanwhile are kept for it (RabbitMQ; the other
    /// transports keep every event anyway).
    pub async fn declare(&self, group: &str, routes: &impl Routes) -> Result<()> {
        let patterns = match &self.database {
            Database::Postgres(_) => routes.routes::<sqlx::Postgres>().patterns().to_vec(),
            Database::Sqlite(_) => routes.routes::<sqlx::Sqlite>().patterns().to_vec(),
        };
        self.transport.declare_group(group, &patterns).await
    }

    /// Closes the database's pools.
    pub async fn close(&self) {
        self.database.close().await;
    }
}
