//! Shared pieces of the end-to-end tests: relay and `herald up` processes, an in-test
//! consumer, counting.

#![allow(dead_code)]

pub(crate) mod chaos;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc;
use std::time::Duration;

use herald_bench::workload::{RecordOrder, Tracker, Verification};
use herald_consumer::{Consumer, ConsumerConfig, ConsumerStats, Router};
use herald_db::Database;
use herald_log::{SqlLog, SqlLogConfig};
use herald_transport::Subscriber;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts `herald relay` as a child process.
/// `pause_before_mark_ms` widens the window in which a kill leaves published rows unmarked.
pub(crate) fn spawn_relay(url: &str, relay_id: &str, pause_before_mark_ms: u64) -> Child {
    spawn_relay_with(url, relay_id, pause_before_mark_ms, &[])
}

/// Starts `herald relay` with extra arguments (`--broker`, `--namespace`, …).
pub(crate) fn spawn_relay_with(
    url: &str,
    relay_id: &str,
    pause_before_mark_ms: u64,
    extra: &[&str],
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["relay", "--database", url, "--relay-id", relay_id, "--poll-interval-ms", "100"])
        .args(["--pause-before-mark-ms", &pause_before_mark_ms.to_string()])
        .args(if extra.contains(&"--retention-secs") {
            &[][..]
        } else {
            &["--retention-secs", "0"][..]
        })
        .args(extra)
        .env("HERALD_LOG", std::env::var("HERALD_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .stderr(child_stderr())
        .spawn()
        .expect("start herald relay")
}

/// Children's logs reach the test output when `HERALD_TEST_LOG` is set (e.g. `info`).
pub(crate) fn child_stderr() -> Stdio {
    if std::env::var_os("HERALD_TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() }
}

/// A child process killed when the guard drops, so that a failing test leaves none behind.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills a child with SIGKILL and reaps it.
pub(crate) fn kill_hard(child: &mut Child) {
    child.kill().expect("SIGKILL the relay");
    child.wait().expect("reap the relay");
}

/// A consumer running in the test process.
pub(crate) struct TestConsumer {
    pub(crate) stats: Arc<ConsumerStats>,
    pub(crate) tracker: Arc<Tracker>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TestConsumer {
    pub(crate) fn start(db: &Database, run: &str) -> TestConsumer {
        let log = SqlLog::new(
            db.clone(),
            SqlLogConfig { poll_interval: Duration::from_millis(20), ..SqlLogConfig::default() },
        );
        TestConsumer::start_on(db, run, Arc::new(log))
    }

    /// A consumer of `shipping` on the given transport.
    pub(crate) fn start_on(
        db: &Database,
        run: &str,
        subscriber: Arc<dyn Subscriber>,
    ) -> TestConsumer {
        let tracker = Arc::new(Tracker::new(run));
        let (stop, mut stopped) = watch::channel(false);
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let record = RecordOrder::new(Arc::clone(&tracker));
        let config = ConsumerConfig::new("shipping");
        let (stats, task) = match db.clone() {
            Database::Postgres(pool) => {
                let consumer = Consumer::new(config, pool, Router::new().on(record));
                let stats = consumer.stats();
                (
                    stats,
                    tokio::spawn(async move {
                        consumer.run(subscriber.as_ref(), shutdown).await.expect("consumer runs")
                    }),
                )
            }
            Database::Sqlite(sqlite) => {
                let consumer = Consumer::new(config, sqlite.writer, Router::new().on(record));
                let stats = consumer.stats();
                (
                    stats,
                    tokio::spawn(async move {
                        consumer.run(subscriber.as_ref(), shutdown).await.expect("consumer runs")
                    }),
                )
            }
        };
        TestConsumer { stats, tracker, stop, task }
    }

    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        self.task.await.expect("consumer task");
    }
}

/// Produces `events` orders with `producers` tasks as fast as possible.
pub(crate) fn produce(
    db: &Database,
    run: &str,
    events: u64,
    producers: u64,
    produced: &Arc<AtomicU64>,
) -> JoinHandle<u64> {
    let task = herald_cli::chaos::produce(db, run, events, producers, produced).expect("outbox");
    tokio::spawn(async move { task.await.expect("producer tasks").expect("produce") })
}

/// Waits until the producers have committed at least `threshold` orders.
pub(crate) async fn wait_for_produced(produced: &AtomicU64, threshold: u64) {
    herald_testkit::wait_until(
        Duration::from_secs(180),
        "producers to reach the next kill point",
        || {
            let produced = produced.load(std::sync::atomic::Ordering::Relaxed);
            async move { produced >= threshold }
        },
    )
    .await;
}

/// Waits until every produced order was applied (or `timeout`), then returns the verdict.
pub(crate) async fn settle(db: &Database, run: &str, timeout: Duration) -> Verification {
    herald_cli::chaos::settle(db, run, timeout).await.expect("verify")
}

/// A running `herald up`, killed if the test fails before stopping it.
pub(crate) struct Up {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) stderr: mpsc::Receiver<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `herald up` on a free port and waits for its announcement.
pub(crate) fn start_up(database: &str, extra: &[&str]) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["up", "--listen", "127.0.0.1:0", "--database", database])
        .args(extra)
        .env_remove("HERALD_API_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald up");
    let (lines, stderr) = mpsc::channel();
    let pipe = child.stderr.take();
    // From here a failing test drops `up`, which kills and reaps the child.
    let mut up = Up { child, base: String::new(), stderr };
    let pipe = pipe.expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = up
            .stderr
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("herald up did not announce itself: {seen:?}"));
        if let Some(address) = line.strip_prefix("Herald is up on ") {
            up.base = address.trim().to_owned();
            return up;
        }
        seen.push(line);
    }
}
