//! `herald chaos --scenario broker-restart`, with the commands an operator of this machine
//! would give: RabbitMQ's application stopped and started (`rabbitmqctl`), the NATS server
//! terminated and started again with its JetStream store. A test binary of its own, so
//! that no other test uses a broker while it is down.

mod common;

use common::chaos::{assert_held, chaos};
use herald_testkit::TestDb;
use herald_testkit::brokers::{amqp_url, nats_url, unique};

/// Waits (at most 10 s) until something accepts connections on 127.0.0.1:`port`.
fn until_listening(port: u16) -> String {
    format!(
        "for i in $(seq 200); do bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null \
         && exit 0; sleep 0.05; done; echo 'port {port} did not open' >&2; exit 1"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_restart_loses_nothing() {
    let test = TestDb::postgres("chaos_restart_rabbitmq").await;
    let namespace = unique("chaos").replace('_', "-");
    let args = [
        "--broker",
        &amqp_url(),
        "--namespace",
        &namespace,
        "--broker-stop-cmd",
        "rabbitmqctl stop_app",
        "--broker-start-cmd",
        "rabbitmqctl start_app && rabbitmqctl await_startup",
    ];
    assert_held("broker-restart", &chaos("broker-restart", &test.url, &args));
    test.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_loses_nothing() {
    let test = TestDb::postgres("chaos_restart_nats").await;
    let namespace = unique("chaos").replace('_', "-");
    let stop = "pkill -TERM -x nats-server; \
                while pgrep -x nats-server > /dev/null; do sleep 0.05; done";
    let start = format!(
        "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
         -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log && {}",
        until_listening(4222)
    );
    let args = [
        "--broker",
        &nats_url(),
        "--namespace",
        &namespace,
        "--broker-stop-cmd",
        stop,
        "--broker-start-cmd",
        &start,
    ];
    assert_held("broker-restart", &chaos("broker-restart", &test.url, &args));
    test.cleanup().await;
}
