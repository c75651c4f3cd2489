//! Connecting to PostgreSQL or SQLite from one URL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous, SqliteTransactionManager,
};
use sqlx::{Connection, TransactionManager};
use tokio::sync::watch;

use crate::{DbError, Result, SqliteWriter, WriterOptions};

/// Which engine a [`Database`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL, for production and several processes.
    Postgres,
    /// An embedded SQLite file in WAL mode.
    Sqlite,
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Connections in the PostgreSQL pool, or readers in the SQLite reader pool.
    pub max_connections: u32,
    /// `synchronous=FULL` on SQLite: every commit is fsynced, surviving power loss, at a
    /// large throughput cost. The default (`NORMAL` in WAL mode) survives a killed process.
    pub sqlite_sync_full: bool,
    /// Run Herald's migrations after connecting.
    pub migrate: bool,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self { max_connections: 8, sqlite_sync_full: false, migrate: true }
    }
}

/// An embedded SQLite database: SQLite allows one writer at a time, so writes go through a
/// one-connection pool (callers queue fairly instead of sleeping in SQLite's busy handler)
/// and reads through a pool of readers.
#[derive(Debug, Clone)]
pub struct SqliteDb {
    /// The single-connection pool for every write transaction.
    pub writer: SqlitePool,
    /// Pool for read-only queries; WAL lets them run beside the writer.
    pub reader: SqlitePool,
    /// In-process wake-ups (SQLite has no LISTEN/NOTIFY).
    pub wakeup: Wakeup,
    /// The fast write path: a thread on its own `rusqlite` connection that commits the
    /// jobs queued together in one transaction. `None` for an in-memory database, which a
    /// second connection could not see.
    pub engine: Option<SqliteWriter>,
}

impl SqliteDb {
    /// Begins a write transaction with `BEGIN IMMEDIATE`: it takes the write lock at once,
    /// waiting in the busy handler if another process holds it. A deferred transaction
    /// that reads before it writes would instead fail with `SQLITE_BUSY` the moment
    /// another process has written since its read.
    pub async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }
}

/// In-process wake-up signals for one database: a counter per topic that waiters watch,
/// so a signal sent while nobody waits is never lost.
#[derive(Debug, Clone)]
pub struct Wakeup {
    outbox: Arc<watch::Sender<u64>>,
    log: Arc<watch::Sender<u64>>,
}

impl Default for Wakeup {
    fn default() -> Self {
        Self { outbox: Arc::new(watch::channel(0).0), log: Arc::new(watch::channel(0).0) }
    }
}

impl Wakeup {
    /// Wake-ups for PostgreSQL: outbox signals become `NOTIFY herald_outbox`, sent by a
    /// background task in a transaction of their own, one for however many signals came
    /// since the last. Must be called inside a Tokio runtime; the task ends when the last
    /// clone of the returned value is dropped.
    pub fn for_postgres(pool: PgPool) -> Wakeup {
        let wakeup = Wakeup::default();
        let mut committed = wakeup.watch_outbox();
        tokio::spawn(async move {
            while committed.changed().await.is_ok() {
                committed.mark_unchanged();
                if let Err(error) =
                    sqlx::query("SELECT pg_notify('herald_outbox', '')").execute(&pool).await
                {
                    tracing::debug!(%error, "Waking relays failed; they poll.");
                }
            }
        });
        wakeup
    }

    /// Signals that outbox rows were committed.
    pub fn outbox_committed(&self) {
        self.outbox.send_modify(|n| *n = n.wrapping_add(1));
    }
    /// Signals that log entries were appended.
    pub fn log_appended(&self) {
        self.log.send_modify(|n| *n = n.wrapping_add(1));
    }
    /// A receiver that changes whenever [`Wakeup::outbox_committed`] is called.
    pub fn watch_outbox(&self) -> watch::Receiver<u64> {
        self.outbox.subscribe()
    }
    /// A receiver that changes whenever [`Wakeup::log_appended`] is called.
    pub fn watch_log(&self) -> watch::Receiver<u64> {
        self.log.subscribe()
    }
}

/// A connected Herald database.
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL.
    Postgres(PgPool),
    /// Embedded SQLite.
    Sqlite(SqliteDb),
}

static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

impl Database {
    /// Connects to the database a URL names (and migrates it, unless told not to).
    ///
    /// A URL that is not `postgres://`, `postgresql://` or `sqlite:` is refused with
    /// [`DbError::InvalidUrl`] before any connection is tried.
    pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Database> {
        let database = match parse_backend(url)? {
            Backend::Postgres => Database::Postgres(connect_postgres(url, options).await?),
            Backend::Sqlite => Database::Sqlite(connect_sqlite(url, options).await?),
        };
        if options.migrate {
            database.migrate().await?;
        }
        Ok(database)
    }

    /// Applies Herald's migrations; safe to run concurrently from several processes.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Database::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
            Database::Sqlite(db) => SQLITE_MIGRATOR.run(&db.writer).await?,
        }
        Ok(())
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Postgres(_) => Backend::Postgres,
            Database::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Closes every pool.
    pub async fn close(&self) {
        match self {
            Database::Postgres(pool) => pool.close().await,
            Database::Sqlite(db) => {
                db.writer.close().await;
                db.reader.close().await;
            }
        }
    }
}

fn parse_backend(url: &str) -> Result<Backend> {
    let invalid =
        |reason: &str| DbError::InvalidUrl { url: redact_url(url), reason: reason.into() };
    let (scheme, rest) = url.split_once(':').ok_or_else(|| invalid("it has no scheme"))?;
    let backend = match scheme {
        "postgres" | "postgresql" => Backend::Postgres,
        "sqlite" => Backend::Sqlite,
        "" => return Err(invalid("it has no scheme")),
        other => return Err(invalid(&format!("unsupported scheme `{other}`"))),
    };
    if backend == Backend::Postgres && !rest.starts_with("//") {
        return Err(invalid("a PostgreSQL URL must start with `postgres://`"));
    }
    if backend == Backend::Sqlite && rest.trim_start_matches('/').is_empty() {
        return Err(invalid("it names no database file"));
    }
    Ok(backend)
}

async fn connect_postgres(url: &str, options: &DatabaseOptions) -> Result<PgPool> {
    let mut connect_options = PgConnectOptions::from_str(url)
        .map_err(|error| DbError::InvalidUrl { url: redact_url(url), reason: error.to_string() })?;
    if !url.contains("sslmode=") && is_loopback(connect_options.get_host()) {
        // libpq's default (`prefer`) would encrypt a connection that never leaves the
        // machine, at a cost on every query; a URL that names `sslmode` gets it.
        connect_options = connect_options.ssl_mode(PgSslMode::Disable);
    }
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        // A ping before every acquire costs a round trip per transaction; a connection
        // that died is noticed by the query that uses it, and every caller retries.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect_options)
        .await
        .map_err(|source| DbError::connect(url, source))
}

/// Whether a PostgreSQL host is this machine: a loopback name or address, or a socket.
fn is_loopback(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn connect_sqlite(url: &str, options: &DatabaseOptions) -> Result<SqliteDb> {
    let synchronous =
        if options.sqlite_sync_full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal };
    let connect_options = SqliteConnectOptions::from_str(url)
        .map_err(|error| DbError::InvalidUrl { url: redact_url(url), reason: error.to_string() })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(Duration::from_secs(10))
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory");
    let connect = |max: u32| {
        SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            // A local file cannot go stale the way a network connection can; a ping
            // before every acquire would double the cost of small transactions.
            .test_before_acquire(false)
            .before_acquire(|connection, _| Box::pin(async move { Ok(settled(connection).await) }))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect_options.clone())
    };
    let error = |source| DbError::connect(url, source);
    // The writer comes first: it creates the file and switches it to WAL.
    let writer = connect(1).await.map_err(error)?;
    let reader = connect(options.max_connections.max(1)).await.map_err(error)?;
    let file = connect_options.get_filename();
    let engine = if file.is_file() {
        let writer_options = WriterOptions { sync_full: options.sqlite_sync_full };
        let engine = SqliteWriter::open(file, writer_options)
            .map_err(|source| DbError::Engine { url: redact_url(url), source })?;
        Some(engine)
    } else {
        None
    };
    Ok(SqliteDb { writer, reader, wakeup: Wakeup::default(), engine })
}

/// Whether a pooled SQLite connection may be handed out. Not when a transaction's
/// `ROLLBACK` failed because SQLite had already ended the transaction itself (as it does
/// after a full disk or an I/O error): sqlx 0.8 then counts that transaction as open for
/// good, and every later `begin` on the connection fails ("attempted to call begin_with
/// at non-zero transaction depth"). Such a connection is closed and replaced. The check
/// is one atomic load, except after a dropped transaction, whose queued rollback the
/// ping waits for.
async fn settled(connection: &mut SqliteConnection) -> bool {
    if SqliteTransactionManager::get_transaction_depth(connection) == 0 {
        return true;
    }
    let _ = connection.ping().await;
    SqliteTransactionManager::get_transaction_depth(connection) == 0
}

/// Begins a PostgreSQL transaction whose commit does not wait for the WAL flush
/// (`synchronous_commit = off`), for bookkeeping whose loss in a database crash is
/// harmless because it is redone: marking outbox rows sent (they are published again and
/// the inbox drops the copies), committing consumer offsets (likewise). Never for writes
/// that confirm a publish or apply an effect.
pub async fn begin_without_flush_wait(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
    Ok(tx)
}

/// Renders values as a JSON array, the stand-in on SQLite for PostgreSQL's array
/// parameters: bind it and read it with `json_each(?)`.
pub fn sqlite_array<T: std::fmt::Display>(values: &[T]) -> String {
    let items: Vec<String> = values.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(","))
}

/// Renders pairs as a JSON array of two-element arrays, for `json_each(?)` on SQLite.
pub fn sqlite_pairs<A: std::fmt::Display, B: std::fmt::Display>(pairs: &[(A, B)]) -> String {
    let items: Vec<String> = pairs.iter().map(|(a, b)| format!("[{a},{b}]")).collect();
    format!("[{}]", items.join(","))
}

/// Replaces the password of a URL's user info with `***`, so URLs can be logged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let Some((user, _password)) = user_info.split_once(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn parse_backend_names_the_problem() {
        let check = |url: &str, needle: &str| {
            let error = parse_backend(url).expect_err(url).to_string();
            assert!(error.contains(needle), "{url}: {error}");
        };
        check("mysql://localhost/db", "unsupported scheme `mysql`");
        check("localhost", "no scheme");
        check("postgres:localhost", "must start with `postgres://`");
        check("sqlite://", "names no database file");
        check("http://u:pw@x/", "u:***@x");
        assert_eq!(parse_backend("sqlite://a.db").ok(), Some(Backend::Sqlite));
        assert_eq!(parse_backend("postgresql://h/d").ok(), Some(Backend::Postgres));
    }
}
