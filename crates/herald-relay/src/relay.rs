//! The relay loop.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_db::lease::{LeaseConfig, Leases};
use herald_db::listen::{Listener, Topic};
use herald_outbox::{OutboxRow, OutboxStore, Vacuumed};
use herald_transport::{Backoff, Message, PendingConfirms, Publisher, TransportError};
use tokio::time::Instant;

/// Settings of one relay process.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// This relay's unique name among the relays of the outbox.
    pub relay_id: String,
    /// Outbox partitions; must equal the producers' `OutboxConfig::partitions`.
    pub partitions: u32,
    /// Most rows published in one batch, shared evenly among the partitions held (at
    /// least 16 each). Bigger batches amortise round trips; smaller ones keep each publish
    /// short, well inside `publish_timeout`.
    pub batch_size: usize,
    /// Batches published and not yet confirmed at once: the relay fetches and sends the
    /// next batch while the transport confirms the previous ones, and marks them sent in
    /// order. 1 turns the overlap off.
    pub batches_in_flight: usize,
    /// Longest wait between polls when no wake-up comes.
    pub poll_interval: Duration,
    /// After a wake-up from an idle wait, how long to let more commits gather before
    /// reading, so that a busy outbox goes out in batches rather than one row at a time
    /// (Kafka's `linger.ms`). Adds at most this much latency.
    pub linger: Duration,
    /// Lease time to live: a dead relay's partitions move within this plus a third of it.
    pub lease_ttl: Duration,
    /// A publish not confirmed within this time counts as failed (and is retried: the
    /// transport may still have taken it, which costs a duplicate, never a loss).
    pub publish_timeout: Duration,
    /// Backoff of a partition whose publish failed.
    pub backoff: Backoff,
    /// How often sent rows and ledger records past retention are purged (in bounded
    /// batches).
    pub purge_interval: Duration,
    /// How often the relay holding partition 0 checks whether the outbox needs a vacuum
    /// (see [`OutboxStore::vacuum_if_bloated`]).
    pub vacuum_interval: Duration,
    /// Dead row versions past which the outbox is vacuumed (when they also outnumber the
    /// live rows); 0 turns the relay's vacuum off, for installations whose autovacuum is
    /// tuned for the outbox.
    pub vacuum_dead_rows: i64,
    /// Fault injection for crash tests: a pause between the transport's confirmation and
    /// marking the rows sent, so that a killed relay leaves published-but-unmarked rows
    /// behind. Zero (the default) in production.
    pub pause_before_mark: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            relay_id: format!("relay-{}", uuid::Uuid::now_v7().simple()),
            partitions: 16,
            batch_size: 1024,
            batches_in_flight: 4,
            poll_interval: Duration::from_millis(500),
            linger: Duration::from_millis(1),
            lease_ttl: Duration::from_secs(3),
            publish_timeout: Duration::from_secs(10),
            // At most 2 s between attempts, so a returning broker is used again promptly.
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(2)),
            purge_interval: Duration::from_secs(1),
            vacuum_interval: Duration::from_secs(2),
            vacuum_dead_rows: 10_000,
            pause_before_mark: Duration::ZERO,
        }
    }
}

/// What went wrong in a way the relay cannot ride out.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Setting up leases or the listener failed.
    #[error(transparent)]
    Db(#[from] herald_db::DbError),
}

/// Counters of a running relay.
#[derive(Debug)]
pub struct RelayStats {
    /// Rows confirmed by the transport and marked sent.
    pub published: AtomicU64,
    /// Failed publishes (each stops its partition for a backoff).
    pub publish_failures: AtomicU64,
    /// Batches published.
    pub batches: AtomicU64,
    /// Partitions currently held.
    pub partitions_held: AtomicU64,
    /// From each published row's commit (its `created_at`, the database's clock) until
    /// the transport confirmed it and the row was marked, in microseconds.
    pub commit_to_confirm_us: std::sync::Mutex<hdrhistogram::Histogram<u64>>,
}

impl Default for RelayStats {
    fn default() -> Self {
        RelayStats {
            published: AtomicU64::default(),
            publish_failures: AtomicU64::default(),
            batches: AtomicU64::default(),
            partitions_held: AtomicU64::default(),
            commit_to_confirm_us: std::sync::Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("valid histogram bounds"),
            ),
        }
    }
}

impl RelayStats {
    /// A copy of the commit→confirm histogram (microseconds).
    pub fn commit_to_confirm(&self) -> Option<hdrhistogram::Histogram<u64>> {
        self.commit_to_confirm_us.lock().ok().map(|histogram| histogram.clone())
    }

    fn record_confirmed(&self, created_at_us: &[i64]) {
        let now_us = now_us();
        let mut seconds = Vec::with_capacity(created_at_us.len());
        if let Ok(mut histogram) = self.commit_to_confirm_us.lock() {
            for created in created_at_us {
                let latency = u64::try_from(now_us - created).unwrap_or(0).max(1);
                histogram.saturating_record(latency);
                seconds.push(latency as f64 / 1e6);
            }
        }
        for value in seconds {
            metrics::histogram!("herald_relay_commit_to_confirm_seconds").record(value);
        }
    }
}

/// Microseconds since the Unix epoch.
fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A relay process's loop.
pub struct Relay {
    store: OutboxStore,
    publisher: Arc<dyn Publisher>,
    config: RelayConfig,
    stats: Arc<RelayStats>,
}

/// A partition whose publish failed, waiting for its retry.
#[derive(Debug, Clone, Copy)]
struct Blocked {
    /// The number of the last batch sent when the failure was settled: batches up to it
    /// went out before the failure and must not have this partition's rows marked.
    last_sent: u64,
    until: Instant,
    attempts: u32,
}

/// A batch handed to the transport, awaiting its confirms.
struct InFlight {
    /// Batches are numbered in the order they were sent, from 1.
    number: u64,
    positions: Vec<RowPosition>,
    confirms: PendingConfirms,
    sent_at: Instant,
}

/// What a background vacuum did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VacuumOutcome {
    /// The outbox was lean.
    NotNeeded,
    /// It removed at least half the dead rows.
    Cleared,
    /// It removed less than half (an open transaction still sees them, or the role does
    /// not own the table).
    Futile,
    /// It failed.
    Failed,
}

/// What a fetch found to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Nothing unsent past what is in flight.
    Nothing,
    /// Fewer rows than a full batch: the outbox is drained for now.
    Some,
    /// A full batch: more are probably waiting.
    Full,
}

impl Relay {
    /// A relay from the outbox in `store` to `publisher`.
    pub fn new(store: OutboxStore, publisher: Arc<dyn Publisher>, config: RelayConfig) -> Relay {
        Relay { store, publisher, config, stats: Arc::default() }
    }

    /// The relay's counters, to read while it runs.
    pub fn stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.stats)
    }

    /// Runs until `shutdown` completes (finishing the batch in flight), then releases its
    /// leases so that other relays take over at once. Database outages are ridden out (logged, retried); only a failure to
    /// start returns an error.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), RelayError> {
        let db = self.store.database().clone();
        let mut leases = Leases::new(
            db.clone(),
            LeaseConfig {
                scope: "relay".into(),
                owner: self.config.relay_id.clone(),
                partitions: self.config.partitions,
                ttl: self.config.lease_ttl,
            },
        )
        .await?;
        let mut listener = Listener::new(&db, Topic::Outbox).await?;
        let mut state = LoopState::default();
        tokio::pin!(shutdown);
        tracing::info!(relay_id = %self.config.relay_id, "Relay started.");
        loop {
            // Batches in flight are finished, never cut between publish and mark: checking
            // for shutdown happens only between steps and while idle.
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = std::future::ready(()) => {}
            }
            let idle = self.step(&mut leases, &mut state).await;
            if let Some(until) = idle {
                let woken = tokio::select! {
                    () = &mut shutdown => break,
                    woken = listener.wait(until.saturating_duration_since(Instant::now())) => woken,
                };
                if woken && !self.config.linger.is_zero() {
                    tokio::time::sleep(self.config.linger).await;
                }
            }
        }
        while let Some(batch) = state.in_flight.pop_front() {
            self.settle(batch, &mut state).await;
        }
        state.finish_vacuum().await;
        if let Err(error) = leases.release_all().await {
            tracing::warn!(%error, "Releasing leases failed; they expire on their own.");
        }
        tracing::info!(relay_id = %self.config.relay_id, "Relay stopped.");
        Ok(())
    }

    /// One round: leases, upkeep, then either a new batch sent or the oldest batch in
    /// flight settled. Returns `Some(deadline)` when there was nothing to do, telling the
    /// caller how long it may wait for a wake-up.
    async fn step(&self, leases: &mut Leases, state: &mut LoopState) -> Option<Instant> {
        if leases.tick_due() {
            match leases.tick().await {
                Ok(owned) => {
                    self.stats.partitions_held.store(owned.len() as u64, Ordering::Relaxed)
                }
                Err(error) => tracing::warn!(%error, "Lease renewal failed."),
            }
        }
        self.purge_if_due(state).await;
        if leases.owned().contains(&0) {
            state.collect_vacuum().await;
            if !state.vacuum_off {
                self.vacuum_if_due(state);
            }
        }
        let now = Instant::now();
        if self.may_send(state) {
            let ready = state.ready(&leases.owned(), now);
            let sent =
                if ready.is_empty() { Sent::Nothing } else { self.send_batch(&ready, state).await };
            if sent == Sent::Full && state.in_flight.len() < self.config.batches_in_flight {
                return None;
            }
            if sent == Sent::Nothing && state.in_flight.is_empty() {
                return Some(self.idle_until(leases, state, now));
            }
        }
        if let Some(batch) = state.in_flight.pop_front() {
            self.settle(batch, state).await;
        }
        None
    }

    /// Whether a new batch may go out now: there is room in flight.
    fn may_send(&self, state: &LoopState) -> bool {
        // Rows in flight stay bounded even when many partitions make batches bigger than
        // `batch_size` (at least 16 rows each): with the defaults, under the 5,000
        // unacknowledged publishes async-nats allows before it makes publishes wait.
        let rows: usize = state.in_flight.iter().map(|batch| batch.positions.len()).sum();
        state.in_flight.len() < self.config.batches_in_flight.max(1)
            && rows < self.config.batch_size.saturating_mul(self.config.batches_in_flight)
    }

    /// How long the relay may wait for a wake-up.
    fn idle_until(&self, leases: &Leases, state: &LoopState, now: Instant) -> Instant {
        let mut wake = now + self.config.poll_interval;
        wake = wake.min(leases.next_tick());
        if let Some(retry) = state.blocked.values().map(|b| b.until).filter(|u| *u > now).min() {
            wake = wake.min(retry);
        }
        wake
    }

    /// Reads the oldest unsent rows of `partitions` that are not in flight and hands
    /// them to the transport.
    async fn send_batch(&self, partitions: &[u32], state: &mut LoopState) -> Sent {
        let per_partition = (self.config.batch_size / partitions.len().max(1)).max(16);
        let in_flight = state.ids_in_flight();
        let fetched = self.store.fetch_unsent_except(partitions, &in_flight, per_partition);
        let rows = match fetched.await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "Reading the outbox failed.");
                return Sent::Nothing;
            }
        };
        if rows.is_empty() {
            return Sent::Nothing;
        }
        let full = rows.len() >= per_partition * partitions.len();
        let (positions, messages): (Vec<RowPosition>, Vec<Message>) =
            rows.into_iter().map(split_row).unzip();
        let sent_at = Instant::now();
        let handing_over = self.publisher.send(&messages);
        let confirms = match tokio::time::timeout(self.config.publish_timeout, handing_over).await {
            Ok(confirms) => confirms,
            Err(_) => {
                let timed_out = Err(TransportError::NotConfirmed("publish timed out".into()));
                Box::pin(std::future::ready(vec![timed_out; messages.len()]))
            }
        };
        state.batches_sent += 1;
        let number = state.batches_sent;
        state.in_flight.push_back(InFlight { number, positions, confirms, sent_at });
        if full { Sent::Full } else { Sent::Some }
    }

    /// Awaits a batch's confirms, marks the confirmed rows sent, and pauses the
    /// partitions that failed.
    async fn settle(&self, batch: InFlight, state: &mut LoopState) {
        let InFlight { number, positions, confirms, sent_at } = batch;
        let results = match tokio::time::timeout(self.config.publish_timeout, confirms).await {
            Ok(results) => results.into_iter().map(|r| r.map_err(|e| e.to_string())).collect(),
            Err(_) => vec![Err("publish timed out".to_owned()); positions.len()],
        };
        metrics::histogram!("herald_relay_publish_seconds").record(sent_at.elapsed().as_secs_f64());
        // A partition that failed in an earlier batch after this one went out must not
        // have its later rows marked: they go out again after the failed one.
        let failed_earlier: BTreeSet<u32> = state
            .blocked
            .iter()
            .filter(|(_, blocked)| blocked.last_sent >= number)
            .map(|(partition, _)| *partition)
            .collect();
        let (confirmed, failed) = split_confirmed(&positions, &results, &failed_earlier);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        // Paused before marking, whatever marking does: a batch in flight must never have
        // rows marked past a failed row of its partition.
        for (partition, (row_id, error)) in &failed {
            self.block(*partition, *row_id, error, state).await;
        }
        if !self.config.pause_before_mark.is_zero() {
            tokio::time::sleep(self.config.pause_before_mark).await;
        }
        if let Err(error) = self.store.mark_sent(&confirmed).await {
            // Published but not marked: they go out again, and consumers' inboxes drop them.
            tracing::warn!(%error, rows = confirmed.len(), "Marking rows sent failed.");
            return;
        }
        self.stats.published.fetch_add(confirmed.len() as u64, Ordering::Relaxed);
        metrics::counter!("herald_relay_published_total").increment(confirmed.len() as u64);
        let confirmed_ids: BTreeSet<i64> = confirmed.iter().copied().collect();
        let created: Vec<i64> = positions
            .iter()
            .filter(|row| confirmed_ids.contains(&row.id))
            .map(|row| row.created_at_us)
            .collect();
        self.stats.record_confirmed(&created);
        let recovered: BTreeSet<u32> = positions
            .iter()
            .filter(|row| !failed.contains_key(&row.partition))
            .filter(|row| !failed_earlier.contains(&row.partition))
            .map(|row| row.partition)
            .collect();
        for partition in recovered {
            state.blocked.remove(&partition);
        }
    }

    async fn block(&self, partition: u32, row_id: i64, error: &str, state: &mut LoopState) {
        self.stats.publish_failures.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("herald_relay_publish_failures_total").increment(1);
        let attempts = state.blocked.get(&partition).map_or(0, |b| b.attempts) + 1;
        let delay = self.config.backoff.delay(attempts, rand::random::<f64>());
        tracing::warn!(
            partition,
            row_id,
            attempts,
            ?delay,
            error,
            "Publish failed; partition paused."
        );
        let (until, last_sent) = (Instant::now() + delay, state.batches_sent);
        state.blocked.insert(partition, Blocked { last_sent, until, attempts });
        if let Err(error) = self.store.record_failure(row_id, error).await {
            tracing::warn!(%error, "Recording the failure failed.");
        }
    }

    /// Starts a vacuum of a bloated outbox in the background (the relay goes on
    /// publishing meanwhile). A vacuum that could not remove most dead rows (an open
    /// transaction still sees them, or the role does not own the table) doubles the wait
    /// before the next one, up to 256 times the interval; a failed one turns the relay's
    /// vacuum off with a warning.
    fn vacuum_if_due(&self, state: &mut LoopState) {
        let now = Instant::now();
        if self.config.vacuum_dead_rows <= 0 || state.next_vacuum.is_some_and(|next| now < next) {
            return;
        }
        if state.vacuum.as_ref().is_some_and(|running| !running.is_finished()) {
            return;
        }
        let wait = self.config.vacuum_interval * 2_u32.pow(state.futile_vacuums.min(8));
        state.next_vacuum = Some(now + wait);
        let (store, dead_rows) = (self.store.clone(), self.config.vacuum_dead_rows);
        state.vacuum = Some(tokio::spawn(async move {
            let started = Instant::now();
            match store.vacuum_if_bloated(dead_rows).await {
                Ok(None) => VacuumOutcome::NotNeeded,
                Ok(Some(Vacuumed { dead_before, dead_after })) => {
                    tracing::debug!(elapsed = ?started.elapsed(), dead_before, dead_after, "Vacuumed the outbox.");
                    metrics::counter!("herald_relay_outbox_vacuums_total").increment(1);
                    if dead_after > dead_before / 2 {
                        VacuumOutcome::Futile
                    } else {
                        VacuumOutcome::Cleared
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "Vacuuming the outbox failed; leaving it to autovacuum.");
                    VacuumOutcome::Failed
                }
            }
        }));
    }

    async fn purge_if_due(&self, state: &mut LoopState) {
        let now = Instant::now();
        if state.next_purge.is_some_and(|next| now < next) {
            return;
        }
        state.next_purge = Some(now + self.config.purge_interval);
        match self.store.purge_sent(10_000).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "Purged sent rows past retention."),
            Err(error) => tracing::warn!(%error, "Purging sent rows failed."),
        }
        match self.store.purge_ledger(10_000).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "Purged ledger records past retention."),
            Err(error) => tracing::warn!(%error, "Purging the ledger failed."),
        }
        match self.publisher.housekeeping().await {
            Ok(0) => {}
            Ok(trimmed) => tracing::debug!(trimmed, "Transport housekeeping removed entries."),
            Err(error) => tracing::warn!(%error, "Transport housekeeping failed."),
        }
    }
}

#[derive(Default)]
struct LoopState {
    blocked: BTreeMap<u32, Blocked>,
    /// Batches sent and not yet settled, oldest first.
    in_flight: VecDeque<InFlight>,
    /// Batches sent so far (the number of the last one).
    batches_sent: u64,
    next_purge: Option<Instant>,
    next_vacuum: Option<Instant>,
    /// The vacuum running in the background.
    vacuum: Option<tokio::task::JoinHandle<VacuumOutcome>>,
    /// Vacuums in a row that removed less than half the dead rows.
    futile_vacuums: u32,
    /// Set after a vacuum failed: the relay leaves the outbox to autovacuum.
    vacuum_off: bool,
}

impl LoopState {
    /// The partitions among `owned` that may be read now: not paused after a failure,
    /// and, after one, not before its batches in flight have settled (so that the
    /// failed row goes out again before the rows after it).
    fn ready(&self, owned: &BTreeSet<u32>, now: Instant) -> Vec<u32> {
        owned
            .iter()
            .copied()
            .filter(|partition| match self.blocked.get(partition) {
                None => true,
                Some(blocked) => blocked.until <= now && !self.has_in_flight(*partition),
            })
            .collect()
    }

    /// The ids of every row in flight.
    fn ids_in_flight(&self) -> Vec<i64> {
        self.in_flight.iter().flat_map(|batch| batch.positions.iter().map(|row| row.id)).collect()
    }

    /// Whether rows of `partition` are in flight.
    fn has_in_flight(&self, partition: u32) -> bool {
        self.in_flight
            .iter()
            .flat_map(|batch| batch.positions.iter())
            .any(|row| row.partition == partition)
    }

    /// Takes the result of a finished background vacuum into account.
    async fn collect_vacuum(&mut self) {
        let outcome = match self.vacuum.take() {
            Some(done) if done.is_finished() => done.await.unwrap_or(VacuumOutcome::Failed),
            running => {
                self.vacuum = running;
                return;
            }
        };
        match outcome {
            VacuumOutcome::NotNeeded | VacuumOutcome::Cleared => self.futile_vacuums = 0,
            VacuumOutcome::Futile => self.futile_vacuums += 1,
            VacuumOutcome::Failed => self.vacuum_off = true,
        }
    }

    /// Waits (up to 10 s) for a background vacuum to finish, so that none outlives the
    /// relay.
    async fn finish_vacuum(&mut self) {
        if let Some(running) = self.vacuum.take()
            && tokio::time::timeout(Duration::from_secs(10), running).await.is_err()
        {
            tracing::warn!("The outbox's vacuum is still running; the relay stops without it.");
        }
    }
}

/// Where a published row sits in the outbox.
#[derive(Debug, Clone, Copy)]
struct RowPosition {
    id: i64,
    partition: u32,
    created_at_us: i64,
}

fn split_row(row: OutboxRow) -> (RowPosition, Message) {
    let position =
        RowPosition { id: row.id, partition: row.partition, created_at_us: row.created_at_us };
    let message = Message {
        event_id: row.event_id,
        routing_key: row.routing_key,
        partition_key: row.partition_key,
        payload: row.payload,
    };
    (position, message)
}

/// Splits a batch into the ids to mark sent and, per partition, the first failure. A row
/// after its partition's first failure (in this batch, or in an earlier batch settled
/// after this one went out: `failed_earlier`) is not marked even if confirmed: it goes
/// out again after the failed one, so no event overtakes an earlier one of its partition.
fn split_confirmed(
    rows: &[RowPosition],
    results: &[Result<(), String>],
    failed_earlier: &BTreeSet<u32>,
) -> (Vec<i64>, BTreeMap<u32, (i64, String)>) {
    let mut confirmed = Vec::with_capacity(rows.len());
    let mut failed: BTreeMap<u32, (i64, String)> = BTreeMap::new();
    let mut stopped = failed_earlier.clone();
    let missing = Err("the transport returned no result for it".to_owned());
    for (index, row) in rows.iter().enumerate() {
        if stopped.contains(&row.partition) {
            continue;
        }
        match results.get(index).unwrap_or(&missing) {
            Ok(()) => confirmed.push(row.id),
            Err(error) => {
                stopped.insert(row.partition);
                failed.insert(row.partition, (row.id, error.clone()));
            }
        }
    }
    (confirmed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, partition: u32) -> RowPosition {
        RowPosition { id, partition, created_at_us: 0 }
    }

    #[test]
    fn a_failure_stops_its_partition_but_not_the_others() {
        let rows = [row(1, 0), row(2, 1), row(3, 0), row(4, 1), row(5, 0)];
        let results = [Ok(()), Ok(()), Err("nope".to_owned()), Ok(()), Ok(())];
        let (confirmed, failed) = split_confirmed(&rows, &results, &BTreeSet::new());
        assert_eq!(confirmed, vec![1, 2, 4], "row 5 must wait behind row 3");
        assert_eq!(failed.get(&0), Some(&(3, "nope".to_owned())));
        assert!(!failed.contains_key(&1));
    }

    #[test]
    fn a_row_the_transport_gave_no_result_for_counts_as_failed() {
        let rows = [row(1, 0), row(2, 1), row(3, 0)];
        let (confirmed, failed) = split_confirmed(&rows, &[Ok(())], &BTreeSet::new());
        assert_eq!(confirmed, vec![1], "rows 2 and 3 were not confirmed");
        assert_eq!(failed.get(&1).map(|(id, _)| *id), Some(2));
        assert_eq!(failed.get(&0).map(|(id, _)| *id), Some(3), "row 1 was confirmed, row 3 not");
    }

    #[test]
    fn a_partition_that_failed_in_an_earlier_batch_has_nothing_marked() {
        let rows = [row(7, 0), row(8, 1), row(9, 0)];
        let results = [Ok(()), Ok(()), Ok(())];
        let failed_earlier = BTreeSet::from([0]);
        let (confirmed, failed) = split_confirmed(&rows, &results, &failed_earlier);
        assert_eq!(confirmed, vec![8], "rows 7 and 9 go out again after the failed row");
        assert!(failed.is_empty(), "the earlier failure is already recorded");
    }

    fn in_flight(rows: Vec<RowPosition>) -> InFlight {
        InFlight {
            number: 1,
            positions: rows,
            confirms: Box::pin(std::future::ready(Vec::new())),
            sent_at: Instant::now(),
        }
    }

    #[test]
    fn reads_leave_out_every_row_in_flight() {
        let mut state = LoopState::default();
        state.in_flight.push_back(in_flight(vec![row(3, 0), row(5, 1)]));
        state.in_flight.push_back(in_flight(vec![row(9, 0)]));
        assert_eq!(state.ids_in_flight(), vec![3, 5, 9]);
        assert!(state.has_in_flight(0) && state.has_in_flight(1));
        assert!(!state.has_in_flight(2));
    }

    #[test]
    fn a_failed_partition_is_read_again_only_after_its_backoff_and_its_batches_in_flight() {
        let now = Instant::now();
        let mut state = LoopState::default();
        let paused = Blocked { last_sent: 1, until: now + Duration::from_secs(1), attempts: 1 };
        let expired = Blocked { last_sent: 1, until: now, attempts: 1 };
        state.blocked.insert(0, paused);
        state.blocked.insert(1, expired);
        state.blocked.insert(2, expired);
        state.in_flight.push_back(in_flight(vec![row(4, 1)]));
        let owned = BTreeSet::from([0, 1, 2, 3]);
        assert_eq!(state.ready(&owned, now), vec![2, 3]);
        state.in_flight.clear();
        assert_eq!(state.ready(&owned, now), vec![1, 2, 3]);
    }
}
