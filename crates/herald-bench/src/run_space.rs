//! Where a run lives: on PostgreSQL a schema of its own, on a broker a namespace of its
//! own, both removed when the run ends. Runs then neither read each other's leftovers (a
//! killed run's messages, a grown inbox) nor leave rows in the database they were given,
//! and every run starts from the same empty tables, so that figures compare.

use sqlx::Connection;

/// The broker namespace of a run: `--namespace` (cut to 39 characters), a marker of what
/// runs (`h` Herald, `b` the broker alone, `n` the naive relay) and the run id's end; at
/// most 48 characters.
pub fn run_namespace(namespace: &str, marker: &str, run: &str) -> String {
    let prefix = &namespace[..namespace.len().min(39)];
    format!("{prefix}-{marker}{}", &run[run.len().saturating_sub(6)..])
}

/// A PostgreSQL schema made for one run, or nothing on SQLite (whose runs use fresh
/// temporary files unless `--database` names one).
#[derive(Debug)]
pub struct RunSchema {
    /// The database URL with the run's schema first in its `search_path`.
    pub url: String,
    schema: Option<(String, String)>,
}

impl RunSchema {
    /// Creates `herald_bench_<run>` in the database of `url` (PostgreSQL), or passes a
    /// SQLite URL through.
    pub async fn create(url: &str, run: &str) -> anyhow::Result<RunSchema> {
        if !url.starts_with("postgres") {
            return Ok(RunSchema { url: url.to_owned(), schema: None });
        }
        let schema = format!("herald_bench_{}", &run[run.len().saturating_sub(12)..]);
        let mut conn = sqlx::PgConnection::connect(url).await?;
        // The name is made here of hex digits only, never taken from input.
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut conn).await?;
        conn.close().await?;
        let separator = if url.contains('?') { '&' } else { '?' };
        let in_schema = format!("{url}{separator}options=-c%20search_path%3D{schema}");
        Ok(RunSchema { url: in_schema, schema: Some((url.to_owned(), schema)) })
    }

    /// Drops the run's schema with everything in it.
    pub async fn drop(self) -> anyhow::Result<()> {
        let Some((url, schema)) = self.schema else {
            return Ok(());
        };
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }
}
