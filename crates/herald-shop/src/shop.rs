//! [`Shop`]: every service of the shop in one process, over one database, with a relay
//! publishing the outbox to the embedded log ([`SqlLog`]) and one consumer group per
//! service; and [`Shop::verify`], the cross-service consistency check.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use herald_consumer::{Consumer, ConsumerConfig, ConsumerStats, Router};
use herald_db::{Database, Wakeup};
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig, RelayStats};
use herald_transport::{Publisher, SqlLog, SqlLogConfig, Subscriber};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::{
    OrderShipped, ShopOrderCancelled, ShopOrderPaid, ShopOrderPlaced, StockRejected, StockReserved,
};
use crate::inventory::{self, Inventory};
use crate::notifications::{self, Notifications};
use crate::orders::{self, CancelRejected, Orders};
use crate::shipping::{self, Shipping};
use crate::{Result, ShopError};

/// Settings of a [`Shop`].
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// Outbox and log partitions (1 to 4096).
    pub partitions: u32,
    /// The stock levels the inventory starts with, per sku (kept if already stocked).
    pub stock: Vec<(String, i64)>,
    /// How often the relay and the log's subscribers poll besides being woken.
    pub poll_interval: Duration,
    /// How long sent outbox rows are kept (`verify` counts the shop's events in them).
    pub outbox_retention: Duration,
    /// Workers per consumer group, each holding a connection while it applies events. On
    /// PostgreSQL the pool needs room for `4 * workers` plus the commands' transactions.
    pub workers: usize,
    /// Where the events travel between the services.
    pub broker: ShopBroker,
}

/// The transport between the shop's services.
#[derive(Clone, Default)]
pub enum ShopBroker {
    /// The embedded log in the shop's database.
    #[default]
    Embedded,
    /// RabbitMQ: each service's queue is declared and bound before the relay starts, so
    /// nothing published is unrouted.
    RabbitMq(Arc<herald_rabbitmq::RabbitMq>),
}

impl std::fmt::Debug for ShopBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ShopBroker::Embedded => "Embedded",
            ShopBroker::RabbitMq(_) => "RabbitMq",
        })
    }
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            partitions: 8,
            stock: Vec::new(),
            poll_interval: Duration::from_millis(20),
            outbox_retention: Duration::from_secs(3600),
            workers: 2,
            broker: ShopBroker::Embedded,
        }
    }
}

/// The consumer groups of the shop's services.
pub const GROUPS: [&str; 4] = ["orders", "inventory", "shipping", "notifications"];

/// What [`Shop::verify`] counted when the services agreed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopSummary {
    /// Orders in the read model.
    pub orders: usize,
    /// Orders placed and neither paid nor cancelled.
    pub placed: usize,
    /// Paid orders.
    pub paid: usize,
    /// Cancelled orders.
    pub cancelled: usize,
    /// Orders whose stock inventory rejected.
    pub rejected: usize,
    /// Shipped orders.
    pub shipped: usize,
}

/// The shop's services running in one process.
pub struct Shop {
    db: Database,
    orders: Orders,
    relay_stats: Arc<RelayStats>,
    consumer_stats: Vec<(&'static str, Arc<ConsumerStats>)>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<()>>>,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Shop").finish_non_exhaustive()
    }
}

/// Starts one consumer group per service on a pool of either database.
macro_rules! start_consumers {
    ($pool:expr, $workers:expr, $log:expr, $broker:expr, $orders:expr, $outbox:expr, $shutdown:expr, $tasks:expr) => {{
        let pool = $pool;
        let routers = [
            Router::new().on::<StockRejected, _>(CancelRejected::new($orders.clone())),
            Router::new()
                .on::<ShopOrderPlaced, _>(Inventory::new($outbox.clone()))
                .on::<ShopOrderCancelled, _>(Inventory::new($outbox.clone())),
            Router::new()
                .on::<ShopOrderPaid, _>(Shipping::new($outbox.clone()))
                .on::<StockReserved, _>(Shipping::new($outbox.clone())),
            Router::new()
                .on::<StockReserved, _>(Notifications::new($outbox.clone()))
                .on::<OrderShipped, _>(Notifications::new($outbox.clone())),
        ];
        let mut stats = Vec::new();
        for (group, router) in GROUPS.into_iter().zip(routers) {
            let consumer_config =
                ConsumerConfig { workers: $workers, ..ConsumerConfig::new(group) };
            if let ShopBroker::RabbitMq(rabbit) = $broker {
                let spec = herald_transport::SubscriptionSpec {
                    group: group.to_owned(),
                    member: consumer_config.member.clone(),
                    patterns: router.patterns().to_vec(),
                };
                rabbit.declare_group(&spec).await?;
            }
            let consumer = Consumer::new(consumer_config, pool.clone(), router);
            stats.push((group, consumer.stats()));
            let log = Arc::clone(&$log);
            let stop = stopped($shutdown);
            $tasks.push(tokio::spawn(async move { Ok(consumer.run(log.as_ref(), stop).await?) }));
        }
        stats
    }};
}

impl Shop {
    /// Creates the services' tables, seeds the stock, and starts the relay and the four
    /// consumer groups. `db` must be migrated (`Database::connect` does it).
    pub async fn start(db: Database, config: ShopConfig) -> Result<Shop> {
        Orders::create_tables(&db).await?;
        inventory::create_tables(&db, &config.stock).await?;
        crate::execute_all(&db, shipping::CREATE_TABLES).await?;
        let outbox =
            Outbox::new(OutboxConfig { partitions: config.partitions, ..OutboxConfig::default() })?
                .with_wakeup(match &db {
                    Database::Sqlite(sqlite) => sqlite.wakeup.clone(),
                    Database::Postgres(pool) => Wakeup::for_postgres(pool.clone()),
                });
        let orders = Orders::new(db.clone(), outbox.clone())?;
        let (publisher, log): (Arc<dyn Publisher>, Arc<dyn Subscriber>) = match &config.broker {
            ShopBroker::Embedded => {
                let log = Arc::new(SqlLog::new(
                    db.clone(),
                    SqlLogConfig {
                        partitions: config.partitions,
                        poll_interval: config.poll_interval,
                        ..SqlLogConfig::default()
                    },
                ));
                (log.clone(), log)
            }
            ShopBroker::RabbitMq(rabbit) => (rabbit.clone(), rabbit.clone()),
        };
        let relay = Relay::new(
            OutboxStore::new(db.clone(), Retention::Keep(config.outbox_retention)),
            publisher,
            RelayConfig {
                partitions: config.partitions,
                poll_interval: config.poll_interval,
                ..RelayConfig::default()
            },
        );
        let (shutdown, _) = watch::channel(false);
        let mut tasks: Vec<JoinHandle<Result<()>>> = Vec::new();
        let broker = &config.broker;
        // The consumers (and, on RabbitMQ, their queues) first, then the relay.
        let consumer_stats = match &db {
            Database::Postgres(pool) => {
                start_consumers!(
                    pool,
                    config.workers,
                    log,
                    broker,
                    orders,
                    outbox,
                    &shutdown,
                    tasks
                )
            }
            Database::Sqlite(sqlite) => {
                start_consumers!(
                    &sqlite.writer,
                    config.workers,
                    log,
                    broker,
                    orders,
                    outbox,
                    &shutdown,
                    tasks
                )
            }
        };
        let relay_stats = relay.stats();
        let stop = stopped(&shutdown);
        tasks.push(tokio::spawn(async move { Ok(relay.run(stop).await?) }));
        Ok(Shop { db, orders, relay_stats, consumer_stats, shutdown, tasks })
    }

    /// The orders service, for commands.
    pub fn orders(&self) -> &Orders {
        &self.orders
    }

    /// The database every service uses.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The relay's counters.
    pub fn relay_stats(&self) -> &Arc<RelayStats> {
        &self.relay_stats
    }

    /// Each consumer group's counters.
    pub fn consumer_stats(&self) -> &[(&'static str, Arc<ConsumerStats>)] {
        &self.consumer_stats
    }

    /// Checks that the services agree, and fails with [`ShopError::Inconsistent`] naming
    /// each disagreement:
    ///
    /// - inventory decided every order (reserved or rejected), and the orders service
    ///   cancelled every rejected order that was not already paid;
    /// - the stock reserved per sku (the reservations, and the stock levels' drop) equals
    ///   the items of the placed-and-not-cancelled orders whose stock was reserved;
    /// - every paid order with reserved stock was shipped exactly once (one shipment, one
    ///   `shop.order_shipped` event), and no other order was;
    /// - every shipped order has exactly one `order_shipped` notification event in the
    ///   outbox, and every reserved order exactly one `order_confirmation`.
    ///
    /// While events are in flight it fails; once the services are quiet it passes.
    pub async fn verify(&self) -> Result<ShopSummary> {
        let state = State::load(&self.db).await?;
        state.check()
    }

    /// Stops the relay and the consumers (each finishes what it holds) and waits for them.
    pub async fn stop(self) -> Result<()> {
        self.shutdown.send_replace(true);
        for task in self.tasks {
            match tokio::time::timeout(Duration::from_secs(30), task).await {
                Ok(Ok(result)) => result?,
                Ok(Err(error)) => return Err(ShopError::Task(error.to_string())),
                Err(_) => return Err(ShopError::Task("a task did not stop within 30 s".into())),
            }
        }
        Ok(())
    }
}

fn stopped(shutdown: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut receiver = shutdown.subscribe();
    async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// The rows `verify` compares, read from every service's tables.
struct State {
    orders: Vec<orders::OrderSummary>,
    stock: Vec<(String, i64, i64)>,
    outcomes: BTreeMap<String, String>,
    reservations: Vec<(String, String, i64)>,
    shipments: BTreeSet<String>,
    /// (event type, partition key) → rows in the outbox.
    published: BTreeMap<(String, String), i64>,
}

const STOCK: &str = "SELECT sku, initial, available FROM inventory_stock";
const OUTCOMES: &str = "SELECT order_id, outcome FROM inventory_orders";
const RESERVATIONS: &str = "SELECT order_id, sku, quantity FROM inventory_reservations";
const SHIPMENTS: &str = "SELECT order_id FROM shipping_shipments";
const PUBLISHED: &str = "SELECT event_type, partition_key, COUNT(*) FROM herald_outbox \
     WHERE event_type IN ('shop.order_shipped', 'herald.notify') GROUP BY event_type, partition_key";

macro_rules! load_state {
    ($db:expr, $pool:expr) => {{
        let pool = $pool;
        let published: Vec<(String, String, i64)> =
            sqlx::query_as(PUBLISHED).fetch_all(pool).await?;
        let outcomes: Vec<(String, String)> = sqlx::query_as(OUTCOMES).fetch_all(pool).await?;
        let shipments: Vec<String> = sqlx::query_scalar(SHIPMENTS).fetch_all(pool).await?;
        State {
            orders: orders::read_model($db).await?,
            stock: sqlx::query_as(STOCK).fetch_all(pool).await?,
            outcomes: outcomes.into_iter().collect(),
            reservations: sqlx::query_as(RESERVATIONS).fetch_all(pool).await?,
            shipments: shipments.into_iter().collect(),
            published: published
                .into_iter()
                .map(|(event_type, key, count)| ((event_type, key), count))
                .collect(),
        }
    }};
}

impl State {
    async fn load(db: &Database) -> Result<State> {
        Ok(match db {
            Database::Postgres(pool) => load_state!(db, pool),
            Database::Sqlite(sqlite) => load_state!(db, &sqlite.reader),
        })
    }

    fn count(&self, event_type: &str, key: &str) -> i64 {
        self.published.get(&(event_type.to_owned(), key.to_owned())).copied().unwrap_or(0)
    }

    fn check(&self) -> Result<ShopSummary> {
        let mut problems = Vec::new();
        let mut summary = ShopSummary { orders: self.orders.len(), ..ShopSummary::default() };
        let mut expected_reserved: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut expected_shipped = BTreeSet::new();
        for order in &self.orders {
            let id = &order.order_id;
            let outcome = self.outcomes.get(id).map(String::as_str);
            match order.status.as_str() {
                "placed" => summary.placed += 1,
                "paid" => summary.paid += 1,
                "cancelled" => summary.cancelled += 1,
                other => problems.push(format!("order {id} has the unknown status `{other}`")),
            }
            match (order.status.as_str(), outcome) {
                (_, None) => problems.push(format!("inventory has not decided order {id}")),
                ("placed" | "paid", Some("reserved")) => {
                    expected_reserved.insert(id.clone(), order.quantities());
                    if order.status == "paid" {
                        expected_shipped.insert(id.clone());
                    }
                }
                ("placed", Some("rejected")) => {
                    problems
                        .push(format!("order {id} was rejected by inventory but not cancelled"));
                }
                ("cancelled", Some("reserved")) => {
                    problems.push(format!("cancelled order {id} still holds its stock"));
                }
                (status, Some(outcome @ ("released" | "cancelled"))) if status != "cancelled" => {
                    problems.push(format!("{status} order {id} is `{outcome}` in inventory"));
                }
                _ => {}
            }
            if outcome == Some("rejected") {
                summary.rejected += 1;
            }
            if matches!(outcome, Some("reserved" | "released")) {
                let key = notifications::idempotency_key(notifications::ORDER_CONFIRMATION, id);
                let confirmations = self.count("herald.notify", &key);
                if confirmations != 1 {
                    problems
                        .push(format!("order {id} has {confirmations} confirmations, expected 1"));
                }
            }
        }

        let mut reserved: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut reserved_per_sku: BTreeMap<String, i64> = BTreeMap::new();
        for (order_id, sku, quantity) in &self.reservations {
            reserved.entry(order_id.clone()).or_default().insert(sku.clone(), *quantity);
            *reserved_per_sku.entry(sku.clone()).or_insert(0) += quantity;
        }
        if reserved != expected_reserved {
            let differing: Vec<&String> = reserved
                .keys()
                .chain(expected_reserved.keys())
                .filter(|id| reserved.get(*id) != expected_reserved.get(*id))
                .collect();
            problems.push(format!("reservations differ from the open orders for {differing:?}"));
        }
        for (sku, initial, available) in &self.stock {
            let held = reserved_per_sku.get(sku).copied().unwrap_or(0);
            if initial - available != held {
                problems.push(format!(
                    "sku {sku}: {} taken from stock, but {held} reserved",
                    initial - available
                ));
            }
        }

        summary.shipped = self.shipments.len();
        if self.shipments != expected_shipped {
            let differing: Vec<&String> =
                self.shipments.symmetric_difference(&expected_shipped).collect();
            problems
                .push(format!("shipments differ from the paid, reserved orders for {differing:?}"));
        }
        for id in &self.shipments {
            let shipped = self.count("shop.order_shipped", id);
            if shipped != 1 {
                problems
                    .push(format!("order {id} was announced shipped {shipped} times, expected 1"));
            }
            let key = notifications::idempotency_key(notifications::ORDER_SHIPPED, id);
            let notified = self.count("herald.notify", &key);
            if notified != 1 {
                problems.push(format!("order {id} has {notified} shipping notices, expected 1"));
            }
        }
        if problems.is_empty() { Ok(summary) } else { Err(ShopError::Inconsistent(problems)) }
    }
}
