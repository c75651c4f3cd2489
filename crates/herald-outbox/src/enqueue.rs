//! The producer side: enqueue events into the caller's transaction.

use std::borrow::Cow;
use std::future::Future;

use herald_db::Wakeup;
use herald_envelope::{Envelope, Event, Limits};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::{OutboxError, Result};

/// The id of an outbox row (its commit-ordering key within a partition).
pub type OutboxId = i64;

/// Settings shared by every producer and relay of one outbox.
#[derive(Debug, Clone, Copy)]
pub struct OutboxConfig {
    /// Number of partitions; every relay and producer must agree. Default 16.
    pub partitions: u32,
    /// Size limit of an encoded event.
    pub limits: Limits,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self { partitions: 16, limits: Limits::default() }
    }
}

impl OutboxConfig {
    /// Checks the configuration, naming the setting that is wrong.
    pub fn validate(&self) -> Result<()> {
        if self.partitions == 0 || self.partitions > 4096 {
            return Err(OutboxError::Config(format!(
                "partitions must be between 1 and 4096, got {}",
                self.partitions
            )));
        }
        Ok(())
    }
}

/// The producer's handle on the outbox.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    config: OutboxConfig,
    wakeup: Option<Wakeup>,
}

/// A row ready to insert; built once, written by the backend.
#[derive(Debug)]
pub struct NewRow<'a> {
    event_id: uuid::Uuid,
    partition: i32,
    partition_key: &'a str,
    event_type: &'a str,
    kind: &'static str,
    routing_key: String,
    payload: Vec<u8>,
}

impl Outbox {
    /// An outbox with this configuration.
    pub fn new(config: OutboxConfig) -> Result<Outbox> {
        config.validate()?;
        Ok(Outbox { config, wakeup: None })
    }

    /// Wakes relays from [`Outbox::commit`]: the database's in-process signal on SQLite,
    /// or [`Wakeup::for_postgres`] on PostgreSQL.
    pub fn with_wakeup(mut self, wakeup: Wakeup) -> Outbox {
        self.wakeup = Some(wakeup);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OutboxConfig {
        &self.config
    }

    /// Validates and encodes the event, then inserts it into the outbox through the
    /// caller's transaction. It becomes visible to the relay when, and only if, that
    /// transaction commits. An invalid or oversize event is refused and nothing is written.
    ///
    /// An event without a `traceparent` gets the current span's, when that span belongs
    /// to a trace (see `herald_telemetry`): its consumers' spans then continue the trace.
    pub async fn enqueue<DB: OutboxBackend>(
        &self,
        tx: &mut Transaction<'_, DB>,
        envelope: &Envelope,
    ) -> Result<OutboxId> {
        self.insert(tx, &with_current_trace(envelope)).await
    }

    /// Like [`Outbox::enqueue`] for several envelopes, in one statement on PostgreSQL (one
    /// round trip instead of one per event). Every envelope is validated and encoded
    /// first: if one is invalid or oversize, nothing is written and the error names it.
    /// Returns the rows' ids in the envelopes' order.
    pub async fn enqueue_many<DB: OutboxBackend>(
        &self,
        tx: &mut Transaction<'_, DB>,
        envelopes: &[Envelope],
    ) -> Result<Vec<OutboxId>> {
        let traced: Vec<Cow<'_, Envelope>> = envelopes.iter().map(with_current_trace).collect();
        let rows = traced
            .iter()
            .enumerate()
            .map(|(index, envelope)| {
                self.row(envelope).map_err(|error| OutboxError::InBatch {
                    index,
                    event_id: envelope.id.to_string(),
                    source: Box::new(error),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        match rows.as_slice() {
            [] => Ok(Vec::new()),
            [row] => Ok(vec![DB::insert(tx, row).await?]),
            rows => DB::insert_many(tx, rows).await,
        }
    }

    /// Encodes the envelope as it is and inserts it.
    async fn insert<DB: OutboxBackend>(
        &self,
        tx: &mut Transaction<'_, DB>,
        envelope: &Envelope,
    ) -> Result<OutboxId> {
        let row = self.row(envelope)?;
        DB::insert(tx, &row).await
    }

    /// The row of an envelope, encoded as it is; an invalid or oversize one is refused.
    fn row<'e>(&self, envelope: &'e Envelope) -> Result<NewRow<'e>> {
        let payload = envelope.encode(&self.config.limits)?;
        let partition = envelope.partition(self.config.partitions);
        Ok(NewRow {
            event_id: *envelope.id.as_uuid(),
            partition: i32::try_from(partition).unwrap_or(i32::MAX),
            partition_key: &envelope.partition_key,
            event_type: &envelope.event_type,
            kind: envelope.kind.as_str(),
            routing_key: envelope.routing_key(),
            payload,
        })
    }

    /// Like [`Outbox::enqueue`], for a service on `rusqlite`: inserts the event through
    /// the caller's own SQLite transaction, with a cached prepared statement. Runs on the
    /// caller's thread (a [`herald_db::SqliteWriter`] job, or the service's own
    /// connection). Wake the relays after the commit with [`Outbox::committed`].
    pub fn enqueue_rusqlite(
        &self,
        tx: &herald_db::rusqlite::Transaction<'_>,
        envelope: &Envelope,
    ) -> Result<OutboxId> {
        let envelope = with_current_trace(envelope);
        let row = self.row(&envelope)?;
        let mut insert = tx.prepare_cached(
            "INSERT INTO herald_outbox \
             (event_id, partition, partition_key, event_type, kind, routing_key, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        insert.execute((
            row.event_id.as_bytes().as_slice(),
            row.partition,
            row.partition_key,
            row.event_type,
            row.kind,
            &row.routing_key,
            &row.payload,
        ))?;
        Ok(tx.last_insert_rowid())
    }

    /// Wakes the relays after a commit made without [`Outbox::commit`] (as with
    /// [`Outbox::enqueue_rusqlite`]); without it they notice at their next poll.
    pub fn committed(&self) {
        if let Some(wakeup) = &self.wakeup {
            wakeup.outbox_committed();
        }
    }

    /// Builds the envelope of a typed event and enqueues it; returns the envelope.
    pub async fn enqueue_event<DB: OutboxBackend, E: Event>(
        &self,
        tx: &mut Transaction<'_, DB>,
        source: &str,
        event: &E,
    ) -> Result<Envelope> {
        let mut envelope = Envelope::from_event(source, event)?;
        if let Some(traceparent) = untraced_in_a_trace(&envelope) {
            envelope = envelope.with_traceparent(traceparent);
        }
        self.insert(tx, &envelope).await?;
        Ok(envelope)
    }

    /// Commits the caller's transaction and wakes the relays at once. A plain
    /// `tx.commit()` is just as safe; the relay then notices at its next poll.
    pub async fn commit<DB: OutboxBackend>(&self, tx: Transaction<'_, DB>) -> Result<()> {
        tx.commit().await?;
        self.committed();
        Ok(())
    }
}

/// The envelope, with the current span's `traceparent` if it has none of its own.
fn with_current_trace(envelope: &Envelope) -> Cow<'_, Envelope> {
    match untraced_in_a_trace(envelope) {
        Some(traceparent) => Cow::Owned(envelope.clone().with_traceparent(traceparent)),
        None => Cow::Borrowed(envelope),
    }
}

/// The current span's `traceparent`, for an envelope that has none.
fn untraced_in_a_trace(envelope: &Envelope) -> Option<String> {
    match envelope.traceparent {
        Some(_) => None,
        None => herald_telemetry::current_traceparent(),
    }
}

/// Rows of one `INSERT` in [`OutboxBackend::insert_many`] on SQLite.
const SQLITE_ROWS_PER_INSERT: usize = 500;

/// A database the outbox can be written to: PostgreSQL or SQLite.
pub trait OutboxBackend: sqlx::Database {
    /// Inserts one row and returns its id.
    fn insert<'t>(
        tx: &'t mut Transaction<'_, Self>,
        row: &'t NewRow<'_>,
    ) -> impl Future<Output = Result<OutboxId>> + Send + 't;

    /// Inserts rows in their order and returns their ids, in the same order.
    fn insert_many<'t>(
        tx: &'t mut Transaction<'_, Self>,
        rows: &'t [NewRow<'_>],
    ) -> impl Future<Output = Result<Vec<OutboxId>>> + Send + 't;
}

impl OutboxBackend for Postgres {
    async fn insert(tx: &mut Transaction<'_, Self>, row: &NewRow<'_>) -> Result<OutboxId> {
        {
            let id = sqlx::query_scalar(
                "INSERT INTO herald_outbox \
                 (event_id, partition, partition_key, event_type, kind, routing_key, payload) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(row.event_id)
            .bind(row.partition)
            .bind(row.partition_key)
            .bind(row.event_type)
            .bind(row.kind)
            .bind(&row.routing_key)
            .bind(&row.payload)
            .fetch_one(&mut **tx)
            .await?;
            Ok(id)
        }
    }

    async fn insert_many(
        tx: &mut Transaction<'_, Self>,
        rows: &[NewRow<'_>],
    ) -> Result<Vec<OutboxId>> {
        // Rows go in by ordinality, so the identity hands out ascending ids in the rows'
        // order: sorted, the returned ids are the rows' ids in order.
        let mut ids: Vec<OutboxId> = sqlx::query_scalar(
            "INSERT INTO herald_outbox \
             (event_id, partition, partition_key, event_type, kind, routing_key, payload) \
             SELECT event_id, partition, partition_key, event_type, kind, routing_key, payload \
             FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], \
                         $7::bytea[]) WITH ORDINALITY \
                  AS r(event_id, partition, partition_key, event_type, kind, routing_key, payload, n) \
             ORDER BY n RETURNING id",
        )
        .bind(rows.iter().map(|row| row.event_id).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.partition).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.partition_key).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.event_type).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.kind).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.routing_key.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|row| row.payload.as_slice()).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
        ids.sort_unstable();
        Ok(ids)
    }
}

impl OutboxBackend for Sqlite {
    async fn insert(tx: &mut Transaction<'_, Self>, row: &NewRow<'_>) -> Result<OutboxId> {
        {
            let id = sqlx::query_scalar(
                "INSERT INTO herald_outbox \
                 (event_id, partition, partition_key, event_type, kind, routing_key, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            )
            .bind(row.event_id)
            .bind(row.partition)
            .bind(row.partition_key)
            .bind(row.event_type)
            .bind(row.kind)
            .bind(&row.routing_key)
            .bind(&row.payload)
            .fetch_one(&mut **tx)
            .await?;
            Ok(id)
        }
    }

    async fn insert_many(
        tx: &mut Transaction<'_, Self>,
        rows: &[NewRow<'_>],
    ) -> Result<Vec<OutboxId>> {
        // sqlx hands every statement to its worker thread: one multi-row statement per
        // chunk (7 parameters a row, well under SQLite's limit of 32,766). Rows take ids in
        // the order of `VALUES`; sorted, the returned ids are the rows' ids in order.
        let mut ids = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(SQLITE_ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO herald_outbox \
                 (event_id, partition, partition_key, event_type, kind, routing_key, payload) ",
            );
            insert.push_values(chunk, |mut values, row| {
                values
                    .push_bind(row.event_id)
                    .push_bind(row.partition)
                    .push_bind(row.partition_key)
                    .push_bind(row.event_type)
                    .push_bind(row.kind)
                    .push_bind(row.routing_key.as_str())
                    .push_bind(row.payload.as_slice());
            });
            insert.push(" RETURNING id");
            let mut chunk_ids: Vec<OutboxId> =
                insert.build_query_scalar().fetch_all(&mut **tx).await?;
            chunk_ids.sort_unstable();
            ids.extend(chunk_ids);
        }
        Ok(ids)
    }
}
