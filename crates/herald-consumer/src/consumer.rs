//! The consumer loop: receive a window of deliveries, hand them to key-hashed workers,
//! settle each (acknowledge, retry later, or dead-letter), then receive again.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use herald_envelope::{Envelope, Limits, partition_of};
use herald_transport::{
    Backoff, Delivery, DeliveryTag, Subscriber, Subscription, SubscriptionSpec, TransportError,
};
use sqlx::Connection;
use tracing::Instrument;

use crate::handler::{ErasedHandler, Outcome, Route, Router};
use crate::{DeadLetter, DeadLetterReason, HandlerContext, HandlerError, InboxBackend};

/// A predicate over envelopes: events it refuses are acknowledged without handling
/// (for example a CloudEvents SQL filter).
pub type EventFilter = Arc<dyn Fn(&Envelope) -> bool + Send + Sync>;

/// How failed events are retried before they are dead-lettered.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Runs again right away, in the same process, after a failure.
    pub immediate: u32,
    /// Then retries through the transport, each after a longer delay.
    pub delayed: u32,
    /// The delay before the first delayed retry; each next one doubles.
    pub first_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Each delay is multiplied by a random factor in `1 ± jitter`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            immediate: 2,
            delayed: 4,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delays of the delayed retries: `first_delay` doubling up to `max_delay`, each
    /// within `1 ± jitter`.
    pub fn backoff(&self) -> Backoff {
        Backoff { min: self.first_delay, max: self.max_delay, jitter: self.jitter }
    }

    /// The delay before delayed retry number `retry` (1-based), for `random` in `[0, 1)`.
    pub fn delay(&self, retry: u32, random: f64) -> Duration {
        self.backoff().delay(retry, random)
    }
}

/// What happens to a delivery that is not a valid event, or has no handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnroutablePolicy {
    /// Park it in the dead-letter queue (the default).
    #[default]
    DeadLetter,
    /// Acknowledge it and count it.
    Acknowledge,
}

/// Settings of one consumer.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// The consumer's name: its consumer group, its inbox key, its dead-letter queue.
    pub name: String,
    /// This process's name within the group.
    pub member: String,
    /// Most deliveries in hand at once (the prefetch window of one round).
    pub batch_size: usize,
    /// Longest wait for deliveries before checking for shutdown.
    pub receive_wait: Duration,
    /// Workers handling a round concurrently; a partition key always goes to the same
    /// worker, so one key's events keep their order.
    pub workers: usize,
    /// Retries before dead-lettering.
    pub retry: RetryPolicy,
    /// Undecodable and unhandled deliveries.
    pub unroutable: UnroutablePolicy,
    /// Events it refuses are acknowledged without handling.
    pub filter: Option<EventFilter>,
    /// Whether handlers only write through the consumer's transaction, so that a
    /// share of deliveries may run in one transaction and run again if one fails (the
    /// fast path). Handlers with effects outside the database (HTTP calls) set it false:
    /// each event then runs once per attempt, in a savepoint of its own.
    pub transactional_handlers: bool,
    /// Backoff after a transport or database error.
    pub backoff: Backoff,
    /// Size limit of an event.
    pub limits: Limits,
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("name", &self.name)
            .field("member", &self.member)
            .field("batch_size", &self.batch_size)
            .field("workers", &self.workers)
            .field("retry", &self.retry)
            .field("unroutable", &self.unroutable)
            .field("filter", &self.filter.is_some())
            .finish_non_exhaustive()
    }
}

impl ConsumerConfig {
    /// A configuration with defaults for consumer `name`.
    pub fn new(name: impl Into<String>) -> ConsumerConfig {
        ConsumerConfig {
            name: name.into(),
            member: format!("member-{}", uuid::Uuid::now_v7().simple()),
            batch_size: 512,
            receive_wait: Duration::from_millis(250),
            workers: 8,
            retry: RetryPolicy::default(),
            unroutable: UnroutablePolicy::default(),
            filter: None,
            transactional_handlers: true,
            backoff: Backoff::default(),
            limits: Limits::default(),
        }
    }
}

/// What stops a consumer.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// Joining the transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Counters of a running consumer; each counts events whose transaction committed.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Events applied by a handler.
    pub processed: AtomicU64,
    /// Redelivered events the inbox recognised and skipped.
    pub duplicates_suppressed: AtomicU64,
    /// Events whose handler failed every immediate run of one delivery.
    pub handler_failures: AtomicU64,
    /// Delayed retries scheduled.
    pub retried: AtomicU64,
    /// Events parked in the dead-letter queue.
    pub dead_lettered: AtomicU64,
    /// Deliveries that were not a valid envelope.
    pub undecodable: AtomicU64,
    /// Events of a type or version with no handler.
    pub unhandled: AtomicU64,
    /// Events the filter refused.
    pub filtered: AtomicU64,
}

/// Counts of one round, added to the stats once it settled.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    processed: u64,
    duplicates: u64,
    failures: u64,
    retried: u64,
    dead_lettered: u64,
    undecodable: u64,
    unhandled: u64,
    filtered: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.processed += other.processed;
        self.duplicates += other.duplicates;
        self.failures += other.failures;
        self.retried += other.retried;
        self.dead_lettered += other.dead_lettered;
        self.undecodable += other.undecodable;
        self.unhandled += other.unhandled;
        self.filtered += other.filtered;
    }
}

/// What to do with the deliveries of a round.
#[derive(Default)]
struct Settlement {
    acks: Vec<DeliveryTag>,
    retries: Vec<(Delivery, Duration, String)>,
    counts: Counts,
    /// Per event, for the metrics once committed: its type, what became of it, and for
    /// a processed one the time from its creation to the end of its handler.
    observed: Vec<Observation>,
}

/// What became of one event, for the metrics.
struct Observation {
    event_type: String,
    outcome: &'static str,
    latency: Option<Duration>,
}

impl Observation {
    fn processed(envelope: &Envelope) -> Observation {
        let latency = (Utc::now() - envelope.time).to_std().ok();
        Observation { event_type: envelope.event_type.clone(), outcome: "processed", latency }
    }

    fn failed(item_type: Option<&str>, outcome: &'static str) -> Observation {
        let event_type = item_type.unwrap_or("unknown").to_owned();
        Observation { event_type, outcome, latency: None }
    }
}

impl Settlement {
    fn merge(&mut self, other: Settlement) {
        self.acks.extend(other.acks);
        self.retries.extend(other.retries);
        self.counts.add(other.counts);
        self.observed.extend(other.observed);
    }
}

/// Records how long a handler ran, per service and event type.
fn record_handler_duration(service: &str, event_type: &str, started: std::time::Instant) {
    metrics::histogram!(
        "herald_handler_duration_seconds",
        "service" => service.to_owned(),
        "type" => event_type.to_owned()
    )
    .record(started.elapsed().as_secs_f64());
}

/// A delivery, decoded and matched with its handler (or not).
enum Work<'r, DB: sqlx::Database> {
    /// The filter refused it.
    Skip,
    /// It goes to the dead-letter queue (or is acknowledged, by policy) unhandled.
    Park(DeadLetterReason, String, Option<Box<Envelope>>),
    /// It is handled.
    Handle(Box<Envelope>, &'r Arc<dyn ErasedHandler<DB>>),
}

struct Item<'r, DB: sqlx::Database> {
    delivery: &'r Delivery,
    work: Work<'r, DB>,
    /// When the round that brought it was received (microseconds since the Unix epoch):
    /// the ledger's `delivered` time, kept with the inbox record.
    received_at_us: i64,
}

impl<DB: sqlx::Database> Item<'_, DB> {
    /// The event's type, when it could be decoded.
    fn event_type(&self) -> Option<&str> {
        match &self.work {
            Work::Handle(envelope, _) | Work::Park(_, _, Some(envelope)) => {
                Some(&envelope.event_type)
            }
            _ => None,
        }
    }
}

/// The result of running a handler with its immediate retries.
enum Run {
    Applied,
    Duplicate,
    Failed { error: HandlerError, runs: u32 },
}

/// Receives, deduplicates through the inbox, handles, commits and settles.
pub struct Consumer<DB: InboxBackend> {
    config: ConsumerConfig,
    pool: sqlx::Pool<DB>,
    router: Router<DB>,
    stats: Arc<ConsumerStats>,
    /// First failure times the transport does not carry, by event id.
    first_failures: Mutex<HashMap<uuid::Uuid, DateTime<Utc>>>,
}

impl<DB: InboxBackend> Consumer<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// A consumer writing its inbox, effects and dead letters to `pool`.
    pub fn new(config: ConsumerConfig, pool: sqlx::Pool<DB>, router: Router<DB>) -> Consumer<DB> {
        Consumer { config, pool, router, stats: Arc::default(), first_failures: Mutex::default() }
    }

    /// The consumer's counters, to read while it runs.
    pub fn stats(&self) -> Arc<ConsumerStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `shutdown` completes; the round in hand is finished and settled first.
    pub async fn run(
        self,
        subscriber: &dyn Subscriber,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ConsumerError> {
        let spec = SubscriptionSpec {
            group: self.config.name.clone(),
            member: self.config.member.clone(),
            patterns: self.router.patterns().to_vec(),
        };
        let keeps_order = subscriber.features().retry_keeps_order;
        let mut subscription = subscriber.subscribe(spec).await?;
        tokio::pin!(shutdown);
        let mut failures_in_a_row = 0;
        loop {
            let received = tokio::select! {
                () = &mut shutdown => break,
                received = subscription.receive(self.config.batch_size, self.config.receive_wait) => received,
            };
            let failed = match received {
                Ok(deliveries) if deliveries.is_empty() => false,
                Ok(deliveries) => {
                    let settlement = self.process(&deliveries, keeps_order).await;
                    self.settle(subscription.as_mut(), settlement, keeps_order).await
                }
                Err(error) => {
                    tracing::warn!(%error, consumer = %self.config.name, "Receiving failed.");
                    true
                }
            };
            failures_in_a_row = if failed { failures_in_a_row + 1 } else { 0 };
            if failed {
                let delay = self.config.backoff.random_delay(failures_in_a_row);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
        if let Err(error) = subscription.close().await {
            tracing::warn!(%error, "Leaving the consumer group failed.");
        }
        Ok(())
    }

    /// Splits a round among the workers by partition key and runs them concurrently.
    async fn process(&self, deliveries: &[Delivery], keeps_order: bool) -> Settlement {
        let workers = self.config.workers.max(1);
        let mut groups: Vec<Vec<Item<'_, DB>>> = (0..workers).map(|_| Vec::new()).collect();
        let received_at_us = Utc::now().timestamp_micros();
        for delivery in deliveries {
            let worker = partition_of(&delivery.message.partition_key, workers as u32) as usize;
            groups[worker].push(self.classify(delivery, received_at_us));
        }
        let runs = groups
            .iter()
            .filter(|group| !group.is_empty())
            .map(|group| self.apply_group(group, keeps_order));
        let mut settlement = Settlement::default();
        for outcome in join_all(runs).await {
            settlement.merge(outcome);
        }
        settlement
    }

    /// Decodes a delivery and finds its handler.
    fn classify<'r>(&'r self, delivery: &'r Delivery, received_at_us: i64) -> Item<'r, DB> {
        let work = match Envelope::from_json(&delivery.message.payload, &self.config.limits) {
            Err(error) => Work::Park(DeadLetterReason::Undecodable, error.to_string(), None),
            Ok(envelope) if self.config.filter.as_ref().is_some_and(|keep| !keep(&envelope)) => {
                Work::Skip
            }
            Ok(envelope) => {
                match self.router.route(Box::new(envelope), &delivery.message.routing_key) {
                    Route::Handle(handled, handler) => Work::Handle(handled, handler),
                    Route::Park(reason, error, envelope) => {
                        Work::Park(reason, error, Some(envelope))
                    }
                }
            }
        };
        Item { delivery, work, received_at_us }
    }

    /// One worker's share in one transaction; after a database error every delivery of
    /// the share is retried later.
    async fn apply_group(&self, items: &[Item<'_, DB>], keeps_order: bool) -> Settlement {
        let applied = if self.config.transactional_handlers {
            match self.apply_together(items).await {
                Ok(Ok(settlement)) => Ok(settlement),
                Ok(Err(failed)) => self.apply_one_by_one(items, keeps_order, Some(failed)).await,
                Err(error) => Err(error),
            }
        } else {
            self.apply_one_by_one(items, keeps_order, None).await
        };
        applied.unwrap_or_else(|error| {
            tracing::warn!(%error, consumer = %self.config.name, "Applying deliveries failed; they come again.");
            let delay = self.config.backoff.random_delay(1);
            let retries = items
                .iter()
                .map(|item| (item.delivery.clone(), delay, format!("database error: {error}")))
                .collect();
            Settlement { retries, ..Settlement::default() }
        })
    }

    /// The fast path: one inbox statement and no savepoints. When a handler fails,
    /// nothing is committed and its item's index and error come back: that failure is
    /// the event's first run.
    async fn apply_together(
        &self,
        items: &[Item<'_, DB>],
    ) -> Result<Result<Settlement, (usize, HandlerError)>, sqlx::Error> {
        let mut settlement = Settlement::default();
        let ids: Vec<uuid::Uuid> = items
            .iter()
            .filter_map(|item| match &item.work {
                Work::Handle(envelope, _) => Some(*envelope.id.as_uuid()),
                _ => None,
            })
            .collect();
        let mut tx = self.pool.begin().await?;
        let mut fresh = if ids.is_empty() {
            Default::default()
        } else {
            let received_at_us = items.first().map_or(0, |item| item.received_at_us);
            DB::record_many(&mut *tx, &self.config.name, &ids, received_at_us).await?
        };
        for (index, item) in items.iter().enumerate() {
            let tag = item.delivery.tag;
            match &item.work {
                Work::Skip | Work::Park(..) => {
                    self.settle_unhandled(&mut tx, item, &mut settlement).await?
                }
                Work::Handle(envelope, _) if !fresh.remove(envelope.id.as_uuid()) => {
                    settlement.counts.duplicates += 1;
                    settlement.acks.push(tag);
                }
                Work::Handle(envelope, handler) => {
                    let ctx = HandlerContext { envelope, tx: &mut *tx };
                    if let Err(error) = self.call_handler(handler.as_ref(), ctx).await {
                        tx.rollback().await?;
                        return Ok(Err((index, error)));
                    }
                    settlement.counts.processed += 1;
                    settlement.observed.push(Observation::processed(envelope));
                    settlement.acks.push(tag);
                }
            }
        }
        tx.commit().await?;
        Ok(Ok(settlement))
    }

    /// The careful path: each event in savepoints of its own, with immediate retries;
    /// a failure becomes a delayed retry or a dead letter.
    async fn apply_one_by_one(
        &self,
        items: &[Item<'_, DB>],
        keeps_order: bool,
        mut earlier_failure: Option<(usize, HandlerError)>,
    ) -> Result<Settlement, sqlx::Error> {
        let mut settlement = Settlement::default();
        let mut held_back = BTreeSet::new();
        let mut tx = self.pool.begin().await?;
        for (index, item) in items.iter().enumerate() {
            let delivery = item.delivery;
            if keeps_order && held_back.contains(&delivery.tag.partition) {
                continue; // It comes again after the event retried before it.
            }
            let Work::Handle(envelope, handler) = &item.work else {
                self.settle_unhandled(&mut tx, item, &mut settlement).await?;
                continue;
            };
            let failed_before = match earlier_failure.take() {
                Some((failed, error)) if failed == index => Some(error),
                other => {
                    earlier_failure = other;
                    None
                }
            };
            let received = item.received_at_us;
            let run =
                self.run_with_retries(&mut tx, envelope, received, handler.as_ref(), failed_before);
            match run.await? {
                Run::Applied => {
                    settlement.counts.processed += 1;
                    settlement.observed.push(Observation::processed(envelope));
                    settlement.acks.push(delivery.tag);
                    self.forget_failure(delivery);
                }
                Run::Duplicate => {
                    settlement.counts.duplicates += 1;
                    settlement.acks.push(delivery.tag);
                }
                Run::Failed { error, runs } => {
                    settlement.counts.failures += 1;
                    let retried = self
                        .after_failure(&mut tx, item, handler.name(), error, runs, &mut settlement)
                        .await?;
                    if retried && keeps_order {
                        held_back.insert(delivery.tag.partition);
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(settlement)
    }

    /// Runs a handler in a span of its own, `herald.consume`, which continues the
    /// producer's trace when the envelope carries a `traceparent` and is marked as an
    /// error when the handler fails; records its duration.
    async fn call_handler(
        &self,
        handler: &dyn ErasedHandler<DB>,
        ctx: HandlerContext<'_, DB>,
    ) -> Result<(), HandlerError> {
        let envelope = ctx.envelope;
        let span = tracing::info_span!(
            target: "herald",
            "herald.consume",
            otel.kind = "consumer",
            service = %self.config.name,
            event.id = %envelope.id,
            event.type = %envelope.event_type,
            otel.status_description = tracing::field::Empty,
        );
        if let Some(traceparent) = &envelope.traceparent {
            herald_telemetry::continue_trace(&span, traceparent);
        }
        let started = std::time::Instant::now();
        let result = handler.call(ctx).instrument(span.clone()).await;
        record_handler_duration(&self.config.name, &envelope.event_type, started);
        if let Err(error) = &result
            && !span.is_disabled()
        {
            // Marks the span as failed, with the error as its description.
            span.record("otel.status_description", error.to_string());
        }
        result
    }

    /// Runs a handler, again right away after a failure, each run in a savepoint with the
    /// inbox record. `failed_before` is a failure of this delivery on the fast path,
    /// which counts as its first run.
    async fn run_with_retries(
        &self,
        tx: &mut DB::Connection,
        envelope: &Envelope,
        received_at_us: i64,
        handler: &dyn ErasedHandler<DB>,
        failed_before: Option<HandlerError>,
    ) -> Result<Run, sqlx::Error> {
        let mut runs = 0;
        if let Some(error) = failed_before {
            runs = 1;
            if error.outcome() == Outcome::DeadLetter || runs > self.config.retry.immediate {
                return Ok(Run::Failed { error, runs });
            }
        }
        loop {
            runs += 1;
            let mut savepoint = tx.begin().await?;
            let (name, id) = (&self.config.name, *envelope.id.as_uuid());
            if !DB::record(&mut *savepoint, name, id, received_at_us).await? {
                savepoint.rollback().await?;
                return Ok(Run::Duplicate);
            }
            let ctx = HandlerContext { envelope, tx: &mut *savepoint };
            match self.call_handler(handler, ctx).await {
                Ok(()) => {
                    savepoint.commit().await?;
                    return Ok(Run::Applied);
                }
                Err(error) => {
                    savepoint.rollback().await?;
                    tracing::debug!(%error, event_id = %envelope.id, run = runs, "Handler failed.");
                    let last = error.outcome() == Outcome::DeadLetter
                        || runs > self.config.retry.immediate;
                    if last {
                        return Ok(Run::Failed { error, runs });
                    }
                }
            }
        }
    }

    /// Schedules a delayed retry, or dead-letters after the last attempt or a rejection.
    /// Returns whether the event is retried.
    async fn after_failure(
        &self,
        tx: &mut DB::Connection,
        item: &Item<'_, DB>,
        handler: &'static str,
        error: HandlerError,
        runs: u32,
        settlement: &mut Settlement,
    ) -> Result<bool, sqlx::Error> {
        let delivery = item.delivery;
        let rejected = error.outcome() == Outcome::DeadLetter;
        if !rejected && delivery.attempt <= self.config.retry.delayed {
            let delay = self.config.retry.backoff().random_delay(delivery.attempt);
            tracing::warn!(%error, event_id = %delivery.message.event_id, attempt = delivery.attempt, ?delay, "Handler failed; retrying later.");
            let detail =
                format!("attempt {} failed: {error}; again in {delay:?}", delivery.attempt);
            let step = crate::LedgerStep {
                event_id: delivery.message.event_id,
                service: &self.config.name,
                state: "retried",
                at_us: Utc::now().timestamp_micros(),
                detail: &detail,
            };
            DB::ledger_step(tx, &step).await?;
            settlement.retries.push((delivery.clone(), delay, error.to_string()));
            settlement.counts.retried += 1;
            settlement.observed.push(Observation::failed(item.event_type(), "retried"));
            return Ok(true);
        }
        let reason =
            if rejected { DeadLetterReason::Rejected } else { DeadLetterReason::HandlerFailed };
        let attempts = delivery
            .attempt
            .saturating_sub(1)
            .saturating_mul(self.config.retry.immediate + 1)
            .saturating_add(runs);
        let envelope = match &item.work {
            Work::Handle(envelope, _) => Some(envelope.as_ref()),
            _ => None,
        };
        let letter =
            self.letter(delivery, envelope, reason, error.to_string(), Some(handler), attempts);
        tracing::warn!(%error, event_id = %delivery.message.event_id, attempts, "Event dead-lettered.");
        DB::dead_letter(tx, &letter).await?;
        self.forget_failure(delivery);
        settlement.counts.dead_lettered += 1;
        settlement.observed.push(Observation::failed(item.event_type(), "dead_lettered"));
        settlement.acks.push(delivery.tag);
        Ok(false)
    }

    /// Filtered, undecodable and unhandled deliveries.
    async fn settle_unhandled(
        &self,
        tx: &mut DB::Connection,
        item: &Item<'_, DB>,
        settlement: &mut Settlement,
    ) -> Result<(), sqlx::Error> {
        settlement.acks.push(item.delivery.tag);
        let Work::Park(reason, error, envelope) = &item.work else {
            settlement.counts.filtered += 1;
            return Ok(());
        };
        match reason {
            DeadLetterReason::Undecodable => settlement.counts.undecodable += 1,
            _ => settlement.counts.unhandled += 1,
        }
        let always = matches!(reason, DeadLetterReason::NoUpcastPath | DeadLetterReason::Rejected);
        if always || self.config.unroutable == UnroutablePolicy::DeadLetter {
            tracing::warn!(%error, event_id = %item.delivery.message.event_id, "Event dead-lettered unhandled.");
            let letter =
                self.letter(item.delivery, envelope.as_deref(), *reason, error.clone(), None, 0);
            DB::dead_letter(tx, &letter).await?;
            settlement.counts.dead_lettered += 1;
            settlement.observed.push(Observation::failed(item.event_type(), "dead_lettered"));
        }
        Ok(())
    }

    fn letter(
        &self,
        delivery: &Delivery,
        envelope: Option<&Envelope>,
        reason: DeadLetterReason,
        error: String,
        handler: Option<&str>,
        attempts: u32,
    ) -> DeadLetter {
        let now = Utc::now();
        // A delivery without an id gets one of its own, so that two such never share a row.
        let event_id = match delivery.message.event_id {
            id if id.is_nil() => uuid::Uuid::now_v7(),
            id => id,
        };
        DeadLetter {
            service: self.config.name.clone(),
            event_id,
            event_type: envelope.map(|e| e.event_type.clone()),
            routing_key: delivery.message.routing_key.clone(),
            partition_key: delivery.message.partition_key.clone(),
            payload: delivery.message.payload.clone(),
            reason,
            error,
            handler: handler.map(str::to_owned),
            attempts,
            first_failed_at: self.first_failure(delivery).unwrap_or(now),
            last_failed_at: now,
        }
    }

    /// When the event first failed: from the transport, or remembered here.
    fn first_failure(&self, delivery: &Delivery) -> Option<DateTime<Utc>> {
        delivery.first_failed_at.or_else(|| {
            let known = self.first_failures.lock().unwrap_or_else(|e| e.into_inner());
            known.get(&delivery.message.event_id).copied()
        })
    }

    fn remember_failure(&self, delivery: &Delivery) {
        let mut known = self.first_failures.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() > 100_000 {
            known.clear(); // A bound on memory; the transport's own header wins anyway.
        }
        let first = delivery.first_failed_at.unwrap_or_else(Utc::now);
        known.entry(delivery.message.event_id).or_insert(first);
    }

    fn forget_failure(&self, delivery: &Delivery) {
        if delivery.attempt > 1 {
            let mut known = self.first_failures.lock().unwrap_or_else(|e| e.into_inner());
            known.remove(&delivery.message.event_id);
        }
    }

    /// Retries and acknowledges; returns whether anything failed (to back off).
    async fn settle(
        &self,
        subscription: &mut dyn Subscription,
        mut settlement: Settlement,
        keeps_order: bool,
    ) -> bool {
        if keeps_order {
            hold_back_after_retries(&mut settlement);
        }
        self.count(settlement.counts);
        self.observe(&settlement.observed);
        let mut failed = !settlement.retries.is_empty();
        for (delivery, delay, error) in &settlement.retries {
            self.remember_failure(delivery);
            if let Err(transport) = subscription.retry(delivery, *delay, error).await {
                tracing::warn!(error = %transport, "Scheduling a retry failed; the delivery comes again.");
            }
        }
        if let Err(error) = subscription.ack(&settlement.acks).await {
            // The effects are committed; redelivery will meet the inbox.
            tracing::warn!(%error, "Acknowledging failed.");
            failed = true;
        }
        failed
    }

    /// Emits the committed round's per-type metrics.
    fn observe(&self, observed: &[Observation]) {
        let service = &self.config.name;
        for observation in observed {
            metrics::counter!(
                "herald_consumer_events_total",
                "service" => service.clone(),
                "type" => observation.event_type.clone(),
                "outcome" => observation.outcome
            )
            .increment(1);
            if let Some(latency) = observation.latency {
                metrics::histogram!("herald_commit_to_handler_seconds", "service" => service.clone())
                    .record(latency.as_secs_f64());
            }
        }
    }

    fn count(&self, counts: Counts) {
        let stats = &self.stats;
        stats.processed.fetch_add(counts.processed, Ordering::Relaxed);
        stats.duplicates_suppressed.fetch_add(counts.duplicates, Ordering::Relaxed);
        stats.handler_failures.fetch_add(counts.failures, Ordering::Relaxed);
        stats.retried.fetch_add(counts.retried, Ordering::Relaxed);
        stats.dead_lettered.fetch_add(counts.dead_lettered, Ordering::Relaxed);
        stats.undecodable.fetch_add(counts.undecodable, Ordering::Relaxed);
        stats.unhandled.fetch_add(counts.unhandled, Ordering::Relaxed);
        stats.filtered.fetch_add(counts.filtered, Ordering::Relaxed);
    }
}

/// Where a retry holds its partition back, only the partition's first retry stands, and
/// nothing after it in the partition is acknowledged: it all comes again in order.
fn hold_back_after_retries(settlement: &mut Settlement) {
    let mut first: HashMap<u32, i64> = HashMap::new();
    for (delivery, _, _) in &settlement.retries {
        let offset = first.entry(delivery.tag.partition).or_insert(delivery.tag.offset);
        *offset = (*offset).min(delivery.tag.offset);
    }
    settlement.retries.retain(|(delivery, _, _)| {
        first.get(&delivery.tag.partition) == Some(&delivery.tag.offset)
    });
    settlement
        .acks
        .retain(|tag| first.get(&tag.partition).is_none_or(|offset| tag.offset < *offset));
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_transport::Message;

    fn delivery(partition: u32, offset: i64) -> Delivery {
        let message = Message {
            event_id: uuid::Uuid::now_v7(),
            routing_key: "integration.t.v1".into(),
            partition_key: "k".into(),
            payload: Vec::new(),
        };
        Delivery::first(DeliveryTag { partition, offset }, message)
    }

    #[test]
    fn delays_double_from_the_first_up_to_the_maximum_within_the_jitter() {
        let policy = RetryPolicy {
            immediate: 0,
            delayed: 10,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            jitter: 0.2,
        };
        assert_eq!(policy.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(policy.delay(2, 0.5), Duration::from_secs(2));
        assert_eq!(policy.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(policy.delay(9, 0.5), Duration::from_secs(5), "capped");
        assert_eq!(policy.delay(1, 0.0), Duration::from_millis(800), "1 - jitter");
        assert_eq!(policy.delay(1, 1.0), Duration::from_millis(1200), "1 + jitter");
        assert_eq!(policy.delay(u32::MAX, 0.5), Duration::from_secs(5), "no overflow");
    }

    #[test]
    fn after_a_retry_nothing_later_in_its_partition_is_acknowledged() {
        let mut settlement = Settlement {
            acks: vec![
                DeliveryTag { partition: 0, offset: 1 },
                DeliveryTag { partition: 0, offset: 4 },
                DeliveryTag { partition: 1, offset: 9 },
            ],
            retries: vec![
                (delivery(0, 3), Duration::ZERO, "late".into()),
                (delivery(0, 2), Duration::ZERO, "first".into()),
            ],
            counts: Counts::default(),
            observed: Vec::new(),
        };
        hold_back_after_retries(&mut settlement);
        let kept: Vec<(u32, i64)> =
            settlement.acks.iter().map(|tag| (tag.partition, tag.offset)).collect();
        assert_eq!(kept, vec![(0, 1), (1, 9)], "offset 4 of partition 0 comes again");
        assert_eq!(settlement.retries.len(), 1, "only the partition's first retry stands");
        assert_eq!(settlement.retries[0].0.tag.offset, 2);
    }
}
