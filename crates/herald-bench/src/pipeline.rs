//! The whole path in one process: producers, a relay, a transport (the SQL log or a
//! broker) and a consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald::Transport;
use herald_consumer::{Consumer, ConsumerConfig, ConsumerStats, Router};
use herald_db::{Database, DatabaseOptions, Wakeup};
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig, RelayStats};
use herald_transport::Pattern;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::workload::{self, OrderPlaced, RecordOrder, Tracker};

/// The transport between the relay and the consumer, as [`Transport::open`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Broker URL: `amqp://…` (RabbitMQ) or `nats://…` (NATS JetStream); `None` for the
    /// embedded log in the producer's database.
    pub url: Option<String>,
    /// Prefix of the broker's names (exchange, queues, stream, subjects).
    pub namespace: String,
    /// TLS settings beyond the URL (NATS: a CA file, a client certificate).
    pub tls: herald::BrokerTls,
}

impl Default for Broker {
    /// The embedded log, namespace `herald`.
    fn default() -> Self {
        Broker { url: None, namespace: "herald".into(), tls: herald::BrokerTls::default() }
    }
}

impl Broker {
    /// Opens the transport; the embedded log lives in `db`. A bad URL, namespace or TLS
    /// setting is [`herald::Error::InvalidBrokerUrl`], [`herald::Error::InvalidNamespace`]
    /// or [`herald::Error::BrokerTls`].
    pub fn open(&self, db: &Database, partitions: u32) -> herald::Result<Transport> {
        Transport::open_with_tls(self.url.as_deref(), &self.namespace, db, partitions, &self.tls)
    }
}

/// Where the pipeline's two databases live.
#[derive(Debug, Clone)]
pub struct PipelineDatabases {
    /// The producing service's database: business rows, outbox, and the log.
    pub producer_url: String,
    /// The consuming service's own database: its effects and inbox.
    pub consumer_url: String,
}

impl PipelineDatabases {
    /// For a `postgres://` URL both services share the database (in separate tables);
    /// for SQLite the consumer gets a file of its own beside the producer's, as a separate
    /// service would, and so that the two do not contend for one writer lock.
    pub fn from_url(url: &str) -> PipelineDatabases {
        let consumer_url = match url.strip_suffix(".db") {
            Some(stem) if url.starts_with("sqlite:") => format!("{stem}-consumer.db"),
            _ if url.starts_with("sqlite:") => format!("{url}-consumer"),
            _ => url.to_owned(),
        };
        PipelineDatabases { producer_url: url.to_owned(), consumer_url }
    }
}

/// A running relay and consumer, and what producers need.
pub struct Pipeline {
    /// The producer's database.
    pub producer_db: Database,
    /// The consumer's database.
    pub consumer_db: Database,
    /// The producers' outbox handle (wakes the in-process relay on commit).
    pub outbox: Outbox,
    /// What the consumer saw.
    pub tracker: Arc<Tracker>,
    /// Each relay's counters.
    pub relay_stats: Vec<Arc<RelayStats>>,
    /// Each consumer group member's counters.
    pub consumer_stats: Vec<Arc<ConsumerStats>>,
    /// Orders committed so far.
    pub produced: Arc<AtomicU64>,
    /// The transport's name.
    pub transport: &'static str,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    broker: Transport,
}

/// Settings of an in-process pipeline.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// The databases.
    pub databases: PipelineDatabases,
    /// The run id (the consumer group and the rows of this run).
    pub run: String,
    /// Outbox and log partitions.
    pub partitions: u32,
    /// Producer tasks that will share the producer's pool.
    pub producers: u64,
    /// The transport between the relay and the consumer.
    pub broker: Broker,
    /// Whether the relay records the delivery ledger.
    pub ledger: bool,
    /// Relays sharing the outbox's partitions through leases.
    pub relays: usize,
    /// Members of the consumer group.
    pub consumers: usize,
}

impl Pipeline {
    /// Connects, migrates, and starts the relay and the consumer. A bad broker setting
    /// fails with the [`herald::Error`] of [`Broker::open`], unwrapped, so that the
    /// caller can name its flag.
    pub async fn start(options: &PipelineOptions) -> anyhow::Result<Pipeline> {
        // Every producer task holds a connection for its transaction; the relay, the
        // consumer and the listeners need theirs too.
        let db_options = DatabaseOptions {
            max_connections: options.producers as u32 + 8,
            ..DatabaseOptions::default()
        };
        let producer_db = Database::connect(&options.databases.producer_url, &db_options).await?;
        let consumer_db = if options.databases.consumer_url == options.databases.producer_url {
            producer_db.clone()
        } else {
            Database::connect(&options.databases.consumer_url, &db_options).await?
        };
        workload::create_tables(&producer_db, &consumer_db).await?;
        if !options.ledger {
            herald_outbox::drop_ledger_triggers(&producer_db).await?;
        }
        let outbox_config =
            OutboxConfig { partitions: options.partitions, ..OutboxConfig::default() };
        let mut outbox = Outbox::new(outbox_config)?;
        outbox = outbox.with_wakeup(match &producer_db {
            Database::Sqlite(sqlite) => sqlite.wakeup.clone(),
            Database::Postgres(pool) => Wakeup::for_postgres(pool.clone()),
        });
        let transport = options.broker.open(&producer_db, options.partitions)?;
        let shop_pattern: Pattern =
            <OrderPlaced as herald_envelope::Event>::routing_key().parse()?;
        if options.consumers > 1 && !transport.subscriber.features().members_keep_key_order {
            anyhow::bail!(
                "{} consumer group members were asked for, but {}'s members do not keep one \
                 key's order (a key's events may go to different members): run one consumer",
                options.consumers,
                transport.name
            );
        }
        transport.declare_group("shipping", &[shop_pattern]).await?;
        let tracker = Arc::new(Tracker::new(&options.run));
        let (shutdown, _) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut relay_stats = Vec::new();
        // Each relay and each consumer gets a transport of its own (its own broker
        // connection), as separate processes would.
        for _ in 0..options.relays.max(1) {
            let store = OutboxStore::new(producer_db.clone(), Retention::DeleteOnSend);
            let relay = Relay::new(
                if options.ledger { store } else { store.without_ledger() },
                Arc::clone(&options.broker.open(&producer_db, options.partitions)?.publisher),
                RelayConfig { partitions: options.partitions, ..RelayConfig::default() },
            );
            relay_stats.push(relay.stats());
            let stop = stopped(&shutdown);
            tasks.push(tokio::spawn(async move { Ok(relay.run(stop).await?) }));
        }
        // One consumer service, `shipping`, across runs: a new group would start at the log's
        // beginning and replay every earlier run first.
        let mut consumer_config = ConsumerConfig::new("shipping");
        if let Database::Sqlite(_) = consumer_db {
            // One writer: a round's shares would commit one after another anyway, so one
            // transaction per round (BENCHMARKS.md: p50 at 5,000/s 4.0 ms against 6.5).
            consumer_config.workers = 1;
        }
        let mut consumer_stats = Vec::new();
        for member in 0..options.consumers.max(1) {
            let config = ConsumerConfig {
                member: format!("{}-{member}", consumer_config.member),
                ..consumer_config.clone()
            };
            let record = RecordOrder::new(Arc::clone(&tracker));
            let subscriber =
                Arc::clone(&options.broker.open(&producer_db, options.partitions)?.subscriber);
            let stop = stopped(&shutdown);
            let (stats, task) = match consumer_db.clone() {
                Database::Postgres(pool) => {
                    let consumer = Consumer::new(config, pool, Router::new().on(record));
                    let stats = consumer.stats();
                    let task: JoinHandle<anyhow::Result<()>> =
                        tokio::spawn(
                            async move { Ok(consumer.run(subscriber.as_ref(), stop).await?) },
                        );
                    (stats, task)
                }
                Database::Sqlite(sqlite) => {
                    let consumer = Consumer::new(config, sqlite.writer, Router::new().on(record));
                    let stats = consumer.stats();
                    let task: JoinHandle<anyhow::Result<()>> =
                        tokio::spawn(
                            async move { Ok(consumer.run(subscriber.as_ref(), stop).await?) },
                        );
                    (stats, task)
                }
            };
            consumer_stats.push(stats);
            tasks.push(task);
        }
        wait_for_partitions(&relay_stats, options.partitions).await;
        Ok(Pipeline {
            producer_db,
            consumer_db,
            outbox,
            tracker,
            relay_stats,
            consumer_stats,
            produced: Arc::default(),
            transport: transport.name,
            shutdown,
            tasks,
            broker: transport,
        })
    }

    /// Stops the relays and the consumers (each finishes the batch in hand).
    pub async fn stop(self) -> anyhow::Result<(Database, Database)> {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(30), task).await???;
        }
        Ok((self.producer_db, self.consumer_db))
    }

    /// Stops like [`Pipeline::stop`], then deletes the broker's queues or stream of the
    /// pipeline's namespace (nothing for the embedded log): for a namespace of the run's
    /// own.
    pub async fn stop_and_delete_topology(self) -> anyhow::Result<(Database, Database)> {
        let broker = self.broker.clone();
        let databases = self.stop().await?;
        broker.delete_topology(&["shipping"]).await?;
        Ok(databases)
    }
}

/// Waits (up to 10 s) until every relay holds partitions (each one its share, when there
/// are no more relays than partitions), so that a measurement does not count the start-up
/// as latency.
async fn wait_for_partitions(relay_stats: &[Arc<RelayStats>], partitions: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    let held = |stats: &Arc<RelayStats>| stats.partitions_held.load(Ordering::Relaxed);
    let settled = || {
        let holding = relay_stats.iter().filter(|stats| held(stats) > 0).count();
        let total: u64 = relay_stats.iter().map(held).sum();
        holding == relay_stats.len().min(partitions as usize) && total == u64::from(partitions)
    };
    while !settled() && tokio::time::Instant::now() < deadline {
        ticker.tick().await;
    }
}

/// A future that ends when `shutdown` turns true.
pub(crate) fn stopped(
    shutdown: &watch::Sender<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut receiver = shutdown.subscribe();
    async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}
