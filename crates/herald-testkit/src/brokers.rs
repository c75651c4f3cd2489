//! The test brokers: where they are, and restarting them for outage tests.
//!
//! RabbitMQ and NATS run on every machine of the project (see the README). A test that
//! cannot reach them fails with a message that says how to start them.

use std::process::Command;
use std::time::Duration;

/// The RabbitMQ URL of the tests (`HERALD_TEST_AMQP_URL`, default the local broker).
pub fn amqp_url() -> String {
    std::env::var("HERALD_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The NATS URL of the tests (`HERALD_TEST_NATS_URL`, default the local server).
pub fn nats_url() -> String {
    std::env::var("HERALD_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A name unique to one test, e.g. for exchanges, queues, streams and consumer groups.
pub fn unique(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::now_v7().simple())
}

/// Runs a command to completion, panicking with its output when it fails.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{program}`: {error}"));
    assert!(
        output.status.success(),
        "`{program} {}` failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Stops the RabbitMQ application (the node stays up, connections drop, queues stay).
pub fn stop_rabbitmq() {
    run("rabbitmqctl", &["stop_app"]);
}

/// Starts the RabbitMQ application again and waits until it serves.
pub fn start_rabbitmq() {
    run("rabbitmqctl", &["start_app"]);
    run("rabbitmqctl", &["await_startup"]);
}

/// Stops the NATS server (SIGTERM, then waits for it to exit).
pub fn stop_nats() {
    let _ = Command::new("pkill").args(["-TERM", "-x", "nats-server"]).status();
    for _ in 0..200 {
        let running = Command::new("pgrep")
            .args(["-x", "nats-server"])
            .stdout(std::process::Stdio::null())
            .status();
        if running.is_ok_and(|status| !status.success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nats-server did not stop within 10 s");
}

/// Starts the NATS server the way the machine starts it (JetStream, data in
/// `/var/lib/nats-server`), and waits until it accepts connections.
pub fn start_nats() {
    run(
        "start-stop-daemon",
        &[
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/nats-server",
            "--",
            "-a",
            "127.0.0.1",
            "-p",
            "4222",
            "-js",
            "-sd",
            "/var/lib/nats-server",
            "-l",
            "/var/log/nats-server.log",
        ],
    );
    for _ in 0..200 {
        if std::net::TcpStream::connect("127.0.0.1:4222").is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nats-server did not accept connections within 10 s of starting");
}
