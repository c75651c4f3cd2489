//! Counters and metrics of a consumer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use herald_envelope::Envelope;

use super::Consumer;
use crate::InboxBackend;

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
    /// Non-empty windows received (events per round = deliveries / rounds).
    pub rounds: AtomicU64,
    /// Database transactions the rounds took (one per worker with a share of a round,
    /// more after a handler failure).
    pub transactions: AtomicU64,
}

/// Counts of one round, added to the stats once it settled.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub(super) processed: u64,
    pub(super) duplicates: u64,
    pub(super) failures: u64,
    pub(super) retried: u64,
    pub(super) dead_lettered: u64,
    pub(super) undecodable: u64,
    pub(super) unhandled: u64,
    pub(super) filtered: u64,
}

impl Counts {
    pub(super) fn add(&mut self, other: Counts) {
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

/// What became of one event, for the metrics.
pub(super) struct Observation {
    pub(super) event_type: String,
    pub(super) outcome: &'static str,
    pub(super) latency: Option<Duration>,
}

impl Observation {
    pub(super) fn processed(envelope: &Envelope) -> Observation {
        let latency = (Utc::now() - envelope.time).to_std().ok();
        Observation { event_type: envelope.event_type.clone(), outcome: "processed", latency }
    }

    pub(super) fn failed(item_type: Option<&str>, outcome: &'static str) -> Observation {
        let event_type = item_type.unwrap_or("unknown").to_owned();
        Observation { event_type, outcome, latency: None }
    }
}

impl<DB: InboxBackend> Consumer<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// Emits the committed round's per-type metrics.
    pub(super) fn observe(&self, observed: &[Observation]) {
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

    pub(super) fn count(&self, counts: Counts) {
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
