//! The consumer loop: receive a window of deliveries, hand them to key-hashed workers,
//! settle each (acknowledge, retry later, or dead-letter), then receive again.

mod apply;
mod config;
mod settle;
mod stats;

pub use config::{ConsumerConfig, EventFilter, RetryPolicy, UnroutablePolicy};
pub use stats::ConsumerStats;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use herald_envelope::{Envelope, partition_of};
use herald_transport::{Delivery, Subscriber, SubscriptionSpec, TransportError};

use crate::handler::{Route, Router};
use crate::layer::{HandlerLayer, MetricsLayer, TraceLayer};
use crate::{DeadLetterReason, InboxBackend};

use apply::{Item, Work};
use settle::Settlement;

/// What stops a consumer.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// Joining the transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Receives, deduplicates through the inbox, handles, commits and settles.
pub struct Consumer<DB: InboxBackend> {
    config: ConsumerConfig,
    pool: sqlx::Pool<DB>,
    router: Router<DB>,
    /// The consumer's own layers, then the router's: what runs around each handler call.
    layers: Vec<Arc<dyn HandlerLayer<DB>>>,
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
        let mut layers: Vec<Arc<dyn HandlerLayer<DB>>> = vec![
            Arc::new(TraceLayer::new(config.name.clone())),
            Arc::new(MetricsLayer::new(config.name.clone())),
        ];
        layers.extend(router.layers().iter().cloned());
        Consumer {
            config,
            pool,
            router,
            layers,
            stats: Arc::default(),
            first_failures: Mutex::default(),
        }
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
                    self.stats.rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
}
