//! PostgreSQL over TLS (sqlx with rustls): `sslmode=require` encrypts the connection, as
//! the server's `pg_stat_ssl` confirms; `sslmode=verify-full` checks the server's
//! certificate, and refuses one no trusted authority signed (this machine's PostgreSQL
//! serves Debian's self-signed "snakeoil" certificate), naming the cause. A loopback URL
//! that names no `sslmode` is not encrypted (libpq's `prefer` would, at a cost per query).

use herald_db::{Database, DatabaseOptions};
use herald_testkit::postgres_admin_url;

fn with_sslmode(mode: &str) -> String {
    let url = postgres_admin_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode={mode}")
}

fn options() -> DatabaseOptions {
    DatabaseOptions { max_connections: 1, migrate: false, ..DatabaseOptions::default() }
}

#[tokio::test]
async fn sslmode_require_encrypts_the_connection() {
    let db = Database::connect(&with_sslmode("require"), &options()).await.expect("connect");
    let Database::Postgres(pool) = &db else { panic!("PostgreSQL") };
    let (ssl, version): (bool, Option<String>) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(pool)
            .await
            .expect("pg_stat_ssl");
    assert!(ssl, "the connection is not encrypted");
    assert!(version.is_some_and(|v| v.starts_with("TLS")));
    db.close().await;
}

#[tokio::test]
async fn sslmode_verify_full_refuses_an_untrusted_certificate() {
    let error = Database::connect(&with_sslmode("verify-full"), &options())
        .await
        .expect_err("a self-signed certificate is not trusted");
    let message = error.to_string();
    assert!(message.contains("cannot connect"), "{message}");
    assert!(message.to_lowercase().contains("certificate"), "the cause is named: {message}");
}

#[tokio::test]
async fn a_loopback_url_without_sslmode_is_not_encrypted() {
    let db = Database::connect(&postgres_admin_url(), &options()).await.expect("connect");
    let Database::Postgres(pool) = &db else { panic!("PostgreSQL") };
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(pool)
        .await
        .expect("pg_stat_ssl");
    assert!(!ssl, "a connection that never leaves the machine is not worth encrypting");
    db.close().await;
}
