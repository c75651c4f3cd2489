//! The relay side: fetch unsent rows, mark them sent, purge old ones.

use std::time::Duration;

use herald_db::{Database, Statement, begin_without_flush_wait, sqlite_array};
use sqlx::Row;

use crate::{OutboxError, Result};

/// What happens to rows once the transport confirmed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Delete a row as soon as it is sent: the table holds only unsent rows.
    DeleteOnSend,
    /// Keep sent rows this long (for inspection), then purge them in bounded batches.
    Keep(Duration),
}

impl Default for Retention {
    fn default() -> Self {
        Retention::Keep(Duration::from_secs(3600))
    }
}

/// One unsent row as the relay sees it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The row id; commit order within a partition.
    pub id: i64,
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// The partition the row belongs to.
    pub partition: u32,
    /// The event's partition key.
    pub partition_key: String,
    /// The routing key `<kind>.<type>.v<version>`.
    pub routing_key: String,
    /// The encoded event (CloudEvents structured JSON).
    pub payload: Vec<u8>,
    /// When the row was written (the database's clock), in microseconds since the Unix
    /// epoch: the start of its commit→publish latency.
    pub created_at_us: i64,
}

/// Unsent rows and the age of the oldest, for one partition.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionStatus {
    /// The partition.
    pub partition: u32,
    /// Rows not yet confirmed by the transport.
    pub pending: i64,
    /// Age of the oldest unsent row.
    pub oldest_age: Duration,
}

/// Marks rows sent and records their commit and publish times in the delivery ledger,
/// in one statement.
const PG_MARK_SENT: &str = "WITH sent AS ( \
         UPDATE herald_outbox \
         SET sent_at = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, \
             attempts = attempts + 1 \
         WHERE id = ANY($1) RETURNING event_id, event_type, partition_key, created_at, sent_at) \
     INSERT INTO herald_ledger_events \
         (event_id, event_type, partition_key, committed_at, published_at) \
     SELECT event_id, event_type, partition_key, created_at, sent_at \
     FROM sent ON CONFLICT (event_id) DO NOTHING";

/// Deletes at most `$2` ledger steps older than `$1`. `ORDER BY at` makes it an index
/// scan that stops at the cutoff: without it, PostgreSQL's generic plan scanned the whole
/// table when nothing was due (116 ms per million steps, every second).
const PG_PURGE_STEPS: &str = "DELETE FROM herald_ledger_steps WHERE ctid IN ( \
     SELECT ctid FROM herald_ledger_steps WHERE at < $1 ORDER BY at LIMIT $2)";

/// [`PG_PURGE_STEPS`] on SQLite.
const SQLITE_PURGE_STEPS: &str = "DELETE FROM herald_ledger_steps WHERE rowid IN ( \
     SELECT rowid FROM herald_ledger_steps WHERE at < $1 ORDER BY at LIMIT $2)";

/// Deletes sent rows, recording them in the ledger first.
const PG_DELETE_SENT: &str = "WITH sent AS ( \
         DELETE FROM herald_outbox WHERE id = ANY($1) \
         RETURNING event_id, event_type, partition_key, created_at) \
     INSERT INTO herald_ledger_events \
         (event_id, event_type, partition_key, committed_at, published_at) \
     SELECT event_id, event_type, partition_key, created_at, \
         (extract(epoch FROM clock_timestamp()) * 1000000)::bigint \
     FROM sent ON CONFLICT (event_id) DO NOTHING";

/// A row kept in the outbox, sent or not, without its payload: what a census of the
/// events a service committed needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptEvent {
    /// The row id.
    pub id: i64,
    /// The event's id.
    pub event_id: uuid::Uuid,
    /// The event's type.
    pub event_type: String,
    /// The event's partition key.
    pub partition_key: String,
    /// The routing key `<kind>.<type>.v<version>`.
    pub routing_key: String,
    /// Whether the transport confirmed it.
    pub sent: bool,
}

/// What a vacuum of the outbox cleared ([`OutboxStore::vacuum_if_bloated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vacuumed {
    /// Dead row versions before.
    pub dead_before: i64,
    /// Dead row versions the vacuum could not remove.
    pub dead_after: i64,
}

/// The outbox's dead and live row versions, from the server's statistics.
async fn outbox_row_counts(pool: &sqlx::PgPool) -> Result<Option<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables \
         WHERE relid = 'herald_outbox'::regclass",
    )
    .fetch_optional(pool)
    .await?)
}

/// The relay's access to the outbox table.
#[derive(Debug, Clone)]
pub struct OutboxStore {
    db: Database,
    retention: Retention,
    ledger: bool,
    ledger_retention: Duration,
}

/// How long the delivery ledger keeps an event's record by default: 7 days.
pub const DEFAULT_LEDGER_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

impl OutboxStore {
    /// A store over `db` with a retention policy for sent rows.
    pub fn new(db: Database, retention: Retention) -> OutboxStore {
        OutboxStore { db, retention, ledger: true, ledger_retention: DEFAULT_LEDGER_RETENTION }
    }

    /// Keeps the delivery ledger's records (commit and publish times, retries) this long
    /// after the event's commit; [`OutboxStore::purge_ledger`] removes older ones.
    #[must_use]
    pub fn with_ledger_retention(mut self, keep: Duration) -> OutboxStore {
        self.ledger_retention = keep;
        self
    }

    /// Without the delivery ledger: rows marked sent leave no record of their commit and
    /// publish times (for measuring the ledger's cost; operators want it on). On SQLite,
    /// where triggers record the ledger, call [`drop_ledger_triggers`] as well.
    #[must_use]
    pub fn without_ledger(mut self) -> OutboxStore {
        self.ledger = false;
        self
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Reads the oldest unsent rows of the given partitions in id order: at most
    /// `limit_per_partition` of each on PostgreSQL; on SQLite (one relay, one writer) at
    /// most `limit_per_partition` times the number of partitions in all. Rows are
    /// selected by `sent_at IS NULL`, so a row whose transaction commits late is still
    /// found.
    pub async fn fetch_unsent(
        &self,
        partitions: &[u32],
        limit_per_partition: usize,
    ) -> Result<Vec<OutboxRow>> {
        self.fetch_unsent_except(partitions, &[], limit_per_partition).await
    }

    /// Like [`OutboxStore::fetch_unsent`], but without the rows of `in_flight` (a relay's
    /// rows published and not yet marked). Never "rows past the last one in flight": a
    /// row committed late with a lower id must still come before the later rows of its
    /// key.
    pub async fn fetch_unsent_except(
        &self,
        partitions: &[u32],
        in_flight: &[i64],
        limit_per_partition: usize,
    ) -> Result<Vec<OutboxRow>> {
        let partitions: Vec<i32> = partitions.iter().map(|p| *p as i32).collect();
        let limit = i64::try_from(limit_per_partition).unwrap_or(i64::MAX);
        // `NOT IN (SELECT unnest(…))` is a hashed subplan on PostgreSQL, looked up once
        // per row; `<> ALL($2)` compared every row read with every row in flight, which
        // with four batches in flight made the fetch most of the relay's database time.
        let rows = match &self.db {
            Database::Postgres(pool) => sqlx::query(
                "SELECT o.id, o.event_id, o.partition, o.partition_key, o.routing_key, o.payload, \
                     o.created_at \
                     FROM unnest($1::int[]) AS p(partition) CROSS JOIN LATERAL ( \
                         SELECT id, event_id, partition, partition_key, routing_key, payload, created_at \
                         FROM herald_outbox \
                         WHERE partition = p.partition AND sent_at IS NULL \
                         AND id NOT IN (SELECT unnest($2::bigint[])) \
                         ORDER BY id LIMIT $3) AS o \
                     ORDER BY o.id",
            )
            .bind(&partitions)
            .bind(in_flight)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(row_from)
            .collect::<Result<_, sqlx::Error>>()?,
            Database::Sqlite(sqlite) => {
                let total = limit.saturating_mul(partitions.len() as i64);
                sqlx::query(
                    "SELECT id, event_id, partition, partition_key, routing_key, payload, created_at \
                     FROM herald_outbox \
                     WHERE sent_at IS NULL AND partition IN (SELECT value FROM json_each(?1)) \
                     AND id NOT IN (SELECT value FROM json_each(?2)) \
                     ORDER BY id LIMIT ?3",
                )
                .bind(sqlite_array(&partitions))
                .bind(sqlite_array(in_flight))
                .bind(total)
                .fetch_all(&sqlite.reader)
                .await?
                .iter()
                .map(row_from)
                .collect::<Result<_, sqlx::Error>>()?
            }
        };
        Ok(rows)
    }

    /// Marks rows sent (or deletes them, under [`Retention::DeleteOnSend`]), recording
    /// each event's commit and publish times in the delivery ledger
    /// (`herald_ledger_events`) in the same transaction. Call only after the transport
    /// confirmed every one of them.
    pub async fn mark_sent(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let delete = self.retention == Retention::DeleteOnSend;
        match &self.db {
            Database::Postgres(pool) => {
                let sql = match (delete, self.ledger) {
                    (true, true) => PG_DELETE_SENT,
                    (false, true) => PG_MARK_SENT,
                    (true, false) => "DELETE FROM herald_outbox WHERE id = ANY($1)",
                    (false, false) => {
                        "UPDATE herald_outbox \
                         SET sent_at = (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, \
                         attempts = attempts + 1 WHERE id = ANY($1)"
                    }
                };
                // Losing this in a database crash only means publishing the rows again.
                let mut tx = begin_without_flush_wait(pool).await?;
                sqlx::query(sql).bind(ids).execute(&mut *tx).await?;
                tx.commit().await?;
            }
            Database::Sqlite(sqlite) => {
                let sql = if delete {
                    "DELETE FROM herald_outbox WHERE id IN (SELECT value FROM json_each(?1))"
                } else {
                    "UPDATE herald_outbox \
                     SET sent_at = CAST(unixepoch('subsec') * 1000000 AS INTEGER), attempts = attempts + 1 \
                     WHERE id IN (SELECT value FROM json_each(?1))"
                };
                // The ledger's triggers record the rows in the same statement.
                let ids = sqlite_array(ids);
                match &sqlite.engine {
                    Some(engine) => {
                        engine
                            .transaction(move |tx| {
                                tx.prepare_cached(sql)?.execute([ids])?;
                                Ok::<_, OutboxError>(())
                            })
                            .await?;
                    }
                    None => {
                        sqlx::query(sql).bind(ids).execute(&sqlite.writer).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Records a failed publish of a row: one more attempt, and the error.
    pub async fn record_failure(&self, id: i64, error: &str) -> Result<()> {
        const SQL: &str =
            "UPDATE herald_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1";
        self.db.writer().execute(Statement::new(SQL).bind(id).bind(error)).await?;
        Ok(())
    }

    /// Deletes at most `max_rows` of the oldest rows sent longer ago than the retention
    /// period, through the index on `sent_at`: the cost of one call depends on `max_rows`,
    /// not on the size of the table. Returns how many rows were deleted.
    pub async fn purge_sent(&self, max_rows: i64) -> Result<u64> {
        let Retention::Keep(keep) = self.retention else {
            return Ok(0);
        };
        let keep_micros = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        let (due,): (Option<bool>,) = self
            .db
            .reader()
            .fetch_one(Statement::new(&self.purge_due_sql()).bind(keep_micros))
            .await?;
        if due != Some(true) {
            return Ok(0);
        }
        let sql = format!(
            "DELETE FROM herald_outbox WHERE id IN ( \
                 SELECT id FROM herald_outbox \
                 WHERE sent_at IS NOT NULL AND sent_at <= (SELECT {} - $1) \
                 ORDER BY sent_at LIMIT $2)",
            self.db.now_micros_sql()
        );
        let deleted =
            self.db.writer().execute(Statement::new(&sql).bind(keep_micros).bind(max_rows)).await?;
        Ok(deleted)
    }

    /// Whether the oldest sent row is past retention (`$1`, microseconds): one probe of
    /// the index on `sent_at`, whatever the number of rows kept. The relay asks every
    /// second; before, the purge's `DELETE` compared PostgreSQL's volatile clock with
    /// every sent row, which with 10 million kept took seconds per call.
    fn purge_due_sql(&self) -> String {
        format!(
            "SELECT (SELECT min(sent_at) FROM herald_outbox WHERE sent_at IS NOT NULL) \
                 <= {} - $1",
            self.db.now_micros_sql()
        )
    }

    /// Deletes at most `max_rows` ledger records of events committed longer ago than the
    /// ledger's retention, and as many retry steps older than it; returns how many went.
    pub async fn purge_ledger(&self, max_rows: i64) -> Result<u64> {
        let keep_micros = i64::try_from(self.ledger_retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = now_micros().saturating_sub(keep_micros);
        let events = "DELETE FROM herald_ledger_events WHERE event_id IN ( \
                          SELECT event_id FROM herald_ledger_events \
                          WHERE committed_at < $1 ORDER BY committed_at LIMIT $2)";
        let purged = match &self.db {
            Database::Postgres(pool) => {
                let mut purged = 0;
                for sql in [events, PG_PURGE_STEPS] {
                    let query = sqlx::query(sql).bind(cutoff).bind(max_rows);
                    purged += query.execute(pool).await?.rows_affected();
                }
                purged
            }
            Database::Sqlite(sqlite) => {
                let mut purged = 0;
                for sql in [events, SQLITE_PURGE_STEPS] {
                    let query = sqlx::query(sql).bind(cutoff).bind(max_rows);
                    purged += query.execute(&sqlite.writer).await?.rows_affected();
                }
                purged
            }
        };
        Ok(purged)
    }

    /// Vacuums the outbox on PostgreSQL when more than `dead_rows` dead row versions (sent
    /// rows deleted or marked) have piled up and they outnumber the live ones; returns the
    /// dead rows before and after when it did. A queue table churns its whole content
    /// continuously: without a vacuum its unsent-rows index fills with dead entries that
    /// every fetch walks through (measured: 210 ms per fetch after 500,000 events, 0.3 ms
    /// after a vacuum), and autovacuum may be off or, with its default thresholds, minutes
    /// late. Dead rows an open transaction still sees stay, and so does everything when the
    /// role does not own the table (PostgreSQL then skips it with a warning): `dead_after`
    /// tells. On SQLite, which keeps no dead rows, this does nothing.
    pub async fn vacuum_if_bloated(&self, dead_rows: i64) -> Result<Option<Vacuumed>> {
        let Database::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let Some((dead_before, live)) = outbox_row_counts(pool).await? else {
            return Ok(None);
        };
        if dead_before <= dead_rows || dead_before <= live {
            return Ok(None);
        }
        sqlx::query("VACUUM (ANALYZE) herald_outbox").execute(pool).await?;
        let dead_after = outbox_row_counts(pool).await?.map_or(0, |(dead, _)| dead);
        Ok(Some(Vacuumed { dead_before, dead_after }))
    }

    /// Unsent rows per partition (partitions with none are left out).
    pub async fn status(&self) -> Result<Vec<PartitionStatus>> {
        let sql = format!(
            "SELECT partition, count(*), {} - min(created_at) \
             FROM herald_outbox WHERE sent_at IS NULL GROUP BY partition ORDER BY partition",
            self.db.now_micros_sql()
        );
        let rows: Vec<(i32, i64, i64)> = self.db.reader().fetch_all(Statement::new(&sql)).await?;
        Ok(rows
            .into_iter()
            .map(|(partition, pending, age_micros)| PartitionStatus {
                partition: u32::try_from(partition).unwrap_or(0),
                pending,
                oldest_age: Duration::from_micros(u64::try_from(age_micros).unwrap_or(0)),
            })
            .collect())
    }
}

impl OutboxStore {
    /// The id of the newest row (0 for an empty outbox): rows committed later have
    /// larger ids, so it marks where a run starts.
    pub async fn last_id(&self) -> Result<i64> {
        const SQL: &str = "SELECT COALESCE(MAX(id), 0) FROM herald_outbox";
        let (last_id,): (i64,) = self.db.reader().fetch_one(Statement::new(SQL)).await?;
        Ok(last_id)
    }

    /// The rows with an id above `after_id` still in the table, sent or not, in id order.
    /// With [`Retention::Keep`] that is every event committed since, for as long as the
    /// retention; with [`Retention::DeleteOnSend`] only the unsent ones.
    pub async fn kept_after(&self, after_id: i64) -> Result<Vec<KeptEvent>> {
        const SQL: &str = "SELECT id, event_id, event_type, partition_key, routing_key, \
             sent_at IS NOT NULL AS sent FROM herald_outbox WHERE id > $1 ORDER BY id";
        let rows: Vec<(i64, uuid::Uuid, String, String, String, bool)> =
            self.db.reader().fetch_all(Statement::new(SQL).bind(after_id)).await?;
        Ok(rows
            .into_iter()
            .map(|(id, event_id, event_type, partition_key, routing_key, sent)| KeptEvent {
                id,
                event_id,
                event_type,
                partition_key,
                routing_key,
                sent,
            })
            .collect())
    }
}

/// Drops SQLite's ledger triggers from `db`, for measuring the ledger's cost on a
/// throwaway database only: nothing creates them again. Does nothing on PostgreSQL.
pub async fn drop_ledger_triggers(db: &Database) -> Result<()> {
    if let Database::Sqlite(sqlite) = db {
        for trigger in ["herald_ledger_on_sent", "herald_ledger_on_delete_sent"] {
            sqlx::query(&format!("DROP TRIGGER IF EXISTS {trigger}"))
                .execute(&sqlite.writer)
                .await?;
        }
    }
    Ok(())
}

fn row_from<R>(row: &R) -> Result<OutboxRow, sqlx::Error>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    i32: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    uuid::Uuid: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(OutboxRow {
        id: row.try_get(0)?,
        event_id: row.try_get(1)?,
        partition: u32::try_from(row.try_get::<i32, _>(2)?).unwrap_or(0),
        partition_key: row.try_get(3)?,
        routing_key: row.try_get(4)?,
        created_at_us: row.try_get(6)?,
        payload: row.try_get(5)?,
    })
}

/// Now, in microseconds since the Unix epoch.
fn now_micros() -> i64 {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With many sent rows kept and none past retention, the purge's probe reads a few
    /// index pages, whatever the history's size; rows past retention are still purged.
    #[tokio::test]
    async fn a_purge_with_nothing_to_purge_costs_an_index_probe_whatever_the_history() {
        let test_db = herald_testkit::TestDb::postgres("purge_probe").await;
        let Database::Postgres(pool) = &test_db.db else { unreachable!("postgres") };
        sqlx::query(
            "INSERT INTO herald_outbox (event_id, partition, partition_key, event_type, kind, \
                 routing_key, payload, sent_at) \
             SELECT gen_random_uuid(), 0, 'k', 't', 'integration', 'integration.t.v1', '\\x00', \
                 (extract(epoch FROM clock_timestamp()) * 1000000)::bigint \
             FROM generate_series(1, 50000)",
        )
        .execute(pool)
        .await
        .expect("history");
        let store = OutboxStore::new(test_db.db.clone(), Retention::default());
        let hour = 3_600_000_000_i64;
        let (touched, plan) = pages_touched(pool, &store.purge_due_sql(), &[hour]).await;
        assert!(touched < 20, "the purge touched {touched} pages: {plan:#?}");
        assert_eq!(store.purge_sent(10_000).await.expect("purge"), 0, "nothing is due");
        sqlx::query("UPDATE herald_outbox SET sent_at = sent_at - 2 * $1 WHERE id <= 3")
            .bind(hour)
            .execute(pool)
            .await
            .expect("age three rows");
        assert_eq!(store.purge_sent(10_000).await.expect("purge"), 3, "the three past retention");
        test_db.cleanup().await;
    }

    /// With many ledger steps (enough that the planner's choice matters) and none past
    /// retention, the steps' purge reads a few index pages (it scanned the whole table
    /// before `ORDER BY at`).
    #[tokio::test]
    async fn a_ledger_purge_with_nothing_due_costs_an_index_probe_whatever_the_ledger() {
        let test_db = herald_testkit::TestDb::postgres("ledger_purge_probe").await;
        let Database::Postgres(pool) = &test_db.db else { unreachable!("postgres") };
        sqlx::query(
            "INSERT INTO herald_ledger_steps (event_id, service, state, at) \
             SELECT gen_random_uuid(), 'svc', 'retried', \
                 (extract(epoch FROM clock_timestamp()) * 1000000)::bigint \
             FROM generate_series(1, 500000)",
        )
        .execute(pool)
        .await
        .expect("ledger steps");
        let an_hour_ago = now_micros() - 3_600_000_000;
        let (touched, plan) = pages_touched(pool, PG_PURGE_STEPS, &[an_hour_ago, 10_000]).await;
        assert!(touched < 20, "the steps' purge touched {touched} pages: {plan:#?}");
        test_db.cleanup().await;
    }

    /// The pages `sql` (with `binds`) reads, from its `EXPLAIN (ANALYZE, BUFFERS)` in a
    /// transaction rolled back, and the plan.
    async fn pages_touched(pool: &sqlx::PgPool, sql: &str, binds: &[i64]) -> (i64, Vec<String>) {
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
        let mut query = sqlx::query_scalar(&explain);
        for bind in binds {
            query = query.bind(*bind);
        }
        let mut tx = pool.begin().await.expect("begin");
        let plan: Vec<String> = query.fetch_all(&mut *tx).await.expect("explain");
        tx.rollback().await.expect("rollback");
        // The root's line comes first; it counts its children's pages too.
        let touched = plan.iter().find(|line| line.contains("Buffers:")).map_or(0, |line| {
            ["hit=", "read="]
                .iter()
                .filter_map(|key| line.split(key).nth(1))
                .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .filter_map(|digits| digits.parse::<i64>().ok())
                .sum()
        });
        (touched, plan)
    }
}
