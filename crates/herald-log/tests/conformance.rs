//! The transport conformance suite on the embedded log, over PostgreSQL and SQLite.

use std::time::Duration;

use async_trait::async_trait;
use herald_db::Database;
use herald_log::{SqlLog, SqlLogConfig};
use herald_testkit::TestDb;
use herald_testkit::transport_suite::Fixture;
use herald_transport::{Publisher, Subscriber};

struct LogFixture {
    test_db: TestDb,
    log: SqlLog,
}

fn log_over(test_db: TestDb) -> Box<dyn Fixture> {
    let config =
        SqlLogConfig { poll_interval: Duration::from_millis(20), ..SqlLogConfig::default() };
    let log = SqlLog::new(test_db.db.clone(), config);
    Box::new(LogFixture { test_db, log })
}

#[async_trait]
impl Fixture for LogFixture {
    fn publisher(&self) -> &dyn Publisher {
        &self.log
    }

    fn subscriber(&self) -> &dyn Subscriber {
        &self.log
    }

    /// PostgreSQL: every connection to the test database is cut, as in a server restart.
    /// SQLite has no server; the case still checks that work goes on.
    async fn restart(&self) {
        if let Database::Postgres(pool) = &self.test_db.db {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(pool)
            .await
            .expect("cut the connections");
        }
    }

    async fn cleanup(self: Box<Self>) {
        self.test_db.cleanup().await;
    }
}

mod postgres {
    use super::*;

    async fn fixture() -> Box<dyn Fixture> {
        log_over(TestDb::postgres("log_conformance").await)
    }

    herald_testkit::transport_conformance!(fixture);
}

mod sqlite {
    use super::*;

    async fn fixture() -> Box<dyn Fixture> {
        log_over(TestDb::sqlite("log_conformance").await)
    }

    herald_testkit::transport_conformance!(fixture);
}
