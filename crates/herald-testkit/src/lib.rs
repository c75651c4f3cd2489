//! Test harness for Herald's crates.
//!
//! Every test gets its own database: [`TestDb::postgres`] creates a fresh PostgreSQL
//! database (dropped by [`TestDb::cleanup`]), [`TestDb::sqlite`] a fresh file in a
//! temporary directory. Tests talk to real servers; when PostgreSQL is not reachable the
//! test fails with a message that says how to start it, never skips.
//!
//! The server is found through `HERALD_TEST_POSTGRES_URL` (an admin URL, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).

pub mod brokers;
pub mod smtp;
pub mod tls;
pub mod transport_suite;

use std::future::Future;
use std::time::Duration;

use herald_db::{Database, DatabaseOptions};
use sqlx::Connection;

/// The admin URL of the test PostgreSQL server.
pub fn postgres_admin_url() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database of one test.
#[derive(Debug)]
pub struct TestDb {
    /// The URL to give Herald (and child processes).
    pub url: String,
    /// The connected, migrated database.
    pub db: Database,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh PostgreSQL database named after `label`, migrated.
    pub async fn postgres(label: &str) -> TestDb {
        TestDb::postgres_with(label, true).await
    }

    /// A fresh PostgreSQL database with no table at all, for tests of the migrations.
    pub async fn postgres_unmigrated(label: &str) -> TestDb {
        TestDb::postgres_with(label, false).await
    }

    async fn postgres_with(label: &str, migrate: bool) -> TestDb {
        let admin_url = postgres_admin_url();
        let name = format!("herald_t_{}_{}", sanitize(label), uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is required at {admin_url} ({error}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 or set HERALD_TEST_POSTGRES_URL"
            )
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let url = replace_database(&admin_url, &name);
        let db = connect(&url, migrate).await;
        TestDb { url, db, postgres_name: Some(name), _dir: None }
    }

    /// A fresh SQLite file in a temporary directory, migrated.
    pub async fn sqlite(label: &str) -> TestDb {
        TestDb::sqlite_with(label, true).await
    }

    /// A fresh SQLite file with no table at all, for tests of the migrations.
    pub async fn sqlite_unmigrated(label: &str) -> TestDb {
        TestDb::sqlite_with(label, false).await
    }

    async fn sqlite_with(label: &str, migrate: bool) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join(format!("{}.db", sanitize(label)));
        let url = format!("sqlite://{}", path.display());
        let db = connect(&url, migrate).await;
        TestDb { url, db, postgres_name: None, _dir: Some(dir) }
    }

    /// Closes the pools and drops a PostgreSQL database.
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some(name) = &self.postgres_name {
            let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
                .await
                .expect("connect to drop the test database");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .expect("drop test database");
        }
    }
}

async fn connect(url: &str, migrate: bool) -> Database {
    Database::connect(url, &DatabaseOptions { migrate, ..DatabaseOptions::default() })
        .await
        .unwrap_or_else(|error| panic!("connect to test database: {error}"))
}

fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(24)
        .collect()
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// Polls `condition` every 20 ms until it holds, or panics after `timeout` with `what`.
/// For waiting on another process, where there is nothing to await.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_database_keeps_everything_but_the_path() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            replace_database("postgres://h/d?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
