//! A consumer's settings: retries, unroutable events, the filter.

use std::sync::Arc;
use std::time::Duration;

use herald_envelope::{Envelope, Limits};
use herald_transport::Backoff;

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
    /// Workers handling a round concurrently, each in a transaction of its own; a
    /// partition key always goes to the same worker, so one key's events keep their
    /// order. On SQLite, whose one writer commits the workers' transactions one after
    /// another anyway, 1 (one transaction per round) gives lower latency.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
