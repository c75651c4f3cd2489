//! `herald bench --baseline broker`: the broker alone. The same messages the pipeline
//! carries (the envelope of a `shop.order_placed` event, partition key the customer) are
//! published with confirms straight to RabbitMQ or NATS JetStream and consumed by one
//! group, with no database on either side: what Herald's relay and consumer are compared
//! with.
//!
//! Arrivals are open-loop as in the pipeline: order `n` is due at `n / rate` seconds, and
//! its latency runs from that due time (carried in the event, `due_at_us`) to its receipt,
//! so a stalled broker cannot hide behind a slowed publisher.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_envelope::{Envelope, Event, Limits};
use herald_transport::{Message, Pattern, Publisher, Subscription, SubscriptionSpec};
use serde::Serialize;

use crate::bench::{BenchOptions, LatencyMs};
use crate::workload::{OrderPlaced, now_us};

/// Messages published with one `publish` call (one batch of confirms), as the relay does.
const PUBLISH_BATCH: usize = 256;
/// The consumer group of the baseline.
const GROUP: &str = "bench-baseline";

/// What the broker alone did.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerBaseline {
    /// Messages the broker confirmed.
    pub published: u64,
    /// Distinct messages the consumer received (and acknowledged).
    pub delivered: u64,
    /// Messages confirmed but never received (must be 0).
    pub lost: u64,
    /// Deliveries of a message already received.
    pub duplicates_delivered: u64,
    /// Delivered messages per second, first due time to last receipt.
    pub throughput_eps: f64,
    /// Due time to receipt.
    pub latency_ms: LatencyMs,
    /// `RabbitMQ` or `NATS JetStream`.
    pub transport: String,
}

/// Runs the broker alone: needs `options.broker.url` (`amqp://…` or `nats://…`). The
/// run's queues or stream get a namespace of their own and are deleted afterwards.
pub async fn broker_baseline(options: &BenchOptions) -> anyhow::Result<BrokerBaseline> {
    let Some(url) = options.broker.url.as_deref() else {
        anyhow::bail!(
            "--baseline broker measures a broker alone: give --broker amqp://… or nats://…"
        );
    };
    let run = uuid::Uuid::now_v7().simple().to_string();
    // The embedded log is not opened for a broker URL; the database stays unused.
    let scratch = std::env::temp_dir().join(format!("herald-bench-broker-{run}.db"));
    let db = herald_db::Database::connect(
        &format!("sqlite://{}", scratch.display()),
        &herald_db::DatabaseOptions { migrate: false, ..herald_db::DatabaseOptions::default() },
    )
    .await?;
    let (broker, subscription) = RunBroker::join(options, Some(url), &db, &run, "b").await?;
    let result = measure(options, &run, &broker, subscription).await;
    broker.leave().await?;
    db.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", scratch.display()));
    }
    result
}

/// A yardstick's broker: one consumer group in a namespace of the run's own (at most 48
/// characters), so that nothing of another run or of a deployment is read or deleted.
pub(crate) struct RunBroker {
    transport: herald::Transport,
    /// The broker URL; `None` for the embedded log in the run's database.
    url: Option<String>,
    tls: herald::BrokerTls,
    namespace: String,
    partitions: u32,
    /// `embedded log`, `RabbitMQ` or `NATS JetStream`.
    pub(crate) name: &'static str,
}

impl RunBroker {
    /// Opens the broker at `url` (the embedded log in `db` for `None`) in a namespace made
    /// of `--namespace`, `marker` and the run's id, declares the group and joins it.
    pub(crate) async fn join(
        options: &BenchOptions,
        url: Option<&str>,
        db: &herald_db::Database,
        run: &str,
        marker: &str,
    ) -> anyhow::Result<(RunBroker, Box<dyn Subscription>)> {
        herald::check_namespace(&options.broker.namespace)?;
        let namespace = crate::run_space::run_namespace(&options.broker.namespace, marker, run);
        let tls = options.broker.tls.clone();
        let transport =
            herald::Transport::open_with_tls(url, &namespace, db, options.partitions, &tls)?;
        let pattern: Pattern = OrderPlaced::routing_key().parse()?;
        transport.declare_group(GROUP, std::slice::from_ref(&pattern)).await?;
        let spec = SubscriptionSpec {
            group: GROUP.into(),
            member: run.to_owned(),
            patterns: vec![pattern],
        };
        let subscription = transport.subscriber.subscribe(spec).await?;
        let name = transport.name;
        let (url, partitions) = (url.map(str::to_owned), options.partitions);
        Ok((RunBroker { transport, url, tls, namespace, partitions, name }, subscription))
    }

    /// A publisher of the run's namespace on a connection of its own, as a separate
    /// process would have.
    pub(crate) fn connect_publisher(
        &self,
        db: &herald_db::Database,
    ) -> anyhow::Result<Arc<dyn Publisher>> {
        let (url, namespace) = (self.url.as_deref(), &self.namespace);
        let transport =
            herald::Transport::open_with_tls(url, namespace, db, self.partitions, &self.tls)?;
        Ok(transport.publisher)
    }

    /// The publisher of the run's namespace.
    pub(crate) fn publisher(&self) -> Arc<dyn Publisher> {
        self.transport.publisher.clone()
    }

    /// Deletes the run's queues or stream.
    pub(crate) async fn leave(self) -> anyhow::Result<()> {
        Ok(self.transport.delete_topology(&[GROUP]).await?)
    }
}

async fn measure(
    options: &BenchOptions,
    run: &str,
    broker: &RunBroker,
    subscription: Box<dyn Subscription>,
) -> anyhow::Result<BrokerBaseline> {
    let publisher = broker.publisher();
    let start_us = now_us();
    let started = Instant::now();
    let consumer = tokio::spawn(consume(subscription, options.events, options.stall_timeout));
    let publishers = options.producers.unwrap_or(4).max(1);
    let tasks: Vec<_> = (0..publishers)
        .map(|publisher_index| {
            let (publisher, options, run) = (publisher.clone(), options.clone(), run.to_owned());
            tokio::spawn(async move {
                publish(&*publisher, &options, &run, publisher_index, publishers, start_us).await
            })
        })
        .collect();
    let mut published = 0;
    for task in tasks {
        published += task.await??;
    }
    let received = consumer.await??;
    Ok(summarize(published, &received, started, broker.name))
}

/// The result of a yardstick run over `transport`: `published` confirmed, what the
/// consumer `received`, throughput from `started` to the last receipt.
pub(crate) fn summarize(
    published: u64,
    received: &Received,
    started: Instant,
    transport: &str,
) -> BrokerBaseline {
    let elapsed = received.last_receipt.unwrap_or_else(Instant::now) - started;
    let delivered = received.distinct.len() as u64;
    BrokerBaseline {
        published,
        delivered,
        lost: published.saturating_sub(delivered),
        duplicates_delivered: received.duplicates,
        throughput_eps: delivered as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_ms: LatencyMs::of_micros(&received.latency_us),
        transport: transport.to_owned(),
    }
}

/// Publishes this publisher's share of the orders (every `publishers`-th), each batch
/// once it is due; returns how many the broker confirmed.
async fn publish(
    publisher: &dyn Publisher,
    options: &BenchOptions,
    run: &str,
    index: u64,
    publishers: u64,
    start_us: i64,
) -> anyhow::Result<u64> {
    let (customers, rate) = (options.customers.max(1), options.rate);
    let mut pending = (index..options.events).step_by(publishers as usize).peekable();
    let mut confirmed = 0;
    while let Some(&first) = pending.peek() {
        wait_until_due(due_at(start_us, first, rate)).await;
        // Everything due by now, up to a batch: one round of confirms, as the relay does.
        let now = now_us();
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        while let Some(&n) = pending.peek() {
            let due_at_us = due_at(start_us, n, rate);
            if batch.len() == PUBLISH_BATCH || (rate > 0 && due_at_us > now) {
                break;
            }
            batch.push(message(run, n, customers, due_at_us)?);
            pending.next();
        }
        for result in publisher.publish(&batch).await {
            result?;
            confirmed += 1;
        }
    }
    Ok(confirmed)
}

pub(crate) fn due_at(start_us: i64, n: u64, rate: u64) -> i64 {
    match n.saturating_mul(1_000_000).checked_div(rate) {
        Some(offset) => start_us.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX)),
        None => now_us(),
    }
}

pub(crate) async fn wait_until_due(due_at_us: i64) {
    let wait = due_at_us - now_us();
    if wait > 0 {
        tokio::time::sleep(Duration::from_micros(wait.unsigned_abs())).await;
    }
}

/// Order `n` of the run as the relay would publish it.
pub(crate) fn message(
    run: &str,
    n: u64,
    customers: u64,
    due_at_us: i64,
) -> anyhow::Result<Message> {
    let order = OrderPlaced {
        run: run.to_owned(),
        order_id: i64::try_from(n)?,
        customer: format!("customer-{}", n % customers),
        customer_seq: i64::try_from(n / customers + 1)?,
        amount_cents: 1_000 + i64::try_from(n % 9_000)?,
        due_at_us,
    };
    let envelope = Envelope::from_event("/bench", &order)?;
    Ok(Message {
        event_id: *envelope.id.as_uuid(),
        routing_key: envelope.routing_key(),
        partition_key: envelope.partition_key.clone(),
        payload: envelope.encode(&Limits::default())?,
    })
}

/// What the consumer received.
pub(crate) struct Received {
    pub(crate) distinct: HashSet<i64>,
    pub(crate) duplicates: u64,
    latency_us: hdrhistogram::Histogram<u64>,
    last_receipt: Option<Instant>,
}

/// Receives and acknowledges until `expected` distinct orders arrived, or nothing came
/// for `stall_timeout`.
pub(crate) async fn consume(
    mut subscription: Box<dyn Subscription>,
    expected: u64,
    stall_timeout: Duration,
) -> anyhow::Result<Received> {
    let mut received = Received {
        distinct: HashSet::new(),
        duplicates: 0,
        latency_us: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)?,
        last_receipt: None,
    };
    let mut last_progress = Instant::now();
    while (received.distinct.len() as u64) < expected && last_progress.elapsed() < stall_timeout {
        let deliveries = subscription.receive(1_000, Duration::from_millis(200)).await?;
        if deliveries.is_empty() {
            continue;
        }
        let now = now_us();
        for delivery in &deliveries {
            let order: OrderPlaced =
                Envelope::from_json(&delivery.message.payload, &Limits::default())?
                    .decode_data()?;
            if received.distinct.insert(order.order_id) {
                let latency = u64::try_from(now - order.due_at_us).unwrap_or(0).max(1);
                received.latency_us.saturating_record(latency);
            } else {
                received.duplicates += 1;
            }
        }
        let tags: Vec<_> = deliveries.iter().map(|delivery| delivery.tag).collect();
        subscription.ack(&tags).await?;
        received.last_receipt = Some(Instant::now());
        last_progress = Instant::now();
    }
    subscription.close().await?;
    Ok(received)
}
