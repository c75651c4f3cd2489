//! One query, either database: the [`Dialect`] trait and portable [`Statement`]s.
//!
//! A handler or a producer that writes its own tables should not be written twice, once
//! per database. Herald's SQL uses `$n` placeholders, which PostgreSQL and SQLite both
//! accept, so most statements are the same text on both; what differs is only the Rust
//! type of the connection. A [`Statement`] carries its SQL and its bound values
//! ([`Param`]) until it meets a connection, and [`Dialect`] (sealed, implemented for
//! [`sqlx::Postgres`] and [`sqlx::Sqlite`]) runs it there:
//!
//! ```no_run
//! # async fn record<DB: herald_db::Dialect>(conn: &mut DB::Connection) -> Result<(), sqlx::Error> {
//! use herald_db::Statement;
//!
//! Statement::new("INSERT INTO billing_invoices (order_id, cents) VALUES ($1, $2)")
//!     .bind("order-7")
//!     .bind(1250_i64)
//!     .execute::<DB>(conn)
//!     .await?;
//! let (count,): (i64,) =
//!     Statement::new("SELECT count(*) FROM billing_invoices").fetch_one::<DB, _>(conn).await?;
//! # let _ = count; Ok(()) }
//! ```
//!
//! Genuine differences between the two dialects (the clock, `SKIP LOCKED`, how a write
//! transaction starts) are constants and methods of [`Dialect`], so they are written once.

use std::borrow::Cow;
use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, Sqlite};

use crate::{Backend, Database, DbError};

/// One value bound to a [`Statement`]. Every variant is typed, also when it is `NULL`
/// (`None`), because PostgreSQL needs each parameter's type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Param<'q> {
    /// `BIGINT` / `INTEGER`.
    Int(Option<i64>),
    /// `DOUBLE PRECISION` / `REAL`.
    Float(Option<f64>),
    /// `BOOLEAN` / `INTEGER` 0 or 1.
    Bool(Option<bool>),
    /// `TEXT`.
    Text(Option<Cow<'q, str>>),
    /// `BYTEA` / `BLOB`.
    Bytes(Option<Cow<'q, [u8]>>),
    /// `UUID` / a 16-byte `BLOB`.
    Uuid(Option<uuid::Uuid>),
    /// `TIMESTAMPTZ` / ISO 8601 `TEXT`.
    Timestamp(Option<DateTime<Utc>>),
}

macro_rules! param_from {
    ($($variant:ident: $($ty:ty => $convert:expr),+;)+) => {$($(
        impl<'q> From<$ty> for Param<'q> {
            fn from(value: $ty) -> Self {
                Param::$variant(Some(($convert)(value)))
            }
        }
        impl<'q> From<Option<$ty>> for Param<'q> {
            fn from(value: Option<$ty>) -> Self {
                Param::$variant(value.map($convert))
            }
        }
    )+)+};
}

param_from! {
    Int: i64 => |v| v, i32 => i64::from, u32 => i64::from, i16 => i64::from;
    Float: f64 => |v| v, f32 => f64::from;
    Bool: bool => |v| v;
    Text: &'q str => Cow::Borrowed, &'q String => |v: &'q String| Cow::Borrowed(v.as_str()), String => Cow::Owned;
    Bytes: &'q [u8] => Cow::Borrowed, Vec<u8> => Cow::Owned;
    Uuid: uuid::Uuid => |v| v, &'q uuid::Uuid => |v: &uuid::Uuid| *v;
    Timestamp: DateTime<Utc> => |v| v;
}

/// A statement and its bound values, not yet tied to a database: run it on a
/// PostgreSQL or a SQLite connection alike (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a statement does nothing until it is executed or fetched"]
pub struct Statement<'q> {
    sql: &'q str,
    params: Vec<Param<'q>>,
}

impl<'q> Statement<'q> {
    /// A statement with `$1`, `$2`, … placeholders, valid on both databases.
    pub fn new(sql: &'q str) -> Statement<'q> {
        Statement { sql, params: Vec::new() }
    }

    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Into<Param<'q>>) -> Statement<'q> {
        self.params.push(value.into());
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &'q str {
        self.sql
    }

    /// The bound values, in placeholder order.
    pub fn params(&self) -> &[Param<'q>] {
        &self.params
    }

    /// Runs the statement; returns the number of rows it affected.
    pub async fn execute<DB: Dialect>(self, conn: &mut DB::Connection) -> Result<u64, sqlx::Error> {
        DB::execute(conn, self).await
    }

    /// Runs a query and returns its one row; no row is [`sqlx::Error::RowNotFound`].
    pub async fn fetch_one<DB: Dialect, T: FromRow>(
        self,
        conn: &mut DB::Connection,
    ) -> Result<T, sqlx::Error> {
        DB::fetch_optional(conn, self).await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs a query and returns its first row, if any.
    pub async fn fetch_optional<DB: Dialect, T: FromRow>(
        self,
        conn: &mut DB::Connection,
    ) -> Result<Option<T>, sqlx::Error> {
        DB::fetch_optional(conn, self).await
    }

    /// Runs a query and returns every row.
    pub async fn fetch_all<DB: Dialect, T: FromRow>(
        self,
        conn: &mut DB::Connection,
    ) -> Result<Vec<T>, sqlx::Error> {
        DB::fetch_all(conn, self).await
    }
}

/// A row type both databases can decode (a tuple of plain values, or a struct deriving
/// `sqlx::FromRow`).
pub trait FromRow:
    for<'r> sqlx::FromRow<'r, PgRow> + for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin + 'static
{
}

impl<T> FromRow for T where
    T: for<'r> sqlx::FromRow<'r, PgRow>
        + for<'r> sqlx::FromRow<'r, SqliteRow>
        + Send
        + Unpin
        + 'static
{
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for sqlx::Postgres {}
    impl Sealed for sqlx::Sqlite {}
}

/// A database Herald runs on: PostgreSQL or SQLite. Code generic over `DB: Dialect` runs
/// [`Statement`]s on `DB::Connection` and reads the genuine differences of the two
/// dialects here, in one place. Sealed: Herald supports exactly these two.
pub trait Dialect: sqlx::Database + sealed::Sealed {
    /// Which engine this is.
    const ENGINE: Backend;

    /// An SQL expression for the database's clock, in microseconds since the Unix epoch
    /// (a `BIGINT` / `INTEGER`).
    const NOW_MICROS: &'static str;

    /// What follows a locking `SELECT` so that concurrent workers skip each other's rows
    /// (`FOR UPDATE SKIP LOCKED`); empty on SQLite, whose one writer locks the database.
    const SKIP_LOCKED: &'static str;

    /// The pool for writes of `db` (SQLite's one-connection writer), or
    /// [`DbError::WrongBackend`] when `db` runs on the other engine.
    fn writer_pool(db: &Database) -> Result<&sqlx::Pool<Self>, DbError>;

    /// Begins a write transaction on `db`'s pool for writes, or fails with
    /// [`DbError::WrongBackend`] when `db` runs on the other engine. On SQLite it is
    /// `BEGIN IMMEDIATE`, which takes the write lock at once: a deferred transaction that
    /// reads before it writes would fail with `SQLITE_BUSY` if another process wrote
    /// since its read.
    fn begin_write(
        db: &Database,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self>, DbError>> + Send + '_;

    /// Runs `statement`; returns the number of rows it affected.
    fn execute<'c>(
        conn: &'c mut Self::Connection,
        statement: Statement<'c>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;

    /// Runs a query and returns its first row, if any.
    fn fetch_optional<'c, T: FromRow>(
        conn: &'c mut Self::Connection,
        statement: Statement<'c>,
    ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send + 'c;

    /// Runs a query and returns every row.
    fn fetch_all<'c, T: FromRow>(
        conn: &'c mut Self::Connection,
        statement: Statement<'c>,
    ) -> impl Future<Output = Result<Vec<T>, sqlx::Error>> + Send + 'c;
}

/// Implements [`Dialect`] for one sqlx database: the two bodies are the same text over
/// different concrete query types (sqlx has no trait for `rows_affected`), so they are
/// stamped from one.
macro_rules! dialect {
    (
        $db:ty, $engine:expr, $now:expr, $skip_locked:expr, $begin_write:literal,
        $database:pat => $writer:expr
    ) => {
        impl Dialect for $db {
            const ENGINE: Backend = $engine;
            const NOW_MICROS: &'static str = $now;
            const SKIP_LOCKED: &'static str = $skip_locked;

            fn writer_pool(db: &Database) -> Result<&sqlx::Pool<Self>, DbError> {
                match db {
                    $database => Ok($writer),
                    other => {
                        Err(DbError::WrongBackend { expected: $engine, found: other.backend() })
                    }
                }
            }

            async fn begin_write(
                db: &Database,
            ) -> Result<sqlx::Transaction<'static, Self>, DbError> {
                Ok(Self::writer_pool(db)?.begin_with($begin_write).await?)
            }

            async fn execute<'c>(
                conn: &'c mut Self::Connection,
                statement: Statement<'c>,
            ) -> Result<u64, sqlx::Error> {
                Ok(bound::<$db>(statement).execute(conn).await?.rows_affected())
            }

            async fn fetch_optional<'c, T: FromRow>(
                conn: &'c mut Self::Connection,
                statement: Statement<'c>,
            ) -> Result<Option<T>, sqlx::Error> {
                let row = bound::<$db>(statement).fetch_optional(conn).await?;
                row.map(|row| T::from_row(&row)).transpose()
            }

            async fn fetch_all<'c, T: FromRow>(
                conn: &'c mut Self::Connection,
                statement: Statement<'c>,
            ) -> Result<Vec<T>, sqlx::Error> {
                let rows = bound::<$db>(statement).fetch_all(conn).await?;
                rows.iter().map(|row| T::from_row(row)).collect()
            }
        }
    };
}

/// The statement as an sqlx query with every value bound.
fn bound<'q, DB>(statement: Statement<'q>) -> Query<'q, DB, DB::Arguments<'q>>
where
    DB: sqlx::Database,
    DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<f64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<bool>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Cow<'q, str>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q [u8]: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<uuid::Uuid>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    statement.params.into_iter().fold(sqlx::query(statement.sql), |query, param| match param {
        Param::Int(value) => query.bind(value),
        Param::Float(value) => query.bind(value),
        Param::Bool(value) => query.bind(value),
        Param::Text(value) => query.bind(value),
        Param::Bytes(Some(Cow::Borrowed(bytes))) => query.bind(bytes),
        Param::Bytes(Some(Cow::Owned(bytes))) => query.bind(bytes),
        Param::Bytes(None) => query.bind(None::<Vec<u8>>),
        Param::Uuid(value) => query.bind(value),
        Param::Timestamp(value) => query.bind(value),
    })
}

dialect!(
    Postgres,
    Backend::Postgres,
    "(extract(epoch from clock_timestamp()) * 1000000)::bigint",
    "FOR UPDATE SKIP LOCKED",
    "BEGIN",
    Database::Postgres(pool) => pool
);
dialect!(
    Sqlite,
    Backend::Sqlite,
    "CAST(unixepoch('subsec') * 1000000 AS INTEGER)",
    "",
    "BEGIN IMMEDIATE",
    Database::Sqlite(sqlite) => &sqlite.writer
);

/// Where a [`Statement`] runs on a [`Database`]: [`Database::writer`] or
/// [`Database::reader`]. The one place where a portable statement meets a pool, so that
/// code outside this crate never matches on the database to run the same SQL twice.
#[derive(Debug, Clone, Copy)]
pub struct Pool<'d> {
    inner: PoolRef<'d>,
}

#[derive(Debug, Clone, Copy)]
enum PoolRef<'d> {
    Postgres(&'d sqlx::PgPool),
    Sqlite(&'d sqlx::SqlitePool),
}

/// Runs `$body` with `$conn` bound to a connection of the pool and `$db` to its sqlx
/// database type.
macro_rules! on_pool {
    ($pool:expr, $conn:ident, $db:ident => $body:expr) => {
        match $pool.inner {
            PoolRef::Postgres(pool) => {
                type $db = Postgres;
                let mut $conn = pool.acquire().await?;
                $body
            }
            PoolRef::Sqlite(pool) => {
                type $db = Sqlite;
                let mut $conn = pool.acquire().await?;
                $body
            }
        }
    };
}

impl Pool<'_> {
    /// Runs `statement`; returns the number of rows it affected.
    pub async fn execute(self, statement: Statement<'_>) -> Result<u64, sqlx::Error> {
        on_pool!(self, conn, DB => statement.execute::<DB>(&mut conn).await)
    }

    /// Runs a query and returns its one row; no row is [`sqlx::Error::RowNotFound`].
    pub async fn fetch_one<T: FromRow>(self, statement: Statement<'_>) -> Result<T, sqlx::Error> {
        on_pool!(self, conn, DB => statement.fetch_one::<DB, T>(&mut conn).await)
    }

    /// Runs a query and returns its first row, if any.
    pub async fn fetch_optional<T: FromRow>(
        self,
        statement: Statement<'_>,
    ) -> Result<Option<T>, sqlx::Error> {
        on_pool!(self, conn, DB => statement.fetch_optional::<DB, T>(&mut conn).await)
    }

    /// Runs a query and returns every row.
    pub async fn fetch_all<T: FromRow>(
        self,
        statement: Statement<'_>,
    ) -> Result<Vec<T>, sqlx::Error> {
        on_pool!(self, conn, DB => statement.fetch_all::<DB, T>(&mut conn).await)
    }
}

impl Database {
    /// [`Dialect::NOW_MICROS`] of this database: its clock in microseconds since the Unix
    /// epoch, the unit of every time Herald stores.
    pub fn now_micros_sql(&self) -> &'static str {
        match self {
            Database::Postgres(_) => Postgres::NOW_MICROS,
            Database::Sqlite(_) => Sqlite::NOW_MICROS,
        }
    }

    /// The pool for writes: PostgreSQL's pool, or SQLite's one-connection writer.
    pub fn writer(&self) -> Pool<'_> {
        let inner = match self {
            Database::Postgres(pool) => PoolRef::Postgres(pool),
            Database::Sqlite(sqlite) => PoolRef::Sqlite(&sqlite.writer),
        };
        Pool { inner }
    }

    /// The pool for reads: PostgreSQL's pool, or SQLite's readers, which never wait for
    /// the writer.
    pub fn reader(&self) -> Pool<'_> {
        let inner = match self {
            Database::Postgres(pool) => PoolRef::Postgres(pool),
            Database::Sqlite(sqlite) => PoolRef::Sqlite(&sqlite.reader),
        };
        Pool { inner }
    }
}
