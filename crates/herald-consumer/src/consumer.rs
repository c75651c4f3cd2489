//! The consumer loop.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_envelope::{Envelope, Limits};
use herald_transport::{
    Backoff, Delivery, DeliveryTag, Subscriber, Subscription, SubscriptionSpec, TransportError,
};
use sqlx::Connection;

use crate::handler::{ErasedHandler, Router};
use crate::{HandlerContext, InboxBackend};

/// Settings of one consumer.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The consumer's name: its consumer group and its inbox key.
    pub name: String,
    /// This process's name within the group.
    pub member: String,
    /// Most deliveries applied in one database transaction.
    pub batch_size: usize,
    /// Longest wait for deliveries before checking for shutdown.
    pub receive_wait: Duration,
    /// Backoff after a failed handler or database error.
    pub backoff: Backoff,
    /// Size limit of an event.
    pub limits: Limits,
}

impl ConsumerConfig {
    /// A configuration with defaults for consumer `name`.
    pub fn new(name: impl Into<String>) -> ConsumerConfig {
        ConsumerConfig {
            name: name.into(),
            member: format!("member-{}", uuid::Uuid::now_v7().simple()),
            batch_size: 512,
            receive_wait: Duration::from_millis(250),
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
    /// Handler failures (each retried).
    pub handler_failures: AtomicU64,
    /// Deliveries that were not a valid envelope (skipped, logged).
    pub undecodable: AtomicU64,
    /// Events of a type or version with no handler (skipped).
    pub unhandled: AtomicU64,
}

/// The outcome of applying one batch.
#[derive(Debug, Default)]
struct BatchOutcome {
    acks: Vec<DeliveryTag>,
    nacks: Vec<DeliveryTag>,
    processed: u64,
    duplicates: u64,
    undecodable: u64,
    unhandled: u64,
}

/// Receives, deduplicates through the inbox, handles, commits and acknowledges.
pub struct Consumer<DB: InboxBackend> {
    config: ConsumerConfig,
    pool: sqlx::Pool<DB>,
    router: Router<DB>,
    stats: Arc<ConsumerStats>,
}

impl<DB: InboxBackend> Consumer<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// A consumer writing its inbox and effects to `pool`.
    pub fn new(config: ConsumerConfig, pool: sqlx::Pool<DB>, router: Router<DB>) -> Consumer<DB> {
        Consumer { config, pool, router, stats: Arc::default() }
    }

    /// The consumer's counters, to read while it runs.
    pub fn stats(&self) -> Arc<ConsumerStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `shutdown` completes; the batch in hand is finished first.
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
                Ok(deliveries) => self.process(subscription.as_mut(), &deliveries).await,
                Err(error) => {
                    tracing::warn!(%error, consumer = %self.config.name, "Receiving failed.");
                    true
                }
            };
            failures_in_a_row = if failed { failures_in_a_row + 1 } else { 0 };
            if failed {
                let delay = self.config.backoff.delay(failures_in_a_row, rand::random::<f64>());
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

    /// Applies and acknowledges a batch; returns whether anything failed.
    async fn process(&self, subscription: &mut dyn Subscription, deliveries: &[Delivery]) -> bool {
        let outcome = match self.apply(deliveries).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(%error, consumer = %self.config.name, "Applying a batch failed; it is retried.");
                first_of_each_partition(deliveries)
            }
        };
        self.count(&outcome);
        let mut failed = !outcome.nacks.is_empty();
        if let Err(error) = subscription.ack(&outcome.acks).await {
            // The effects are committed; redelivery will meet the inbox.
            tracing::warn!(%error, "Acknowledging failed.");
            failed = true;
        }
        for tag in outcome.nacks {
            if let Err(error) = subscription.nack(tag).await {
                tracing::warn!(%error, "Refusing a delivery failed.");
            }
        }
        failed
    }

    fn count(&self, outcome: &BatchOutcome) {
        let stats = &self.stats;
        stats.processed.fetch_add(outcome.processed, Ordering::Relaxed);
        stats.duplicates_suppressed.fetch_add(outcome.duplicates, Ordering::Relaxed);
        stats.undecodable.fetch_add(outcome.undecodable, Ordering::Relaxed);
        stats.unhandled.fetch_add(outcome.unhandled, Ordering::Relaxed);
        stats.handler_failures.fetch_add(outcome.nacks.len() as u64, Ordering::Relaxed);
    }

    /// Runs a batch in one transaction: first all at once (one inbox statement for the
    /// batch, no savepoints); if a handler fails, the batch is rolled back and run again
    /// event by event, so that only the failing event and its partition wait.
    async fn apply(&self, deliveries: &[Delivery]) -> Result<BatchOutcome, sqlx::Error> {
        match self.apply_together(deliveries).await? {
            Some(outcome) => Ok(outcome),
            None => self.apply_one_by_one(deliveries).await,
        }
    }

    /// Decodes a delivery and finds its handler.
    fn classify(&self, delivery: &Delivery) -> Classified<'_, DB> {
        match Envelope::from_json(&delivery.message.payload, &self.config.limits) {
            Err(error) => {
                tracing::warn!(%error, event_id = %delivery.message.event_id, "Undecodable event skipped.");
                Classified::Undecodable
            }
            Ok(envelope) => match self.router.handler_for(&envelope) {
                Some(handler) => Classified::Handle(Box::new(envelope), handler),
                None => Classified::Unhandled,
            },
        }
    }

    /// The fast path; `None` when a handler failed (nothing was committed).
    async fn apply_together(
        &self,
        deliveries: &[Delivery],
    ) -> Result<Option<BatchOutcome>, sqlx::Error> {
        let mut outcome = BatchOutcome::default();
        let mut work = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            match self.classify(delivery) {
                Classified::Undecodable => outcome.skip_undecodable(delivery.tag),
                Classified::Unhandled => outcome.skip_unhandled(delivery.tag),
                Classified::Handle(envelope, handler) => {
                    work.push((delivery.tag, envelope, handler))
                }
            }
        }
        let ids: Vec<uuid::Uuid> =
            work.iter().map(|(_, envelope, _)| *envelope.id.as_uuid()).collect();
        let mut tx = self.pool.begin().await?;
        let mut fresh = DB::record_many(&mut *tx, &self.config.name, &ids).await?;
        for (tag, envelope, handler) in work {
            if !fresh.remove(envelope.id.as_uuid()) {
                outcome.duplicates += 1;
                outcome.acks.push(tag);
                continue;
            }
            let ctx = HandlerContext { envelope: &envelope, tx: &mut *tx };
            if let Err(error) = handler.call(ctx).await {
                tracing::debug!(%error, event_id = %envelope.id, "Handler failed; rerunning the batch event by event.");
                tx.rollback().await?;
                return Ok(None);
            }
            outcome.processed += 1;
            outcome.acks.push(tag);
        }
        tx.commit().await?;
        Ok(Some(outcome))
    }

    /// The careful path: one savepoint per event. After a handler fails, the rest of its
    /// partition waits (it is refused, and comes again in order).
    async fn apply_one_by_one(&self, deliveries: &[Delivery]) -> Result<BatchOutcome, sqlx::Error> {
        let mut outcome = BatchOutcome::default();
        let mut stopped = BTreeSet::new();
        let mut tx = self.pool.begin().await?;
        for delivery in deliveries {
            if stopped.contains(&delivery.tag.partition) {
                continue;
            }
            let (envelope, handler) = match self.classify(delivery) {
                Classified::Undecodable => {
                    outcome.skip_undecodable(delivery.tag);
                    continue;
                }
                Classified::Unhandled => {
                    outcome.skip_unhandled(delivery.tag);
                    continue;
                }
                Classified::Handle(envelope, handler) => (envelope, handler),
            };
            let mut savepoint = (*tx).begin().await?;
            if !DB::record(&mut *savepoint, &self.config.name, *envelope.id.as_uuid()).await? {
                savepoint.rollback().await?;
                outcome.duplicates += 1;
                outcome.acks.push(delivery.tag);
                continue;
            }
            let ctx = HandlerContext { envelope: &envelope, tx: &mut *savepoint };
            match handler.call(ctx).await {
                Ok(()) => {
                    savepoint.commit().await?;
                    outcome.processed += 1;
                    outcome.acks.push(delivery.tag);
                }
                Err(error) => {
                    savepoint.rollback().await?;
                    tracing::warn!(%error, event_id = %envelope.id, event_type = %envelope.event_type, "Handler failed; the event is retried.");
                    stopped.insert(delivery.tag.partition);
                    outcome.nacks.push(delivery.tag);
                }
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }
}

/// A delivery, decoded and matched with its handler (or not).
enum Classified<'r, DB: sqlx::Database> {
    Undecodable,
    Unhandled,
    Handle(Box<Envelope>, &'r Arc<dyn ErasedHandler<DB>>),
}

impl BatchOutcome {
    fn skip_undecodable(&mut self, tag: DeliveryTag) {
        self.undecodable += 1;
        self.acks.push(tag);
    }

    fn skip_unhandled(&mut self, tag: DeliveryTag) {
        self.unhandled += 1;
        self.acks.push(tag);
    }
}

/// After a failed transaction nothing was applied: every partition restarts at its first.
fn first_of_each_partition(deliveries: &[Delivery]) -> BatchOutcome {
    let mut seen = BTreeSet::new();
    let nacks = deliveries
        .iter()
        .filter(|delivery| seen.insert(delivery.tag.partition))
        .map(|delivery| delivery.tag)
        .collect();
    BatchOutcome { nacks, ..BatchOutcome::default() }
}
