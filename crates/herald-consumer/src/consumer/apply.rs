//! Applying deliveries: the inbox, the handlers with their immediate reruns, dead letters.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use herald_envelope::Envelope;
use herald_transport::Delivery;
use sqlx::Connection;

use super::settle::Settlement;
use super::stats::Observation;
use super::{Consumer, UnroutablePolicy};
use crate::handler::{ErasedHandler, Outcome};
use crate::layer::Next;
use crate::{DeadLetter, DeadLetterReason, HandlerContext, HandlerError, InboxBackend};

/// A delivery, decoded and matched with its handler (or not).
pub(super) enum Work<'r, DB: sqlx::Database> {
    /// The filter refused it.
    Skip,
    /// It goes to the dead-letter queue (or is acknowledged, by policy) unhandled.
    Park(DeadLetterReason, String, Option<Box<Envelope>>),
    /// It is handled.
    Handle(Box<Envelope>, &'r Arc<dyn ErasedHandler<DB>>),
}

pub(super) struct Item<'r, DB: sqlx::Database> {
    pub(super) delivery: &'r Delivery,
    pub(super) work: Work<'r, DB>,
    /// When the round that brought it was received (microseconds since the Unix epoch):
    /// the ledger's `delivered` time, kept with the inbox record.
    pub(super) received_at_us: i64,
}

impl<DB: sqlx::Database> Item<'_, DB> {
    /// The event's type, when it could be decoded.
    pub(super) fn event_type(&self) -> Option<&str> {
        match &self.work {
            Work::Handle(envelope, _) | Work::Park(_, _, Some(envelope)) => {
                Some(&envelope.event_type)
            }
            _ => None,
        }
    }
}

/// The result of running a handler with its immediate retries.
pub(super) enum Run {
    Applied,
    Duplicate,
    Failed { error: HandlerError, runs: u32 },
}

impl<DB: InboxBackend> Consumer<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    /// One worker's share in one transaction; after a database error every delivery of
    /// the share is retried later.
    pub(super) async fn apply_group(
        &self,
        items: &[Item<'_, DB>],
        keeps_order: bool,
    ) -> Settlement {
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
    pub(super) async fn apply_together(
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
        let mut tx = self.begin().await?;
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
    pub(super) async fn apply_one_by_one(
        &self,
        items: &[Item<'_, DB>],
        keeps_order: bool,
        mut earlier_failure: Option<(usize, HandlerError)>,
    ) -> Result<Settlement, sqlx::Error> {
        let mut settlement = Settlement::default();
        let mut held_back = BTreeSet::new();
        let mut tx = self.begin().await?;
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

    /// Begins one of the consumer's transactions, counting it.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
        self.stats.transactions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.pool.begin().await
    }

    /// Runs a handler through the consumer's layers (its `herald.consume` span, its
    /// duration metric, then the router's layers).
    pub(super) async fn call_handler(
        &self,
        handler: &dyn ErasedHandler<DB>,
        ctx: HandlerContext<'_, DB>,
    ) -> Result<(), HandlerError> {
        Next::new(&self.layers, handler).run(ctx).await
    }

    /// Runs a handler, again right away after a failure, each run in a savepoint with the
    /// inbox record. `failed_before` is a failure of this delivery on the fast path,
    /// which counts as its first run.
    pub(super) async fn run_with_retries(
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
    pub(super) async fn after_failure(
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
    pub(super) async fn settle_unhandled(
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

    pub(super) fn letter(
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
    pub(super) fn first_failure(&self, delivery: &Delivery) -> Option<DateTime<Utc>> {
        delivery.first_failed_at.or_else(|| {
            let known = self.first_failures.lock().unwrap_or_else(|e| e.into_inner());
            known.get(&delivery.message.event_id).copied()
        })
    }

    pub(super) fn remember_failure(&self, delivery: &Delivery) {
        let mut known = self.first_failures.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() > 100_000 {
            known.clear(); // A bound on memory; the transport's own header wins anyway.
        }
        let first = delivery.first_failed_at.unwrap_or_else(Utc::now);
        known.entry(delivery.message.event_id).or_insert(first);
    }

    pub(super) fn forget_failure(&self, delivery: &Delivery) {
        if delivery.attempt > 1 {
            let mut known = self.first_failures.lock().unwrap_or_else(|e| e.into_inner());
            known.remove(&delivery.message.event_id);
        }
    }
}
