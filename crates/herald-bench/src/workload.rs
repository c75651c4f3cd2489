//! The benchmark's workload: a tiny shop whose producers commit an order row and an
//! `OrderPlaced` event in one transaction, and whose consumer records each order it hears
//! of. Used by `herald bench` and the end-to-end tests, which all count the
//! same things the same way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hdrhistogram::Histogram;
use herald_consumer::{Handler, HandlerContext, HandlerError};
use herald_db::{Database, Statement};
use herald_envelope::{Envelope, Event, EventKind};
use herald_outbox::Outbox;
use serde::{Deserialize, Serialize};

/// The event: a customer placed an order.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderPlaced {
    /// The run this order belongs to (benchmarks may share a database).
    pub run: String,
    /// The order's number within the run.
    pub order_id: i64,
    /// The customer: the partition key.
    pub customer: String,
    /// The order's position among the customer's orders, from 1.
    pub customer_seq: i64,
    /// Amount in cents.
    pub amount_cents: i64,
    /// When the order was due to be committed (the schedule, for an open-loop
    /// measurement without coordinated omission), in microseconds since the Unix epoch.
    pub due_at_us: i64,
}

impl Event for OrderPlaced {
    const TYPE: &'static str = "shop.order_placed";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.customer.clone()
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Creates the shop's own tables (the producer's orders, the consumer's effects).
pub async fn create_tables(producer: &Database, consumer: &Database) -> Result<(), sqlx::Error> {
    match producer {
        Database::Postgres(pool) => {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS shop_orders (run TEXT NOT NULL, order_id BIGINT NOT NULL, \
                 customer TEXT NOT NULL, amount_cents BIGINT NOT NULL, PRIMARY KEY (run, order_id))",
            )
            .execute(pool)
            .await?;
        }
        Database::Sqlite(sqlite) => {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS shop_orders (run TEXT NOT NULL, order_id INTEGER NOT NULL, \
                 customer TEXT NOT NULL, amount_cents INTEGER NOT NULL, PRIMARY KEY (run, order_id))",
            )
            .execute(&sqlite.writer)
            .await?;
        }
    }
    // No unique key on purpose: an event applied twice would show as two rows.
    match consumer {
        Database::Postgres(pool) => {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS shop_effects (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 run TEXT NOT NULL, event_id UUID NOT NULL, customer TEXT NOT NULL, customer_seq BIGINT NOT NULL, \
                 latency_us BIGINT NOT NULL DEFAULT 0)",
            )
            .execute(pool)
            .await?;
            // Tables made before the column existed.
            sqlx::query(
                "ALTER TABLE shop_effects ADD COLUMN IF NOT EXISTS latency_us BIGINT NOT NULL DEFAULT 0",
            )
            .execute(pool)
            .await?;
        }
        Database::Sqlite(sqlite) => {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS shop_effects (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                 run TEXT NOT NULL, event_id BLOB NOT NULL, customer TEXT NOT NULL, customer_seq INTEGER NOT NULL, \
                 latency_us INTEGER NOT NULL DEFAULT 0)",
            )
            .execute(&sqlite.writer)
            .await?;
            let has_latency: bool = sqlx::query_scalar(
                "SELECT count(*) > 0 FROM pragma_table_info('shop_effects') WHERE name = 'latency_us'",
            )
            .fetch_one(&sqlite.writer)
            .await?;
            if !has_latency {
                sqlx::query(
                    "ALTER TABLE shop_effects ADD COLUMN latency_us INTEGER NOT NULL DEFAULT 0",
                )
                .execute(&sqlite.writer)
                .await?;
            }
        }
    }
    Ok(())
}

/// Which orders a producer task commits: its share of customers, in order.
#[derive(Debug, Clone)]
pub struct ProducerPlan {
    /// The run id.
    pub run: String,
    /// Total orders of the run.
    pub events: u64,
    /// Orders per second over all producers; 0 = as fast as possible.
    pub rate: u64,
    /// Number of customers (partition keys).
    pub customers: u64,
    /// Number of producer tasks.
    pub producers: u64,
    /// Which producer this is.
    pub producer: u64,
    /// Orders (each with its event) per business transaction.
    pub events_per_tx: u64,
    /// How the producers write on SQLite.
    pub api: ProducerApi,
    /// How the producers ride out database errors.
    pub retry: ProducerRetry,
}

/// How a producer rides out a failed transaction (a database restarting, a full disk):
/// it tries the same orders again, with backoff, for at most `retry_for`; the default
/// fails at once.
#[derive(Debug, Clone, Default)]
pub struct ProducerRetry {
    /// How long a transaction is tried again before the producer gives up.
    pub retry_for: Duration,
    /// Failed attempts so far, shared by every producer of a run.
    pub failed_attempts: Arc<AtomicU64>,
}

/// How producers write their transactions on SQLite (PostgreSQL always uses sqlx).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProducerApi {
    /// `rusqlite` jobs on the database's writer thread ([`herald_db::SqliteWriter`]),
    /// committed in groups: the fastest path, the default.
    #[default]
    Rusqlite,
    /// A sqlx transaction on the writer pool ([`herald::Transaction`]).
    Sqlx,
}

impl ProducerApi {
    /// The path producers really take on `db`: on PostgreSQL, or on SQLite without a
    /// writer thread (an in-memory database), that is sqlx.
    pub fn on(self, db: &Database) -> ProducerApi {
        match db {
            Database::Sqlite(sqlite) if sqlite.engine.is_some() => self,
            _ => ProducerApi::Sqlx,
        }
    }

    /// Its name, as the summary gives it.
    pub fn name(self) -> &'static str {
        match self {
            ProducerApi::Rusqlite => "rusqlite",
            ProducerApi::Sqlx => "sqlx",
        }
    }
}

impl ProducerPlan {
    /// Whether order `n` is this producer's: each customer belongs to one producer, so a
    /// customer's orders are committed in order.
    pub fn owns(&self, n: u64) -> bool {
        (n % self.customers) % self.producers == self.producer
    }
}

/// Commits one order and its event in one transaction.
pub async fn place_order(
    db: &Database,
    outbox: &Outbox,
    order: &OrderPlaced,
) -> anyhow::Result<()> {
    place_orders(db, outbox, std::slice::from_ref(order)).await
}

/// Commits orders, each with its event, in one business transaction.
pub async fn place_orders(
    db: &Database,
    outbox: &Outbox,
    orders: &[OrderPlaced],
) -> anyhow::Result<()> {
    let envelopes = envelopes_of(orders)?;
    let mut tx = herald::Transaction::begin(db, outbox).await?;
    for order in orders {
        tx.execute(
            Statement::new(
                "INSERT INTO shop_orders (run, order_id, customer, amount_cents) VALUES ($1, $2, $3, $4)",
            )
            .bind(&order.run)
            .bind(order.order_id)
            .bind(&order.customer)
            .bind(order.amount_cents),
        )
        .await?;
    }
    tx.enqueue_many(&envelopes).await?;
    tx.commit().await?;
    Ok(())
}

/// Commits orders, each with its event, in one transaction of the SQLite writer thread.
pub async fn place_orders_rusqlite(
    engine: &herald_db::SqliteWriter,
    outbox: &Outbox,
    orders: Vec<OrderPlaced>,
) -> anyhow::Result<()> {
    let envelopes = envelopes_of(&orders)?;
    let writer_outbox = outbox.clone();
    engine
        .transaction(move |tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO shop_orders (run, order_id, customer, amount_cents) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (order, envelope) in orders.iter().zip(&envelopes) {
                insert.execute((&order.run, order.order_id, &order.customer, order.amount_cents))?;
                writer_outbox.enqueue_rusqlite(tx, envelope)?;
            }
            Ok::<_, herald_outbox::OutboxError>(())
        })
        .await?;
    outbox.committed();
    Ok(())
}

/// The events of orders, each with its customer's sequence number.
fn envelopes_of(orders: &[OrderPlaced]) -> anyhow::Result<Vec<Envelope>> {
    orders
        .iter()
        .map(|order| {
            Ok(Envelope::from_event("/shop/orders", order)?
                .with_sequence(format!("{:020}", order.customer_seq)))
        })
        .collect()
}

/// Runs one producer task's share of the plan; returns how many orders it committed.
/// `produced` counts committed orders as they happen. With `events_per_tx` above 1, a
/// transaction commits that many orders, all due when the first of them is.
pub async fn produce(
    db: Database,
    outbox: Outbox,
    plan: ProducerPlan,
    produced: &AtomicU64,
) -> anyhow::Result<u64> {
    let start_us = now_us();
    let start = tokio::time::Instant::now();
    let mut customer_seq: HashMap<u64, i64> = HashMap::new();
    let mut committed = 0;
    let mine: Vec<u64> = (0..plan.events).filter(|n| plan.owns(*n)).collect();
    let per_tx = usize::try_from(plan.events_per_tx.max(1)).unwrap_or(1);
    let engine = match &db {
        Database::Sqlite(sqlite) => sqlite.engine.clone(),
        Database::Postgres(_) => None,
    };
    for chunk in mine.chunks(per_tx) {
        let n = chunk[0];
        let due_at_us = match n.saturating_mul(1_000_000).checked_div(plan.rate) {
            Some(offset_us) => {
                tokio::time::sleep_until(start + std::time::Duration::from_micros(offset_us)).await;
                start_us + i64::try_from(offset_us).unwrap_or(i64::MAX)
            }
            None => now_us(),
        };
        let orders: Vec<OrderPlaced> = chunk
            .iter()
            .map(|&n| {
                let customer = n % plan.customers;
                let seq = customer_seq.entry(customer).or_insert(0);
                *seq += 1;
                OrderPlaced {
                    run: plan.run.clone(),
                    order_id: i64::try_from(n).unwrap_or(i64::MAX),
                    customer: format!("customer-{customer}"),
                    customer_seq: *seq,
                    amount_cents: 1000 + i64::try_from(n % 9000).unwrap_or(0),
                    due_at_us,
                }
            })
            .collect();
        let count = orders.len() as u64;
        commit_with_retries(&db, engine.as_ref(), &outbox, &plan, orders).await?;
        committed += count;
        produced.fetch_add(count, Ordering::Relaxed);
    }
    Ok(committed)
}

/// Commits orders with their events as the plan's API says, trying again after a
/// failure for as long as `plan.retry` allows. A commit whose answer was lost with its
/// connection may have happened: before each retry the orders are looked up, so that
/// none is committed twice.
async fn commit_with_retries(
    db: &Database,
    engine: Option<&herald_db::SqliteWriter>,
    outbox: &Outbox,
    plan: &ProducerPlan,
    orders: Vec<OrderPlaced>,
) -> anyhow::Result<()> {
    let give_up_at = tokio::time::Instant::now() + plan.retry.retry_for;
    let mut backoff = Duration::from_millis(20);
    loop {
        let attempt = match (engine, plan.api.on(db)) {
            (Some(engine), ProducerApi::Rusqlite) => {
                place_orders_rusqlite(engine, outbox, orders.clone()).await
            }
            _ => place_orders(db, outbox, &orders).await,
        };
        let Err(error) = attempt else { return Ok(()) };
        plan.retry.failed_attempts.fetch_add(1, Ordering::Relaxed);
        loop {
            if tokio::time::Instant::now() + backoff > give_up_at {
                return Err(error);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
            match is_committed(db, &orders[0]).await {
                Ok(true) => return Ok(()),
                Ok(false) => break,
                Err(_) => continue, // the database is still away
            }
        }
    }
}

/// Whether an order is in the database (its transaction committed).
async fn is_committed(db: &Database, order: &OrderPlaced) -> Result<bool, sqlx::Error> {
    const FIND: &str = "SELECT count(*) FROM shop_orders WHERE run = $1 AND order_id = $2";
    let found: i64 = match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar(FIND).bind(&order.run).bind(order.order_id).fetch_one(pool).await?
        }
        Database::Sqlite(sqlite) => {
            sqlx::query_scalar(FIND)
                .bind(&order.run)
                .bind(order.order_id)
                .fetch_one(&sqlite.reader)
                .await?
        }
    };
    Ok(found > 0)
}

/// What the consumer saw, live: deliveries, latency from commit to handler, order.
#[derive(Debug)]
pub struct Tracker {
    run: String,
    /// Orders of this run handled (including ones whose transaction later rolled back;
    /// the verification counts from the database).
    pub handled: AtomicU64,
    /// The newest `due_at_us` (commit time, without a rate) of the orders handled: an
    /// order committed after a moment has been delivered once this passes it.
    pub newest_due_at_us: AtomicI64,
    latency_us: Mutex<Histogram<u64>>,
}

impl Tracker {
    /// A tracker for `run`.
    pub fn new(run: &str) -> Tracker {
        let histogram =
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
        Tracker {
            run: run.to_owned(),
            handled: AtomicU64::new(0),
            newest_due_at_us: AtomicI64::new(0),
            latency_us: Mutex::new(histogram),
        }
    }

    fn observe(&self, order: &OrderPlaced) {
        if order.run != self.run {
            return;
        }
        let latency = u64::try_from(now_us() - order.due_at_us).unwrap_or(0).max(1);
        if let Ok(mut histogram) = self.latency_us.lock() {
            histogram.saturating_record(latency);
        }
        self.newest_due_at_us.fetch_max(order.due_at_us, Ordering::Relaxed);
        self.handled.fetch_add(1, Ordering::Relaxed);
    }

    /// Latency percentile in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        self.latency_us.lock().map_or(0.0, |h| h.value_at_quantile(quantile) as f64 / 1000.0)
    }

    /// The latency percentiles so far.
    pub fn latency(&self) -> crate::bench::LatencyMs {
        let histogram = self.latency_us.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::bench::LatencyMs::of_micros(&histogram)
    }
}

/// The consumer's handler: records the order as an effect row, in the consumer's
/// transaction.
#[derive(Debug, Clone)]
pub struct RecordOrder {
    /// Where live observations go.
    pub tracker: std::sync::Arc<Tracker>,
    /// Fault injection: time spent inside the transaction before the effect is written.
    pub handler_delay: std::time::Duration,
}

impl RecordOrder {
    /// A handler reporting to `tracker`, without delay.
    pub fn new(tracker: std::sync::Arc<Tracker>) -> RecordOrder {
        RecordOrder { tracker, handler_delay: std::time::Duration::ZERO }
    }
}

#[async_trait]
impl<DB: herald::Backend> Handler<OrderPlaced, DB> for RecordOrder {
    async fn handle(
        &self,
        order: OrderPlaced,
        ctx: HandlerContext<'_, DB>,
    ) -> Result<(), HandlerError> {
        if !self.handler_delay.is_zero() {
            tokio::time::sleep(self.handler_delay).await;
        }
        Statement::new(
            "INSERT INTO shop_effects (run, event_id, customer, customer_seq, latency_us) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&order.run)
        .bind(ctx.envelope.id.as_uuid())
        .bind(&order.customer)
        .bind(order.customer_seq)
        .bind(now_us() - order.due_at_us)
        .execute::<DB>(ctx.tx)
        .await?;
        self.tracker.observe(&order);
        Ok(())
    }
}

/// The verdict of a run, counted from the databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Orders committed by producers.
    pub produced: i64,
    /// Distinct orders whose effect the consumer committed.
    pub delivered: i64,
    /// Committed orders with no effect.
    pub lost: i64,
    /// Effects applied more than once (must be 0: the inbox prevents it).
    pub applied_twice: i64,
    /// Effects of a customer applied out of its commit order (must be 0).
    pub order_violations: i64,
    /// The longest time from an order's due time to its effect's transaction, in
    /// milliseconds: how long the slowest event waited.
    pub max_latency_ms: i64,
}

/// Counts, from the databases, what a run produced and what its consumer applied.
pub async fn verify(
    producer: &Database,
    consumer: &Database,
    run: &str,
) -> Result<Verification, sqlx::Error> {
    const PRODUCED: &str = "SELECT count(*) FROM shop_orders WHERE run = $1";
    const EFFECTS: &str = "SELECT count(*), count(DISTINCT event_id), \
        coalesce(max(latency_us), 0) FROM shop_effects WHERE run = $1";
    const VIOLATIONS: &str = "SELECT count(*) FROM (SELECT customer_seq, \
        lag(customer_seq) OVER (PARTITION BY customer ORDER BY id) AS previous \
        FROM shop_effects WHERE run = $1) AS t WHERE previous >= customer_seq";
    let produced: i64 = match producer {
        Database::Postgres(pool) => sqlx::query_scalar(PRODUCED).bind(run).fetch_one(pool).await?,
        Database::Sqlite(sqlite) => {
            sqlx::query_scalar(PRODUCED).bind(run).fetch_one(&sqlite.reader).await?
        }
    };
    let ((effects, distinct, max_latency_us), violations): ((i64, i64, i64), i64) = match consumer {
        Database::Postgres(pool) => (
            sqlx::query_as(EFFECTS).bind(run).fetch_one(pool).await?,
            sqlx::query_scalar(VIOLATIONS).bind(run).fetch_one(pool).await?,
        ),
        Database::Sqlite(sqlite) => (
            sqlx::query_as(EFFECTS).bind(run).fetch_one(&sqlite.reader).await?,
            sqlx::query_scalar(VIOLATIONS).bind(run).fetch_one(&sqlite.reader).await?,
        ),
    };
    Ok(Verification {
        produced,
        delivered: distinct,
        lost: produced - distinct,
        applied_twice: effects - distinct,
        order_violations: violations,
        max_latency_ms: max_latency_us / 1000,
    })
}
