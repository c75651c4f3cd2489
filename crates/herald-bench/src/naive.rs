//! `herald bench --baseline naive`: the relay people write by hand, on PostgreSQL and a
//! broker, as the yardstick Herald must beat. Writers commit one business row and one
//! outbox row per transaction; one relay polls `SELECT … FOR UPDATE SKIP LOCKED LIMIT 1000`,
//! publishes the rows with confirms and marks them `sent_at` in the same transaction; one
//! consumer acknowledges each message, with no inbox. Written plainly on purpose: no
//! partitions, leases, wake-ups, ledger or retries.
//!
//! Its tables carry the run's id in their names (hexadecimal digits only) and are dropped
//! afterwards; its broker names live in a namespace of the run's own.

use std::time::{Duration, Instant};

use herald_transport::{Message, Publisher, Subscription};
use sqlx::PgPool;

use crate::bench::BenchOptions;
use crate::broker::{self, BrokerBaseline, RunBroker};
use crate::workload::now_us;

/// Rows one relay round reads, publishes and marks.
const RELAY_BATCH: i64 = 1000;

/// Runs the naive pipeline: needs a `postgres://` `--database` and a `--broker`.
pub async fn naive_baseline(options: &BenchOptions) -> anyhow::Result<BrokerBaseline> {
    let (Some(database), Some(url)) = (options.database.as_deref(), options.broker.url.as_deref())
    else {
        anyhow::bail!(
            "--baseline naive runs a hand-written relay on PostgreSQL and a broker: give \
             --database postgres://… and --broker amqp://… or nats://…"
        );
    };
    if !database.starts_with("postgres") {
        anyhow::bail!("--baseline naive needs --database postgres://…, not `{database}`");
    }
    let run = uuid::Uuid::now_v7().simple().to_string();
    let db = herald_db::Database::connect(
        database,
        &herald_db::DatabaseOptions {
            max_connections: 12,
            migrate: false,
            ..herald_db::DatabaseOptions::default()
        },
    )
    .await?;
    let herald_db::Database::Postgres(pool) = db.clone() else {
        anyhow::bail!("--baseline naive needs PostgreSQL");
    };
    let (broker, subscription) = RunBroker::join(options, Some(url), &db, &run, "n").await?;
    let tables = Tables::create(&pool, &run[run.len() - 8..]).await?;
    let result = measure(options, &run, &pool, &tables, &broker, subscription).await;
    broker.leave().await?;
    tables.drop(&pool).await?;
    db.close().await;
    result
}

/// The naive pipeline's two tables.
struct Tables {
    orders: String,
    outbox: String,
}

impl Tables {
    async fn create(pool: &PgPool, tag: &str) -> anyhow::Result<Tables> {
        let tables =
            Tables { orders: format!("naive_orders_{tag}"), outbox: format!("naive_outbox_{tag}") };
        sqlx::query(&format!(
            "CREATE TABLE {} (id BIGSERIAL PRIMARY KEY, customer TEXT NOT NULL, \
             amount_cents BIGINT NOT NULL)",
            tables.orders
        ))
        .execute(pool)
        .await?;
        sqlx::query(&format!(
            "CREATE TABLE {} (id BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL, \
             routing_key TEXT NOT NULL, partition_key TEXT NOT NULL, payload BYTEA NOT NULL, \
             sent_at TIMESTAMPTZ)",
            tables.outbox
        ))
        .execute(pool)
        .await?;
        Ok(tables)
    }

    async fn drop(&self, pool: &PgPool) -> anyhow::Result<()> {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}, {}", self.orders, self.outbox))
            .execute(pool)
            .await?;
        Ok(())
    }
}

async fn measure(
    options: &BenchOptions,
    run: &str,
    pool: &PgPool,
    tables: &Tables,
    broker: &RunBroker,
    subscription: Box<dyn Subscription>,
) -> anyhow::Result<BrokerBaseline> {
    let publisher = broker.publisher();
    let start_us = now_us();
    let started = Instant::now();
    let consumer =
        tokio::spawn(broker::consume(subscription, options.events, options.stall_timeout));
    let writers = options.producers.unwrap_or(8).max(1);
    let tasks: Vec<_> = (0..writers)
        .map(|index| {
            let (pool, options, run) = (pool.clone(), options.clone(), run.to_owned());
            let outbox = tables.outbox.clone();
            let orders = tables.orders.clone();
            tokio::spawn(async move {
                let plan = WriterPlan { index, writers, start_us, orders, outbox };
                write(&pool, &options, &run, &plan).await
            })
        })
        .collect();
    let relay = relay(pool, &tables.outbox, &*publisher, options.events, options.stall_timeout);
    let published = relay.await?;
    for task in tasks {
        task.await??;
    }
    let received = consumer.await??;
    Ok(broker::summarize(published, &received, started, broker.name))
}

/// One writer's share of the orders and where it writes them.
struct WriterPlan {
    index: u64,
    writers: u64,
    start_us: i64,
    orders: String,
    outbox: String,
}

/// Commits every `writers`-th order, each when due: a business row and an outbox row in
/// one transaction.
async fn write(
    pool: &PgPool,
    options: &BenchOptions,
    run: &str,
    plan: &WriterPlan,
) -> anyhow::Result<()> {
    let insert_order =
        format!("INSERT INTO {} (customer, amount_cents) VALUES ($1, $2)", plan.orders);
    let insert_event = format!(
        "INSERT INTO {} (event_id, routing_key, partition_key, payload) VALUES ($1, $2, $3, $4)",
        plan.outbox
    );
    let customers = options.customers.max(1);
    for n in (plan.index..options.events).step_by(plan.writers as usize) {
        let due_at_us = broker::due_at(plan.start_us, n, options.rate);
        broker::wait_until_due(due_at_us).await;
        let message: Message = broker::message(run, n, customers, due_at_us)?;
        let mut tx = pool.begin().await?;
        sqlx::query(&insert_order)
            .bind(&message.partition_key)
            .bind(1_000 + i64::try_from(n % 9_000)?)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&insert_event)
            .bind(message.event_id)
            .bind(&message.routing_key)
            .bind(&message.partition_key)
            .bind(&message.payload)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Polls for unsent rows, publishes them with confirms and marks them sent, until
/// `events` were published or nothing came for `stall_timeout`; returns how many.
async fn relay(
    pool: &PgPool,
    outbox: &str,
    publisher: &dyn Publisher,
    events: u64,
    stall_timeout: Duration,
) -> anyhow::Result<u64> {
    let select = format!(
        "SELECT id, event_id, routing_key, partition_key, payload FROM {outbox} \
         WHERE sent_at IS NULL ORDER BY id LIMIT {RELAY_BATCH} FOR UPDATE SKIP LOCKED"
    );
    let mark = format!("UPDATE {outbox} SET sent_at = now() WHERE id = ANY($1)");
    let (mut published, mut last_progress) = (0, Instant::now());
    while published < events && last_progress.elapsed() < stall_timeout {
        let mut tx = pool.begin().await?;
        let rows: Vec<(i64, uuid::Uuid, String, String, Vec<u8>)> =
            sqlx::query_as(&select).fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            tx.commit().await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let ids: Vec<i64> = rows.iter().map(|row| row.0).collect();
        let messages: Vec<Message> = rows
            .into_iter()
            .map(|(_, event_id, routing_key, partition_key, payload)| Message {
                event_id,
                routing_key,
                partition_key,
                payload,
            })
            .collect();
        for result in publisher.publish(&messages).await {
            result?;
        }
        sqlx::query(&mark).bind(&ids).execute(&mut *tx).await?;
        tx.commit().await?;
        published += ids.len() as u64;
        last_progress = Instant::now();
    }
    Ok(published)
}
