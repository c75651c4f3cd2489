//! `herald chaos --scenario database-restart` on PostgreSQL, with the commands an operator
//! of this machine would give (`pg_ctlcluster … stop -m fast`, then `start`): producers,
//! the relays and the consumer ride out the outage, nothing is lost or applied twice. A
//! test binary of its own, so that no other test uses PostgreSQL while it is down.

mod common;

use std::process::Command;

use common::chaos::{assert_held, chaos};
use herald_testkit::TestDb;
use herald_testkit::brokers::{amqp_url, unique};

/// `pg_ctlcluster` for this machine's one cluster (`/etc/postgresql/<version>/main`).
fn pg_ctlcluster(action: &str) -> String {
    format!("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main {action}")
}

/// Starts PostgreSQL again if a failed run left it stopped, so that later tests find it.
struct StartsPostgresOnDrop;

impl Drop for StartsPostgresOnDrop {
    fn drop(&mut self) {
        // "Cluster is already running" is fine: this only mends a failed run.
        let _ = Command::new("sh").args(["-c", &pg_ctlcluster("start")]).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_loses_nothing() {
    let _mend = StartsPostgresOnDrop;
    let test = TestDb::postgres("chaos_restart_postgres").await;
    let namespace = unique("chaos").replace('_', "-");
    let restart = [
        "--database-stop-cmd",
        &pg_ctlcluster("stop -m fast"),
        "--database-start-cmd",
        &pg_ctlcluster("start"),
    ];
    // The embedded log in PostgreSQL, then RabbitMQ between relay and consumer.
    let through_rabbitmq = ["--broker", &amqp_url(), "--namespace", &namespace];
    for broker in [&[][..], &through_rabbitmq[..]] {
        let report = chaos("database-restart", &test.url, &[&restart[..], broker].concat());
        assert_held("database-restart", &report);
        // The fault reached the producers: their transactions failed and were tried again.
        let retries = report["producer_retries"].as_u64().expect("producer_retries");
        assert!(retries > 0, "no producer transaction failed while PostgreSQL was down: {report}");
    }
    test.cleanup().await;
}
