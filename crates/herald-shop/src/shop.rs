//! [`Shop`]: every service of the shop in one process, over one database, with a relay
//! publishing the outbox to the embedded log ([`SqlLog`]) and one consumer group per
//! service; and [`Shop::verify`], the cross-service consistency check.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use herald_channels::Channel;
use herald_consumer::{Consumer, ConsumerConfig, ConsumerStats, EnvelopeHandler, Router};
use herald_db::{Database, Statement, Wakeup};
use herald_log::{SqlLog, SqlLogConfig};
use herald_notify::{
    Dispatcher, DispatcherConfig, DispatcherStats, NotificationStore, NotifyHandler,
};
use herald_outbox::{Outbox, OutboxConfig, OutboxStore, Retention};
use herald_relay::{Relay, RelayConfig, RelayStats};
use herald_transport::{Pattern, Publisher, Subscriber};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::activity::{Activity, Observed};
use crate::census::{Census, RunMark};
use crate::events::{
    OrderShipped, ShopOrderCancelled, ShopOrderPaid, ShopOrderPlaced, StockRejected, StockReserved,
};
use crate::inventory::{self, Inventory};
use crate::notifications::{self, Notifications};
use crate::orders::{self, CancelRejected, Orders, OrdersBackend};
use crate::shipping::{self, Shipping};
use crate::{Result, ShopError};

/// Settings of a [`Shop`].
#[derive(Debug)]
pub struct ShopConfig {
    /// Outbox and log partitions (1 to 4096).
    pub partitions: u32,
    /// The stock levels the inventory starts with, per sku (kept if already stocked).
    pub stock: Vec<(String, i64)>,
    /// How often the relay and the log's subscribers poll besides being woken.
    pub poll_interval: Duration,
    /// How long sent outbox rows are kept (`verify` counts the shop's events in them).
    pub outbox_retention: Duration,
    /// Workers per consumer group (inventory always has one), each holding a connection
    /// while it applies events. On PostgreSQL the pool needs room for `5 * workers` plus
    /// the commands' transactions.
    pub workers: usize,
    /// Where the events travel between the services: a broker opened with
    /// [`herald::Transport::open`], or `None` for the embedded log in the shop's database
    /// (polled every `poll_interval` besides being woken).
    pub broker: Option<herald::Transport>,
    /// The notification service, when the shop runs one: it plans the `herald.notify`
    /// events the shop raises (group `notify`) and sends them through its channels.
    /// Without it the requests wait in the transport for a `herald notify` elsewhere.
    pub notifications: Option<NotificationService>,
}

/// The notification service inside the shop.
pub struct NotificationService {
    /// The channels it delivers through (each with its providers).
    pub channels: Vec<Channel>,
    /// How it claims, sends and retries.
    pub dispatcher: DispatcherConfig,
}

impl std::fmt::Debug for NotificationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kinds: Vec<String> = self.channels.iter().map(|c| c.kind().to_string()).collect();
        f.debug_struct("NotificationService")
            .field("channels", &kinds)
            .field("dispatcher", &self.dispatcher)
            .finish()
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
            broker: None,
            notifications: None,
        }
    }
}

/// The consumer groups of the shop's services.
pub const GROUPS: [&str; 4] = ["orders", "inventory", "shipping", "notifications"];

/// The consumer group of the notification service, when the shop runs it.
pub const NOTIFY_GROUP: &str = "notify";

/// What [`Shop::verify`] counted when the services agreed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
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
    /// Notifications the notification service sent (0 when the shop runs none).
    pub notifications_sent: usize,
}

/// The shop's services running in one process.
pub struct Shop {
    db: Database,
    orders: Orders,
    outbox_store: OutboxStore,
    relay_stats: Arc<RelayStats>,
    consumer_stats: Vec<(&'static str, Arc<ConsumerStats>)>,
    subscriptions: Vec<(&'static str, Vec<Pattern>)>,
    activity: Arc<Activity>,
    dispatcher_stats: Option<Arc<DispatcherStats>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Result<()>>>,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Shop").finish_non_exhaustive()
    }
}

/// What starting the consumers needs besides the pool.
struct Wiring<'a> {
    workers: usize,
    log: &'a Arc<dyn Subscriber>,
    broker: Option<&'a herald::Transport>,
    orders: &'a Orders,
    outbox: &'a Outbox,
    activity: &'a Arc<Activity>,
    notify: Option<NotifyHandler>,
    shutdown: &'a watch::Sender<bool>,
}

/// What the consumers' start gives back.
type Started = (Vec<(&'static str, Arc<ConsumerStats>)>, Vec<(&'static str, Vec<Pattern>)>);

/// Starts one consumer group per service on `pool`, the writer of the shop's database,
/// and pushes their tasks onto `tasks`.
async fn start_consumers<DB>(
    pool: &sqlx::Pool<DB>,
    wiring: Wiring<'_>,
    tasks: &mut Vec<JoinHandle<Result<()>>>,
) -> Result<Started>
where
    DB: OrdersBackend,
    NotifyHandler: EnvelopeHandler<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let activity = wiring.activity;
    let outbox = wiring.outbox;
    let observed = |service| Observed::new(service, activity.clone());
    let mut routers = vec![
        (
            GROUPS[0],
            Router::new()
                .on::<StockRejected, _>(CancelRejected::new(wiring.orders.clone()))
                .layer(observed("orders")),
        ),
        (
            GROUPS[1],
            Router::new()
                .on::<ShopOrderPlaced, _>(Inventory::new(outbox.clone()))
                .on::<ShopOrderCancelled, _>(Inventory::new(outbox.clone()))
                .layer(observed("inventory")),
        ),
        (
            GROUPS[2],
            Router::new()
                .on::<ShopOrderPaid, _>(Shipping::new(outbox.clone()))
                .on::<StockReserved, _>(Shipping::new(outbox.clone()))
                .layer(observed("shipping")),
        ),
        (
            GROUPS[3],
            Router::new()
                .on::<StockReserved, _>(Notifications::new(outbox.clone()))
                .on::<OrderShipped, _>(Notifications::new(outbox.clone()))
                .layer(observed("notifications")),
        ),
    ];
    if let Some(handler) = wiring.notify {
        let router = Router::new().on_pattern(notify_pattern(), handler);
        routers.push((NOTIFY_GROUP, router.layer(observed(NOTIFY_GROUP))));
    }
    let mut stats = Vec::new();
    let mut subscriptions = Vec::new();
    for (group, router) in routers {
        let consumer_config = ConsumerConfig {
            workers: workers_of(group, wiring.workers),
            ..ConsumerConfig::new(group)
        };
        let patterns = router.patterns().to_vec();
        if let Some(broker) = wiring.broker {
            broker.declare_group(group, &patterns).await?;
        }
        subscriptions.push((group, patterns));
        let consumer = Consumer::new(consumer_config, pool.clone(), router);
        stats.push((group, consumer.stats()));
        let log = Arc::clone(wiring.log);
        let stop = stopped(wiring.shutdown);
        tasks.push(tokio::spawn(async move { Ok(consumer.run(log.as_ref(), stop).await?) }));
    }
    Ok((stats, subscriptions))
}

/// Workers of a service's consumer. Inventory gets one: each of its transactions locks
/// the stock rows of a batch of orders in the orders' sequence, so two workers deadlock
/// on PostgreSQL whenever their batches want the same skus in another order (the loser
/// is retried a second later). One worker serialises them instead.
fn workers_of(group: &str, workers: usize) -> usize {
    if group == "inventory" { 1 } else { workers }
}

/// The notification service's subscription: every notification event.
fn notify_pattern() -> Pattern {
    "notification.#".parse().unwrap_or_else(|_| unreachable!("a valid pattern"))
}

impl Shop {
    /// Creates the services' tables, seeds the stock, and starts the relay, the four
    /// consumer groups and, when configured, the notification service. `db` must be
    /// migrated (`Database::connect` does it).
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
        let (publisher, log) = transport(&db, &config);
        let outbox_store = OutboxStore::new(db.clone(), Retention::Keep(config.outbox_retention));
        let relay = Relay::new(
            outbox_store.clone(),
            publisher,
            RelayConfig {
                partitions: config.partitions,
                poll_interval: config.poll_interval,
                ..RelayConfig::default()
            },
        );
        let (shutdown, _) = watch::channel(false);
        let mut tasks: Vec<JoinHandle<Result<()>>> = Vec::new();
        let activity = Arc::new(Activity::default());
        let (notify, dispatcher) = match config.notifications {
            Some(service) => {
                let (handler, dispatcher) = notification_service(&db, service);
                (Some(handler), Some(dispatcher))
            }
            None => (None, None),
        };
        let wiring = Wiring {
            workers: config.workers,
            log: &log,
            broker: config.broker.as_ref(),
            orders: &orders,
            outbox: &outbox,
            activity: &activity,
            notify,
            shutdown: &shutdown,
        };
        // The consumers (and, on RabbitMQ, their queues) first, then the relay.
        let (consumer_stats, subscriptions): Started = match &db {
            Database::Postgres(pool) => start_consumers(pool, wiring, &mut tasks).await?,
            Database::Sqlite(sqlite) => start_consumers(&sqlite.writer, wiring, &mut tasks).await?,
        };
        let dispatcher_stats = dispatcher.map(|dispatcher| {
            let stats = dispatcher.stats();
            let stop = stopped(&shutdown);
            tasks.push(tokio::spawn(async move { Ok(dispatcher.run(stop).await?) }));
            stats
        });
        let relay_stats = relay.stats();
        let stop = stopped(&shutdown);
        tasks.push(tokio::spawn(async move { Ok(relay.run(stop).await?) }));
        Ok(Shop {
            db,
            orders,
            outbox_store,
            relay_stats,
            consumer_stats,
            subscriptions,
            activity,
            dispatcher_stats,
            shutdown,
            tasks,
        })
    }

    /// The orders service, for commands.
    pub fn orders(&self) -> &Orders {
        &self.orders
    }

    /// The database every service uses.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The outbox, as the relay sees it (pending rows, census).
    pub fn outbox(&self) -> &OutboxStore {
        &self.outbox_store
    }

    /// The relay's counters.
    pub fn relay_stats(&self) -> &Arc<RelayStats> {
        &self.relay_stats
    }

    /// Each consumer group's counters.
    pub fn consumer_stats(&self) -> &[(&'static str, Arc<ConsumerStats>)] {
        &self.consumer_stats
    }

    /// What each service handled so far, live.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// The notification service's counters, when the shop runs it.
    pub fn dispatcher_stats(&self) -> Option<&Arc<DispatcherStats>> {
        self.dispatcher_stats.as_ref()
    }

    /// Each consumer group and the routing-key patterns it subscribes to.
    pub fn subscriptions(&self) -> &[(&'static str, Vec<Pattern>)] {
        &self.subscriptions
    }

    /// Marks where a run starts, for [`Shop::census`].
    pub async fn mark(&self) -> Result<RunMark> {
        Ok(RunMark { outbox_id: self.outbox_store.last_id().await?, time: chrono::Utc::now() })
    }

    /// Counts, from the database, the events committed since `mark` and which services
    /// processed them.
    pub async fn census(&self, mark: &RunMark) -> Result<Census> {
        let kept = self.outbox_store.kept_after(mark.outbox_id).await?;
        // Inbox times come from the database's clock; a second of slack covers a skew
        // with this process's, and only events committed since the mark are counted.
        let since = mark.time - chrono::Duration::seconds(1);
        let processed = herald_consumer::processed_since(&self.db, since).await?;
        Ok(Census::count(&kept, &processed, &self.subscriptions))
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
    ///   outbox, and every reserved order exactly one `order_confirmation`;
    /// - when the shop runs the notification service, each of those notifications was
    ///   sent exactly once.
    ///
    /// While events are in flight it fails; once the services are quiet it passes.
    pub async fn verify(&self) -> Result<ShopSummary> {
        let state =
            State::load(&self.db, &self.outbox_store, self.dispatcher_stats.is_some()).await?;
        state.check()
    }

    /// Stops the relay, the consumers and the notification service (each finishes what
    /// it holds) and waits for them.
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

/// The relay's publisher and the consumers' subscriber.
fn transport(db: &Database, config: &ShopConfig) -> (Arc<dyn Publisher>, Arc<dyn Subscriber>) {
    match &config.broker {
        None => {
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
        Some(broker) => (Arc::clone(&broker.publisher), Arc::clone(&broker.subscriber)),
    }
}

/// The notification service's planner (a consumer's handler) and dispatcher.
fn notification_service(
    db: &Database,
    service: NotificationService,
) -> (NotifyHandler, Dispatcher) {
    let wake = Arc::new(Notify::new());
    let kinds: Vec<String> = service.channels.iter().map(|c| c.kind().to_string()).collect();
    let configured: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let handler = NotifyHandler::new(db.clone(), &configured, Arc::clone(&wake));
    let dispatcher = service
        .channels
        .into_iter()
        .fold(Dispatcher::new(db.clone(), service.dispatcher, wake), Dispatcher::with_channel);
    (handler, dispatcher)
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
    /// Idempotency key → (deliveries sent, deliveries in any other status), when the shop
    /// runs the notification service.
    notified: Option<BTreeMap<String, (i64, i64)>>,
}

const STOCK: &str = "SELECT sku, initial, available FROM inventory_stock";
const OUTCOMES: &str = "SELECT order_id, outcome FROM inventory_orders";
const RESERVATIONS: &str = "SELECT order_id, sku, quantity FROM inventory_reservations";
const SHIPMENTS: &str = "SELECT order_id FROM shipping_shipments";

/// The event types whose outbox rows `verify` counts.
const COUNTED: [&str; 2] = ["shop.order_shipped", "herald.notify"];

impl State {
    async fn load(db: &Database, outbox: &OutboxStore, notify: bool) -> Result<State> {
        let reader = db.reader();
        let outcomes: Vec<(String, String)> = reader.fetch_all(Statement::new(OUTCOMES)).await?;
        let shipments: Vec<(String,)> = reader.fetch_all(Statement::new(SHIPMENTS)).await?;
        let mut state = State {
            orders: orders::read_model(db).await?,
            stock: reader.fetch_all(Statement::new(STOCK)).await?,
            outcomes: outcomes.into_iter().collect(),
            reservations: reader.fetch_all(Statement::new(RESERVATIONS)).await?,
            shipments: shipments.into_iter().map(|(order_id,)| order_id).collect(),
            published: BTreeMap::new(),
            notified: None,
        };
        for event in outbox.kept_after(0).await? {
            if COUNTED.contains(&event.event_type.as_str()) {
                *state.published.entry((event.event_type, event.partition_key)).or_insert(0) += 1;
            }
        }
        if notify {
            let mut notified: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for (key, status, count) in NotificationStore::new(db.clone()).counts_by_key().await? {
                let entry = notified.entry(key).or_default();
                if status == "sent" {
                    entry.0 += count;
                } else {
                    entry.1 += count;
                }
            }
            state.notified = Some(notified);
        }
        Ok(state)
    }

    fn count(&self, event_type: &str, key: &str) -> i64 {
        self.published.get(&(event_type.to_owned(), key.to_owned())).copied().unwrap_or(0)
    }

    /// With the notification service running: whether the notification `key` was sent
    /// exactly once, and nothing else planned for it.
    fn check_sent(&self, key: &str, summary: &mut ShopSummary, problems: &mut Vec<String>) {
        let Some(notified) = &self.notified else { return };
        let (sent, other) = notified.get(key).copied().unwrap_or((0, 0));
        summary.notifications_sent += usize::try_from(sent).unwrap_or(0);
        if (sent, other) != (1, 0) {
            problems.push(format!(
                "notification {key} was sent {sent} times ({other} deliveries not sent), expected once"
            ));
        }
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
                self.check_sent(&key, &mut summary, &mut problems);
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
            self.check_sent(&key, &mut summary, &mut problems);
        }
        if problems.is_empty() { Ok(summary) } else { Err(ShopError::Inconsistent(problems)) }
    }
}
