//! `herald push`: delivers events to the HTTP endpoints of push subscriptions, signed
//! per Standard Webhooks, with the consumer framework's retries and dead letters.
//!
//! Each subscription is a consumer group of its own, `push-<service>-<id>`, so that one
//! slow or failing endpoint never holds back another, and its dead letters are its own.
//! Subscriptions added or removed while it runs are picked up within a few seconds.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use herald_consumer::{
    Consumer, ConsumerConfig, EnvelopeHandler, HandlerContext, HandlerError, InboxBackend,
    RetryPolicy, Router, cesql_filter,
};
use herald_db::Database;
use herald_push::{PushClient, PushError, PushTarget, Subscription, SubscriptionStore};
use herald_transport::Pattern;
use tokio::sync::{Mutex, watch};

use crate::transport::Transport;

/// The consumer group of a push subscription.
pub fn group_of(subscription: &Subscription) -> String {
    let service: String = subscription.service.chars().take(40).collect();
    // The tail of a UUIDv7 is random; its head is the creation time.
    let id = subscription.id.simple().to_string();
    format!("push-{service}-{}", &id[id.len() - 12..])
}

/// How long a subscription's state (endpoint, secrets, disabled) is cached.
const REFRESH: Duration = Duration::from_secs(2);

/// POSTs each event to one subscription's endpoint.
struct PushHandler {
    store: SubscriptionStore,
    client: PushClient,
    subscription: uuid::Uuid,
    /// The subscription and its signing target, read at most every [`REFRESH`].
    cached: Mutex<Option<(Instant, Subscription, PushTarget)>>,
    /// Failed deliveries in a row, counted here: the store is written in the background,
    /// never while the consumer's transaction holds a connection (SQLite has one writer).
    failures_in_a_row: AtomicU32,
}

impl PushHandler {
    fn new(store: SubscriptionStore, client: PushClient, subscription: uuid::Uuid) -> Self {
        PushHandler {
            store,
            client,
            subscription,
            cached: Mutex::new(None),
            failures_in_a_row: AtomicU32::new(0),
        }
    }

    /// The subscription and its target, from the cache or the store (read pool only).
    async fn current(&self) -> Result<(Subscription, PushTarget), HandlerError> {
        if let Some((read, subscription, target)) = self.cached.lock().await.as_ref()
            && read.elapsed() < REFRESH
        {
            return Ok((subscription.clone(), target.clone()));
        }
        let read = |e: PushError| HandlerError::retry(format!("reading the subscription: {e}"));
        let subscription = self.store.get(self.subscription).await.map_err(read)?;
        let target = self.store.target(self.subscription).await.map_err(read)?;
        // The store is the truth: an operator may have enabled the endpoint again.
        self.failures_in_a_row.store(subscription.consecutive_failures, Ordering::Relaxed);
        *self.cached.lock().await = Some((Instant::now(), subscription.clone(), target.clone()));
        Ok((subscription, target))
    }

    async fn push(&self, envelope: &herald_envelope::Envelope) -> Result<(), HandlerError> {
        let (current, target) = self.current().await?;
        let disable_after = self.store.config().disable_after;
        if current.is_disabled() || self.failures_in_a_row.load(Ordering::Relaxed) >= disable_after
        {
            return Err(HandlerError::dead_letter(format!(
                "endpoint {} is disabled after {disable_after} consecutive failures; enable it and replay",
                current.endpoint
            )));
        }
        match self.client.deliver(&target, envelope).await {
            Ok(()) => {
                self.failures_in_a_row.store(0, Ordering::Relaxed);
                let (store, id) = (self.store.clone(), self.subscription);
                tokio::spawn(async move {
                    if let Err(error) = store.record_success(id).await {
                        tracing::warn!(%error, "Recording a delivery failed.");
                    }
                });
                Ok(())
            }
            Err(error) => Err(self.failed(&error)),
        }
    }

    /// Records the failure (in the background); a permanent refusal, or the failure that
    /// disables the endpoint, dead-letters.
    fn failed(&self, error: &PushError) -> HandlerError {
        let (store, id, text) = (self.store.clone(), self.subscription, error.to_string());
        tokio::spawn(async move {
            if let Err(failure) = store.record_failure(id, &text).await {
                tracing::warn!(error = %failure, "Recording a failed delivery failed.");
            }
        });
        let failures = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.store.config().disable_after {
            HandlerError::dead_letter(format!("{error}; the endpoint is now disabled"))
        } else if error.is_retryable() {
            HandlerError::retry(error.to_string())
        } else {
            HandlerError::dead_letter(error.to_string())
        }
    }
}

#[async_trait]
impl<DB: sqlx::Database> EnvelopeHandler<DB> for PushHandler {
    async fn handle(&self, ctx: HandlerContext<'_, DB>) -> Result<(), HandlerError> {
        self.push(ctx.envelope).await
    }
}

/// How `herald push` delivers.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// Retries before a dead letter.
    pub retry: RetryPolicy,
}

/// How often `herald push` looks for added and removed subscriptions.
const RESCAN: Duration = Duration::from_secs(5);

/// Everything a subscription's consumer needs, shared by all of them.
struct Pusher {
    db: Database,
    transport: Transport,
    store: SubscriptionStore,
    client: PushClient,
    settings: PushSettings,
}

/// A running consumer of one subscription.
struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.send_replace(true);
        self.task.await?
    }
}

/// Runs one consumer per push subscription until `shutdown`, starting consumers for
/// subscriptions added meanwhile (through the CLI or the API) and stopping those of
/// removed ones, every few seconds. Returns how many subscriptions it served.
pub async fn run(
    db: Database,
    transport: Transport,
    store: SubscriptionStore,
    client: PushClient,
    settings: PushSettings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<usize> {
    let pusher = Pusher { db, transport, store, client, settings };
    let mut running: HashMap<uuid::Uuid, Running> = HashMap::new();
    let mut served = 0;
    pusher.rescan(&mut running, &mut served).await?;
    eprintln!(
        "Pushing to {} subscriptions through {}; stop with Ctrl-C or SIGTERM.",
        running.len(),
        pusher.transport.name
    );
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(RESCAN) => {}
        }
        if let Err(error) = pusher.rescan(&mut running, &mut served).await {
            tracing::warn!(%error, "Reading the push subscriptions failed; trying again.");
        }
    }
    for (_, consumer) in running {
        consumer.stop().await?;
    }
    Ok(served)
}

impl Pusher {
    /// Starts consumers for new subscriptions (and again for any whose consumer ended,
    /// e.g. the broker was away when it started) and stops those of removed ones. A
    /// subscription that cannot start is logged and tried at the next scan.
    async fn rescan(
        &self,
        running: &mut HashMap<uuid::Uuid, Running>,
        served: &mut usize,
    ) -> anyhow::Result<()> {
        let subscriptions = self.store.list(None).await?;
        let listed: HashSet<uuid::Uuid> = subscriptions.iter().map(|s| s.id).collect();
        let ended: Vec<uuid::Uuid> = running
            .iter()
            .filter(|(id, consumer)| !listed.contains(id) || consumer.task.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            let Some(consumer) = running.remove(&id) else { continue };
            match consumer.stop().await {
                Ok(()) if !listed.contains(&id) => {
                    eprintln!("Stopped pushing for removed subscription {id}.");
                }
                Ok(()) => {}
                Err(error) => tracing::warn!(%error, subscription = %id, "A push consumer ended."),
            }
        }
        for subscription in &subscriptions {
            if running.contains_key(&subscription.id) {
                continue;
            }
            match self.start(subscription).await {
                Ok(consumer) => {
                    running.insert(subscription.id, consumer);
                    *served += 1;
                    tracing::info!(subscription = %subscription.id, endpoint = %herald_push::shown_endpoint(&subscription.endpoint), "Pushing.");
                }
                Err(error) => {
                    tracing::warn!(%error, subscription = %subscription.id, "Cannot start pushing; trying again.");
                }
            }
        }
        Ok(())
    }

    /// Declares a subscription's group and starts its consumer.
    async fn start(&self, subscription: &Subscription) -> anyhow::Result<Running> {
        let pattern: Pattern = subscription.pattern.parse()?;
        let group = group_of(subscription);
        self.transport.declare_group(&group, std::slice::from_ref(&pattern)).await?;
        let handler = PushHandler::new(self.store.clone(), self.client.clone(), subscription.id);
        let mut config = ConsumerConfig::new(group);
        config.retry = self.settings.retry;
        if let Some(filter) = &subscription.filter {
            config.filter = Some(cesql_filter(filter.parse()?));
        }
        config.workers = 4;
        config.transactional_handlers = false; // an HTTP POST is not undone by a rollback
        let subscriber = Arc::clone(&self.transport.subscriber);
        let (stop, _) = watch::channel(false);
        let stopped = stopped(&stop);
        let task = match &self.db {
            Database::Postgres(pool) => {
                spawn(pool.clone(), config, pattern, handler, subscriber, stopped)
            }
            Database::Sqlite(sqlite) => {
                spawn(sqlite.writer.clone(), config, pattern, handler, subscriber, stopped)
            }
        };
        Ok(Running { stop, task })
    }
}

fn spawn<DB: InboxBackend>(
    pool: sqlx::Pool<DB>,
    config: ConsumerConfig,
    pattern: Pattern,
    handler: PushHandler,
    subscriber: Arc<dyn herald_transport::Subscriber>,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<anyhow::Result<()>>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let consumer = Consumer::new(config, pool, Router::new().on_pattern(pattern, handler));
    tokio::spawn(async move { Ok(consumer.run(subscriber.as_ref(), stopped).await?) })
}

fn stopped(stop: &watch::Sender<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut receiver = stop.subscribe();
    async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(service: &str) -> Subscription {
        Subscription {
            id: uuid::Uuid::now_v7(),
            service: service.into(),
            pattern: "#".into(),
            filter: None,
            endpoint: "http://127.0.0.1:1/hook".into(),
            created_at: chrono::Utc::now(),
            disabled_at: None,
            consecutive_failures: 0,
            last_error: None,
            last_success_at: None,
            previous_secret_expires_at: None,
        }
    }

    #[test]
    fn subscriptions_made_in_the_same_millisecond_get_groups_of_their_own() {
        let (a, b) = (subscription("crm"), subscription("crm"));
        assert_ne!(group_of(&a), group_of(&b));
        let long = subscription(&"s".repeat(64));
        let group = group_of(&long);
        assert!(herald_transport::check_name("group", &group).is_ok(), "{group}");
    }
}
