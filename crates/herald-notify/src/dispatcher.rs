//! The sending side: one loop per channel claims due deliveries, sends them through the
//! channel's providers, and settles each as sent, retried later, or failed.
//!
//! Channels run independently, so a slow provider holds up only its own channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use herald_channels::{Channel, Message};
use herald_db::Database;
use herald_transport::Backoff;
use tokio::sync::Notify;

use crate::deliveries::Outcome;
use crate::{Delivery, NotificationStore, Result};

/// How the dispatcher claims, sends and retries.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Deliveries claimed per round and channel.
    pub batch: i64,
    /// Longest wait between rounds when nothing is due (wake-ups come sooner).
    pub poll_interval: Duration,
    /// How long a claim holds; a dispatcher that dies mid-send loses its rows after it.
    pub lease: Duration,
    /// Attempts before a delivery fails for good.
    pub max_attempts: i32,
    /// The delay before the first retry; it doubles per attempt, up to `max_delay`.
    pub first_delay: Duration,
    /// The longest delay between attempts.
    pub max_delay: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            batch: 500,
            poll_interval: Duration::from_millis(200),
            lease: Duration::from_secs(60),
            max_attempts: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

/// What the dispatcher did so far.
#[derive(Debug, Default)]
pub struct DispatcherStats {
    /// Deliveries a provider took.
    pub sent: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Deliveries that failed for good.
    pub failed: AtomicU64,
}

/// Sends due deliveries through the configured channels.
pub struct Dispatcher {
    store: NotificationStore,
    channels: HashMap<String, Arc<Channel>>,
    config: DispatcherConfig,
    wake: Arc<Notify>,
    stats: Arc<DispatcherStats>,
}

impl Dispatcher {
    /// A dispatcher over `db` with no channels yet.
    pub fn new(db: Database, config: DispatcherConfig, wake: Arc<Notify>) -> Dispatcher {
        Dispatcher {
            store: NotificationStore::new(db),
            channels: HashMap::new(),
            config,
            wake,
            stats: Arc::default(),
        }
    }

    /// Sends `channel`'s deliveries (`email`, `sms`, `push`, `webhook`) through it.
    #[must_use]
    pub fn with_channel(mut self, channel: Channel) -> Dispatcher {
        self.channels.insert(channel.kind().to_string(), Arc::new(channel));
        self
    }

    /// The channels with providers.
    pub fn channel_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.channels.keys().cloned().collect();
        names.sort();
        names
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<DispatcherStats> {
        Arc::clone(&self.stats)
    }

    /// Runs every channel's loop until `shutdown` completes; a round in hand is finished
    /// and settled first.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) -> Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let this = Arc::new(self);
        let mut loops = tokio::task::JoinSet::new();
        for name in this.channel_names() {
            let (this, stopped) = (Arc::clone(&this), stopped.clone());
            loops.spawn(async move { this.channel_loop(&name, stopped).await });
        }
        shutdown.await;
        let _ = stop.send(true);
        this.wake.notify_waiters();
        while let Some(finished) = loops.join_next().await {
            if let Ok(Err(error)) = finished {
                return Err(error);
            }
        }
        Ok(())
    }

    async fn channel_loop(
        &self,
        name: &str,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) -> Result<()> {
        while !*stopped.borrow() {
            let sent = match self.round(name).await {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(%error, channel = name, "A dispatch round failed; trying again.");
                    0
                }
            };
            if sent == 0 {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
        Ok(())
    }

    /// Claims, sends and settles one batch of `name`'s deliveries; returns how many.
    async fn round(&self, name: &str) -> Result<usize> {
        let Some(channel) = self.channels.get(name) else { return Ok(0) };
        let lease =
            chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::minutes(1));
        let claimed = self.store.claim_due(name, self.config.batch, lease).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let messages: Vec<Message> = claimed.iter().map(message_of).collect();
        let results = channel.send(&messages).await;
        let outcomes: Vec<_> = claimed
            .iter()
            .zip(results)
            .map(|(delivery, result)| (delivery.id, self.outcome(delivery, result)))
            .collect();
        self.store.settle(&outcomes).await?;
        Ok(claimed.len())
    }

    fn outcome(
        &self,
        delivery: &Delivery,
        result: std::result::Result<herald_channels::Receipt, herald_channels::SendError>,
    ) -> Outcome {
        match result {
            Ok(receipt) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                Outcome::Sent {
                    provider: receipt.provider,
                    provider_message_id: receipt.provider_message_id,
                }
            }
            Err(error) if error.retryable && delivery.attempts < self.config.max_attempts => {
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                let delay = self.delay(delivery.attempts);
                let at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                Outcome::Retry { at, error: error.to_string() }
            }
            Err(error) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                let last = if error.retryable {
                    format!("gave up after {} attempts: {error}", delivery.attempts)
                } else {
                    error.to_string()
                };
                Outcome::Failed { error: last }
            }
        }
    }

    /// The delay before attempt `attempts + 1`, with ±20 % jitter.
    fn delay(&self, attempts: i32) -> Duration {
        Backoff::new(self.config.first_delay, self.config.max_delay)
            .random_delay(u32::try_from(attempts).unwrap_or(0))
    }
}

fn message_of(delivery: &Delivery) -> Message {
    Message {
        id: delivery.id.to_string(),
        to: delivery.address.clone().unwrap_or_default(),
        subject: delivery.subject.clone(),
        body: delivery.body.clone().unwrap_or_default(),
        data: serde_json::from_str(&delivery.data).unwrap_or_default(),
    }
}
