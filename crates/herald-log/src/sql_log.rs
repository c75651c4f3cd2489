//! The embedded transport: a partitioned log table with consumer-group offsets.
//!
//! Publishing appends to `herald_log` in one transaction (the commit is the
//! confirmation). Each log partition has a single writer at a time, the relay holding its
//! lease, and offsets are `max + 1` under the primary key `(partition, log_offset)`, so a
//! stray second writer fails instead of interleaving, and offsets become visible in order:
//! a reader that saw offset `n` has seen every offset below it. Consumer groups keep a
//! committed offset per partition and share partitions through leases.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use herald_db::lease::{LeaseConfig, Leases};
use herald_db::listen::{Listener, Topic};
use herald_db::{
    Database, SqliteDb, SqliteWriter, Statement, begin_without_flush_wait, sqlite_array,
    sqlite_pairs,
};
use herald_envelope::partition_of;
use sqlx::Row;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use herald_transport::{
    Delivery, DeliveryTag, Features, Message, Publisher, Subscriber, Subscription,
    SubscriptionSpec, TransportError,
};

use crate::LogError;
use crate::error::Result;

/// The seam's result, in the trait impls.
type SeamResult<T> = herald_transport::Result<T>;

/// Routing keys of messages for one group only start with `direct.<group>.`.
const DIRECT_PREFIX: &str = "direct.";

/// Settings of the log.
#[derive(Debug, Clone)]
pub struct SqlLogConfig {
    /// Number of log partitions (the relay's outbox partitions, so each has one writer).
    pub partitions: u32,
    /// How long a consumer waits between polls when no wake-up comes.
    pub poll_interval: Duration,
    /// Lease time to live of consumer-group members.
    pub lease_ttl: Duration,
    /// Entries every consumer group has committed are deleted once they are this old.
    /// The newest entry of each partition always stays: it carries the offset counter.
    pub retention: Duration,
}

impl Default for SqlLogConfig {
    fn default() -> Self {
        Self {
            partitions: 16,
            poll_interval: Duration::from_millis(100),
            lease_ttl: Duration::from_secs(3),
            retention: Duration::from_secs(600),
        }
    }
}

/// The log transport over one database.
#[derive(Debug, Clone)]
pub struct SqlLog {
    db: Database,
    config: SqlLogConfig,
}

impl SqlLog {
    /// A log in `db` (migrated by `herald-db`).
    pub fn new(db: Database, config: SqlLogConfig) -> SqlLog {
        SqlLog { db, config }
    }

    /// Each consumer group's lag: the entries after its committed offset, summed over
    /// the partitions (a group that has not read a partition owes all of it).
    pub async fn lag(&self) -> Result<Vec<(String, i64)>> {
        const SQL: &str = "SELECT g.consumer_group, \
                 CAST(COALESCE(SUM(h.head - COALESCE(o.committed, 0)), 0) AS BIGINT) \
             FROM (SELECT DISTINCT consumer_group FROM herald_log_offsets) AS g \
             CROSS JOIN (SELECT partition, MAX(log_offset) AS head FROM herald_log \
                         GROUP BY partition) AS h \
             LEFT JOIN herald_log_offsets AS o \
                 ON o.consumer_group = g.consumer_group AND o.partition = h.partition \
             GROUP BY g.consumer_group ORDER BY g.consumer_group";
        Ok(self.db.reader().fetch_all(Statement::new(SQL)).await?)
    }

    /// Deletes up to `max_per_partition` entries per partition that every consumer group
    /// has committed and that are older than the retention period. A partition's newest
    /// entry is kept, so offsets never restart. A partition whose oldest entry is younger
    /// than the retention period costs one index probe; otherwise the work is bounded by
    /// `max_per_partition`.
    pub async fn trim(&self, max_per_partition: i64) -> Result<u64> {
        let keep_micros = i64::try_from(self.config.retention.as_micros()).unwrap_or(i64::MAX);
        let deleted = match &self.db {
            Database::Postgres(pool) => sqlx::query(
                "WITH safe AS ( \
                     SELECT o.partition, LEAST(min(o.committed), \
                            (SELECT max(m.log_offset) - 1 FROM herald_log AS m WHERE m.partition = o.partition), \
                            (SELECT min(m.log_offset) FROM herald_log AS m WHERE m.partition = o.partition) + $2 - 1) AS upto \
                     FROM herald_log_offsets AS o GROUP BY o.partition \
                     HAVING (SELECT m.published_at FROM herald_log AS m WHERE m.partition = o.partition \
                             ORDER BY m.log_offset LIMIT 1) \
                            < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - $1) \
                 DELETE FROM herald_log AS l USING safe \
                 WHERE l.partition = safe.partition AND l.log_offset <= safe.upto \
                   AND l.published_at < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint - $1",
            )
            .bind(keep_micros)
            .bind(max_per_partition)
            .execute(pool)
            .await?
            .rows_affected(),
            Database::Sqlite(sqlite) => trim_sqlite(sqlite, keep_micros, max_per_partition).await?,
        };
        Ok(deleted)
    }

    /// Appends a batch atomically: one statement on PostgreSQL, one transaction on SQLite.
    async fn append(&self, messages: &[Message]) -> Result<()> {
        let partitions: Vec<i32> = messages
            .iter()
            .map(|m| partition_of(&m.partition_key, self.config.partitions) as i32)
            .collect();
        match &self.db {
            Database::Postgres(pool) => append_postgres(pool, &partitions, messages).await,
            Database::Sqlite(sqlite) => {
                match &sqlite.engine {
                    Some(engine) => append_engine(engine, partitions, messages).await?,
                    None => append_sqlite(sqlite, &partitions, messages).await?,
                }
                sqlite.wakeup.log_appended();
                Ok(())
            }
        }
    }
}

async fn append_postgres(
    pool: &sqlx::PgPool,
    partitions: &[i32],
    messages: &[Message],
) -> Result<()> {
    let ids: Vec<uuid::Uuid> = messages.iter().map(|m| m.event_id).collect();
    let keys: Vec<&str> = messages.iter().map(|m| m.routing_key.as_str()).collect();
    let partition_keys: Vec<&str> = messages.iter().map(|m| m.partition_key.as_str()).collect();
    let payloads: Vec<&[u8]> = messages.iter().map(|m| m.payload.as_slice()).collect();
    sqlx::query(
        "WITH m AS ( \
             SELECT * FROM unnest($1::int[], $2::uuid[], $3::text[], $4::text[], $5::bytea[]) \
                 WITH ORDINALITY AS m(partition, event_id, routing_key, partition_key, payload, n)), \
         base AS ( \
             SELECT p.partition, COALESCE( \
                 (SELECT max(l.log_offset) FROM herald_log AS l WHERE l.partition = p.partition), 0) AS last \
             FROM (SELECT DISTINCT partition FROM m) AS p) \
         INSERT INTO herald_log (partition, log_offset, event_id, routing_key, partition_key, payload) \
         SELECT m.partition, base.last + row_number() OVER (PARTITION BY m.partition ORDER BY m.n), \
                m.event_id, m.routing_key, m.partition_key, m.payload \
         FROM m JOIN base ON base.partition = m.partition",
    )
    .bind(partitions)
    .bind(&ids)
    .bind(&keys)
    .bind(&partition_keys)
    .bind(&payloads)
    .execute(pool)
    .await?;
    Ok(())
}

/// Trims SQLite's log: finds each partition's last deletable offset (one index probe per
/// partition), then deletes each partition's range through the primary key, on the writer
/// thread when there is one. (One `DELETE … WHERE log_offset <= (SELECT … per row)`
/// scanned the whole table: 1–2 s at a few million entries, holding the write lock.)
async fn trim_sqlite(sqlite: &SqliteDb, keep_micros: i64, max_per_partition: i64) -> Result<u64> {
    let bounds: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT o.partition, min(min(o.committed), \
                (SELECT max(m.log_offset) - 1 FROM herald_log AS m WHERE m.partition = o.partition), \
                (SELECT min(m.log_offset) FROM herald_log AS m WHERE m.partition = o.partition) + ?2 - 1) \
         FROM herald_log_offsets AS o GROUP BY o.partition \
         HAVING (SELECT m.published_at FROM herald_log AS m WHERE m.partition = o.partition \
                 ORDER BY m.log_offset LIMIT 1) \
                < CAST(unixepoch('subsec') * 1000000 AS INTEGER) - ?1",
    )
    .bind(keep_micros)
    .bind(max_per_partition)
    .fetch_all(&sqlite.reader)
    .await?;
    if bounds.is_empty() {
        return Ok(0);
    }
    const DELETE: &str = "DELETE FROM herald_log WHERE partition = ?1 AND log_offset <= ?2 \
         AND published_at < CAST(unixepoch('subsec') * 1000000 AS INTEGER) - ?3";
    match &sqlite.engine {
        Some(engine) => {
            engine
                .transaction(move |tx| {
                    let mut delete = tx.prepare_cached(DELETE)?;
                    let mut deleted = 0;
                    for (partition, upto) in &bounds {
                        deleted += delete.execute((partition, upto, keep_micros))? as u64;
                    }
                    Ok::<_, LogError>(deleted)
                })
                .await
        }
        None => {
            let mut tx = sqlite.begin_write().await?;
            let mut deleted = 0;
            for (partition, upto) in &bounds {
                deleted += sqlx::query(DELETE)
                    .bind(partition)
                    .bind(upto)
                    .bind(keep_micros)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            Ok(deleted)
        }
    }
}

/// Appends on the SQLite writer thread, with cached statements: one job, so one
/// transaction (possibly shared with other jobs' writes).
async fn append_engine(
    engine: &SqliteWriter,
    partitions: Vec<i32>,
    messages: &[Message],
) -> Result<()> {
    let messages = messages.to_vec();
    engine
        .transaction(move |tx| {
            let mut last_offset = tx.prepare_cached(
                "SELECT COALESCE(max(log_offset), 0) FROM herald_log WHERE partition = ?1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO herald_log \
                 (partition, log_offset, event_id, routing_key, partition_key, payload) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut next: HashMap<i32, i64> = HashMap::new();
            for (partition, message) in partitions.iter().zip(&messages) {
                let offset = match next.get_mut(partition) {
                    Some(offset) => offset,
                    None => {
                        let last: i64 = last_offset.query_row([partition], |row| row.get(0))?;
                        next.entry(*partition).or_insert(last)
                    }
                };
                *offset += 1;
                insert.execute((
                    partition,
                    *offset,
                    message.event_id.as_bytes().as_slice(),
                    &message.routing_key,
                    &message.partition_key,
                    &message.payload,
                ))?;
            }
            Ok::<_, LogError>(())
        })
        .await
}

async fn append_sqlite(sqlite: &SqliteDb, partitions: &[i32], messages: &[Message]) -> Result<()> {
    let distinct: BTreeSet<i32> = partitions.iter().copied().collect();
    let distinct: Vec<i32> = distinct.into_iter().collect();
    let mut tx = sqlite.begin_write().await?;
    let mut last: BTreeMap<i32, i64> = sqlx::query_as(
        "SELECT value, COALESCE((SELECT max(log_offset) FROM herald_log WHERE partition = value), 0) \
         FROM json_each(?1)",
    )
    .bind(sqlite_array(&distinct))
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let rows: Vec<(i32, i64, &Message)> = partitions
        .iter()
        .zip(messages)
        .map(|(partition, message)| {
            let offset = last.entry(*partition).or_insert(0);
            *offset += 1;
            (*partition, *offset, message)
        })
        .collect();
    // Six parameters a row; SQLite allows 32766 a statement.
    for chunk in rows.chunks(5000) {
        let mut builder = sqlx::QueryBuilder::new(
            "INSERT INTO herald_log (partition, log_offset, event_id, routing_key, partition_key, payload) ",
        );
        builder.push_values(chunk, |mut row, (partition, offset, message)| {
            row.push_bind(*partition)
                .push_bind(*offset)
                .push_bind(message.event_id)
                .push_bind(&message.routing_key)
                .push_bind(&message.partition_key)
                .push_bind(&message.payload);
        });
        builder.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl Publisher for SqlLog {
    async fn publish(&self, messages: &[Message]) -> Vec<SeamResult<()>> {
        match self.append(messages).await {
            Ok(()) => messages.iter().map(|_| Ok(())).collect(),
            Err(error) => {
                let error = TransportError::from(error);
                messages.iter().map(|_| Err(error.clone())).collect()
            }
        }
    }

    async fn housekeeping(&self) -> SeamResult<u64> {
        Ok(self.trim(10_000).await?)
    }

    async fn publish_to_group(&self, group: &str, messages: &[Message]) -> Vec<SeamResult<()>> {
        if let Err(error) = herald_transport::check_name("group", group) {
            return messages.iter().map(|_| Err(error.clone())).collect();
        }
        let direct: Vec<Message> = messages
            .iter()
            .map(|m| Message {
                routing_key: format!("{DIRECT_PREFIX}{group}.{}", m.routing_key),
                ..m.clone()
            })
            .collect();
        self.publish(&direct).await
    }
}

#[async_trait]
impl Subscriber for SqlLog {
    fn features(&self) -> Features {
        Features {
            name: "embedded log",
            retry_keeps_order: true,
            durable_retry_delay: false,
            members_keep_key_order: true,
        }
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> SeamResult<Box<dyn Subscription>> {
        spec.validate()?;
        let leases = Leases::new(
            self.db.clone(),
            LeaseConfig {
                scope: format!("group:{}", spec.group),
                owner: spec.member.clone(),
                partitions: self.config.partitions,
                ttl: self.config.lease_ttl,
            },
        )
        .await
        .map_err(LogError::from)?;
        let listener = Listener::new(&self.db, Topic::Log).await.map_err(LogError::from)?;
        Ok(Box::new(LogSubscription {
            db: self.db.clone(),
            spec,
            config: self.config.clone(),
            leases,
            listener,
            positions: BTreeMap::new(),
            uncommitted: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            paused: BTreeMap::new(),
            retries: HashMap::new(),
        }))
    }
}

/// One member of a consumer group reading the log.
struct LogSubscription {
    db: Database,
    spec: SubscriptionSpec,
    config: SqlLogConfig,
    leases: Leases,
    listener: Listener,
    /// Per owned partition: the last offset handed out (or skipped).
    positions: BTreeMap<u32, i64>,
    /// Per partition: the highest offset acknowledged or skipped but not yet committed.
    uncommitted: BTreeMap<u32, i64>,
    /// Per partition: the last wanted delivery handed out and not yet acknowledged.
    outstanding: BTreeMap<u32, i64>,
    /// Partitions waiting for a delayed retry, until when.
    paused: BTreeMap<u32, Instant>,
    /// Entries retried so far: their attempt and first failure (kept in memory only).
    retries: HashMap<DeliveryTag, (u32, DateTime<Utc>)>,
}

impl LogSubscription {
    /// Whether this group wants an entry: its patterns, or a message sent to it alone.
    fn wants(&self, routing_key: &str) -> bool {
        match routing_key.strip_prefix(DIRECT_PREFIX) {
            Some(rest) => rest
                .strip_prefix(self.spec.group.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            None => self.spec.wants(routing_key),
        }
    }

    /// Restores the original routing key of a direct message and the retry count.
    fn prepare(&self, mut delivery: Delivery) -> Delivery {
        let direct = format!("{DIRECT_PREFIX}{}.", self.spec.group);
        if let Some(original) = delivery.message.routing_key.strip_prefix(direct.as_str()) {
            delivery.message.routing_key = original.to_owned();
        }
        if let Some((attempt, first_failed_at)) = self.retries.get(&delivery.tag) {
            delivery.attempt = *attempt;
            delivery.first_failed_at = Some(*first_failed_at);
        }
        delivery
    }
}

impl LogSubscription {
    /// Renews leases when due and aligns positions with the partitions held.
    async fn refresh_partitions(&mut self) -> Result<()> {
        if self.leases.tick_due()
            && let Err(error) = self.leases.tick().await
        {
            tracing::warn!(%error, group = %self.spec.group, "Lease renewal failed.");
        }
        let owned = self.leases.owned();
        self.positions.retain(|partition, _| owned.contains(partition));
        self.uncommitted.retain(|partition, _| owned.contains(partition));
        self.outstanding.retain(|partition, _| owned.contains(partition));
        let missing: Vec<u32> =
            owned.iter().copied().filter(|p| !self.positions.contains_key(p)).collect();
        if !missing.is_empty() {
            let committed = self.load_committed(&missing).await?;
            for partition in missing {
                self.positions.insert(partition, committed.get(&partition).copied().unwrap_or(0));
            }
        }
        Ok(())
    }

    async fn load_committed(&self, partitions: &[u32]) -> Result<BTreeMap<u32, i64>> {
        let group = &self.spec.group;
        const SQL: &str =
            "SELECT partition, committed FROM herald_log_offsets WHERE consumer_group = $1";
        let rows: Vec<(i32, i64)> =
            self.db.reader().fetch_all(Statement::new(SQL).bind(group)).await?;
        let wanted: BTreeSet<u32> = partitions.iter().copied().collect();
        Ok(rows
            .into_iter()
            .filter_map(|(partition, committed)| {
                let partition = u32::try_from(partition).ok()?;
                wanted.contains(&partition).then_some((partition, committed))
            })
            .collect())
    }

    /// Reads up to `limit` entries past each position, in one query. Offsets within a
    /// partition have no gaps, so the range `(after, after + limit]` bounds the work.
    async fn read(&self, positions: &[(u32, i64)], limit: i64) -> Result<Vec<Delivery>> {
        let partitions: Vec<i32> = positions.iter().map(|(p, _)| *p as i32).collect();
        let afters: Vec<i64> = positions.iter().map(|(_, after)| *after).collect();
        let deliveries = match &self.db {
            Database::Postgres(pool) => sqlx::query(
                "SELECT l.partition, l.log_offset, l.event_id, l.routing_key, l.partition_key, l.payload \
                 FROM unnest($1::int[], $2::bigint[]) AS p(partition, after) \
                 CROSS JOIN LATERAL ( \
                     SELECT * FROM herald_log AS h \
                     WHERE h.partition = p.partition AND h.log_offset > p.after \
                     ORDER BY h.log_offset LIMIT $3) AS l \
                 ORDER BY l.partition, l.log_offset",
            )
            .bind(&partitions)
            .bind(&afters)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?,
            Database::Sqlite(sqlite) => sqlx::query(
                "SELECT l.partition, l.log_offset, l.event_id, l.routing_key, l.partition_key, l.payload \
                 FROM json_each(?1) AS p CROSS JOIN \
                 herald_log AS l ON l.partition = json_extract(p.value, '$[0]') \
                     AND l.log_offset > json_extract(p.value, '$[1]') \
                     AND l.log_offset <= json_extract(p.value, '$[1]') + ?2 \
                 ORDER BY l.partition, l.log_offset",
            )
            .bind(sqlite_pairs(positions))
            .bind(limit)
            .fetch_all(&sqlite.reader)
            .await?
            .iter()
            .map(delivery_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?,
        };
        Ok(deliveries)
    }

    /// Reads what the owned partitions hold past their positions, keeping the wanted
    /// deliveries; unwanted ones are done as soon as nothing wanted is outstanding before them.
    async fn read_owned(&mut self, max: usize) -> Result<Vec<Delivery>> {
        let now = Instant::now();
        self.paused.retain(|_, until| *until > now);
        let partitions: Vec<(u32, i64)> = self
            .positions
            .iter()
            .filter(|(p, _)| !self.paused.contains_key(p))
            .map(|(p, o)| (*p, *o))
            .collect();
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let per_partition = (max / partitions.len()).max(16) as i64;
        let mut read_by_partition: BTreeMap<u32, Vec<Delivery>> = BTreeMap::new();
        for delivery in self.read(&partitions, per_partition).await? {
            read_by_partition.entry(delivery.tag.partition).or_default().push(delivery);
        }
        let mut wanted = Vec::new();
        for (partition, read) in read_by_partition {
            let Some(last) = read.last().map(|d| d.tag.offset) else {
                continue;
            };
            self.positions.insert(partition, last);
            let before = wanted.len();
            wanted.extend(
                read.into_iter()
                    .filter(|d| self.wants(&d.message.routing_key))
                    .map(|d| self.prepare(d)),
            );
            match wanted[before..].last() {
                Some(last_wanted) => {
                    self.outstanding.insert(partition, last_wanted.tag.offset);
                }
                None if !self.outstanding.contains_key(&partition) => {
                    self.uncommitted.insert(partition, last);
                }
                None => {}
            }
        }
        Ok(wanted)
    }

    async fn commit(&mut self) -> Result<()> {
        if self.uncommitted.is_empty() {
            return Ok(());
        }
        let group = &self.spec.group;
        match &self.db {
            Database::Postgres(pool) => {
                let partitions: Vec<i32> = self.uncommitted.keys().map(|p| *p as i32).collect();
                let offsets: Vec<i64> = self.uncommitted.values().copied().collect();
                // Losing this in a database crash only means redelivery, which the inbox absorbs.
                let mut tx = begin_without_flush_wait(pool).await?;
                sqlx::query(
                    "INSERT INTO herald_log_offsets (consumer_group, partition, committed) \
                     SELECT $1, p, o FROM unnest($2::int[], $3::bigint[]) AS u(p, o) \
                     ON CONFLICT (consumer_group, partition) \
                     DO UPDATE SET committed = GREATEST(herald_log_offsets.committed, EXCLUDED.committed)",
                )
                .bind(group)
                .bind(&partitions)
                .bind(&offsets)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Database::Sqlite(SqliteDb { engine: Some(engine), .. }) => {
                commit_on_engine(engine, group, &self.uncommitted).await?;
            }
            Database::Sqlite(sqlite) => {
                let mut builder = sqlx::QueryBuilder::new(
                    "INSERT INTO herald_log_offsets (consumer_group, partition, committed) ",
                );
                builder.push_values(&self.uncommitted, |mut row, (partition, offset)| {
                    row.push_bind(group).push_bind(*partition as i32).push_bind(*offset);
                });
                builder.push(
                    " ON CONFLICT (consumer_group, partition) \
                     DO UPDATE SET committed = max(committed, excluded.committed)",
                );
                builder.build().execute(&sqlite.writer).await?;
            }
        }
        self.uncommitted.clear();
        Ok(())
    }
}

/// Commits a group's offsets on the SQLite writer thread (sharing a commit with other
/// writes instead of waiting for the write lock beside it).
async fn commit_on_engine(
    engine: &SqliteWriter,
    group: &str,
    offsets: &BTreeMap<u32, i64>,
) -> Result<()> {
    let group = group.to_owned();
    let offsets: Vec<(u32, i64)> = offsets.iter().map(|(p, o)| (*p, *o)).collect();
    engine
        .transaction(move |tx| {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO herald_log_offsets (consumer_group, partition, committed) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (consumer_group, partition) \
                 DO UPDATE SET committed = max(committed, excluded.committed)",
            )?;
            for (partition, offset) in &offsets {
                upsert.execute((&group, partition, offset))?;
            }
            Ok::<_, LogError>(())
        })
        .await
}

fn delivery_from_row<R>(row: &R) -> Result<Delivery, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    uuid::Uuid: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let partition = u32::try_from(row.try_get::<i32, _>(0)?).unwrap_or(0);
    Ok(Delivery::first(
        DeliveryTag { partition, offset: row.try_get(1)? },
        Message {
            event_id: row.try_get(2)?,
            routing_key: row.try_get(3)?,
            partition_key: row.try_get(4)?,
            payload: row.try_get(5)?,
        },
    ))
}

#[async_trait]
impl Subscription for LogSubscription {
    async fn receive(&mut self, max: usize, wait: Duration) -> SeamResult<Vec<Delivery>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.refresh_partitions().await?;
            let deliveries = self.read_owned(max).await?;
            if !deliveries.is_empty() {
                return Ok(deliveries);
            }
            // Unwanted entries read past still need their offsets committed.
            self.commit().await?;
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let until = deadline.min(self.leases.next_tick()).max(now);
            let nap = (until - now).min(self.config.poll_interval);
            self.listener.wait(nap).await;
        }
    }

    async fn ack(&mut self, tags: &[DeliveryTag]) -> SeamResult<()> {
        for tag in tags {
            self.retries.remove(tag);
            let Some(position) = self.positions.get(&tag.partition).copied() else {
                continue; // The partition moved to another member, which will redeliver.
            };
            let done = if self.outstanding.get(&tag.partition) == Some(&tag.offset) {
                // The last wanted one: the unwanted entries read after it are done too.
                self.outstanding.remove(&tag.partition);
                position
            } else {
                tag.offset
            };
            let entry = self.uncommitted.entry(tag.partition).or_insert(done);
            *entry = (*entry).max(done);
        }
        Ok(self.commit().await?)
    }

    async fn retry(
        &mut self,
        delivery: &Delivery,
        delay: Duration,
        _error: &str,
    ) -> SeamResult<()> {
        let tag = delivery.tag;
        let first_failed_at = delivery.first_failed_at.unwrap_or_else(Utc::now);
        self.retries.insert(tag, (delivery.attempt + 1, first_failed_at));
        if !delay.is_zero() {
            self.paused.insert(tag.partition, Instant::now() + delay);
        }
        if let Some(position) = self.positions.get_mut(&tag.partition) {
            *position = (*position).min(tag.offset - 1);
        }
        self.outstanding.remove(&tag.partition);
        if self.uncommitted.get(&tag.partition).is_some_and(|pending| *pending >= tag.offset) {
            self.uncommitted.insert(tag.partition, tag.offset - 1);
        }
        Ok(())
    }

    async fn close(&mut self) -> SeamResult<()> {
        self.commit().await?;
        self.leases.release_all().await.map_err(LogError::from)?;
        Ok(())
    }
}
