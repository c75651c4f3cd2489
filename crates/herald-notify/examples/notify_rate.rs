//! The notification service's throughput: N notifications (100 recipients per event)
//! published to the embedded log, planned by the consumer, sent by the dispatcher to a
//! local receiver, and every one accounted for in `herald_notifications`.
//!
//! `cargo run --release -p herald-notify --example notify_rate -- webhook 10000`
//! `cargo run --release -p herald-notify --example notify_rate -- email 10000` (needs
//! `python3 -m pip install aiosmtpd`; the server is aiosmtpd with its `Sink` handler)
//!
//! The webhook receiver verifies every signature. Latency is each row's planned → sent.
#![allow(clippy::disallowed_methods)] // its webhook receiver here are not Herald APIs

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use herald_channels::{
    Channel, ChannelKind, SmtpConfig, SmtpProvider, SmtpTls, WebhookConfig, WebhookProvider,
};
use herald_consumer::{Consumer, ConsumerConfig, Router};
use herald_db::{Database, DatabaseOptions};
use herald_envelope::{Envelope, Limits};
use herald_http::Secret;
use herald_log::{SqlLog, SqlLogConfig};
use herald_notify::{
    Dispatcher, DispatcherConfig, NotificationRequest, NotifyHandler, Priority, RecipientRef,
    TemplateStore,
};
use herald_transport::{Message, Publisher};
use tokio::sync::Notify;

type Error = Box<dyn std::error::Error + Send + Sync>;

const PER_EVENT: usize = 100;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let channel = args.next().unwrap_or_else(|| "webhook".into());
    let total: usize = args.next().map_or(Ok(10_000), |n| n.parse())?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("notify.db").display());
    let db = Database::connect(
        &url,
        &DatabaseOptions { max_connections: 8, ..DatabaseOptions::default() },
    )
    .await?;
    let (channel, recipient, _server): (Channel, Box<dyn Fn(usize) -> RecipientRef>, Server) =
        match channel.as_str() {
            "webhook" => webhook().await?,
            "email" => email().await?,
            other => return Err(format!("`{other}` is not webhook or email").into()),
        };
    let kind = channel.kind().to_string();
    TemplateStore::new(db.clone())
        .save(
            "bench",
            &kind,
            "en",
            Some("Order {{ order_id }}"),
            "Your order {{ order_id }} shipped.",
            None,
        )
        .await?;

    let log = Arc::new(SqlLog::new(
        db.clone(),
        SqlLogConfig { poll_interval: Duration::from_millis(5), ..SqlLogConfig::default() },
    ));
    let wake = Arc::new(Notify::new());
    let handler = NotifyHandler::new(db.clone(), &[kind.as_str()], Arc::clone(&wake));
    let Database::Sqlite(sqlite) = db.clone() else { unreachable!("SQLite") };
    let router = Router::<sqlx::Sqlite>::new().on_pattern("notification.#".parse()?, handler);
    let consumer = Consumer::new(ConsumerConfig::new("notify"), sqlite.writer.clone(), router);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let consuming = {
        let (log, stopped) = (Arc::clone(&log), stopped.clone());
        tokio::spawn(async move { consumer.run(log.as_ref(), until(stopped)).await.map(|_| ()) })
    };
    let config = DispatcherConfig {
        poll_interval: Duration::from_millis(20),
        ..DispatcherConfig::default()
    };
    let dispatcher = Dispatcher::new(db.clone(), config, wake).with_channel(channel);
    let dispatching = tokio::spawn(dispatcher.run(until(stopped)));

    let started = Instant::now();
    let events: Vec<Envelope> = (0..total.div_ceil(PER_EVENT))
        .map(|event| {
            let recipients = (0..PER_EVENT)
                .map(|i| event * PER_EVENT + i)
                .filter(|n| *n < total)
                .map(&recipient)
                .collect();
            let request = NotificationRequest {
                template: "bench".into(),
                recipients,
                channels: None,
                category: None,
                data: serde_json::json!({ "order_id": format!("o-{event}") }),
                idempotency_key: None,
                priority: Priority::Normal,
            };
            Envelope::from_event("/bench", &request)
        })
        .collect::<Result<_, _>>()?;
    let messages: Vec<Message> = events
        .iter()
        .map(|e| Message {
            event_id: *e.id.as_uuid(),
            routing_key: e.routing_key(),
            partition_key: e.partition_key.clone(),
            payload: e.encode(&Limits::default()).unwrap_or_default(),
        })
        .collect();
    for result in log.publish(&messages).await {
        result?;
    }
    let done = wait_for_all(&sqlite.reader, total, started).await?;
    let _ = stop.send(true);
    consuming.await??;
    dispatching.await??;
    report(&sqlite.reader, &kind, total, done).await
}

async fn wait_for_all(
    pool: &sqlx::SqlitePool,
    total: usize,
    started: Instant,
) -> Result<Duration, Error> {
    let mut last_print = Instant::now();
    loop {
        let settled: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM herald_notifications WHERE status IN ('sent', 'failed')",
        )
        .fetch_one(pool)
        .await?;
        if settled as usize >= total {
            return Ok(started.elapsed());
        }
        if last_print.elapsed() > Duration::from_secs(1) {
            eprintln!("  {settled}/{total} settled after {:.1} s", started.elapsed().as_secs_f64());
            last_print = Instant::now();
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("only {settled} of {total} settled in 300 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn report(
    pool: &sqlx::SqlitePool,
    kind: &str,
    total: usize,
    took: Duration,
) -> Result<(), Error> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM herald_notifications GROUP BY status ORDER BY status",
    )
    .fetch_all(pool)
    .await?;
    let mut latencies: Vec<i64> = sqlx::query_scalar(
        "SELECT sent_at - created_at FROM herald_notifications WHERE status = 'sent' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0) as f64
            / 1000.0
    };
    let accounted: i64 = counts.iter().map(|(_, n)| n).sum();
    println!(
        "{total} {kind} notifications in {:.2} s ({:.0}/s); rows: {accounted} ({counts:?}); planned→sent p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    if accounted as usize != total {
        return Err(format!("{accounted} rows for {total} notifications").into());
    }
    Ok(())
}

enum Server {
    Http,
    Smtp(std::process::Child),
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Smtp(child) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn webhook() -> Result<(Channel, Box<dyn Fn(usize) -> RecipientRef>, Server), Error> {
    let secret = Secret::generate();
    let verified = Arc::new(AtomicU64::new(0));
    let check = (Arc::new(secret.clone()), Arc::clone(&verified));
    let app = axum::Router::new()
        .route(
            "/hook/{n}",
            axum::routing::post(
                |axum::extract::State((secret, verified)): axum::extract::State<(
                    Arc<Secret>,
                    Arc<AtomicU64>,
                )>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    if herald_http::verify(&secret, &headers, &body).is_err() {
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    verified.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(check);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let provider = WebhookProvider::new(&WebhookConfig {
        allow_private_endpoints: true, // the receiver is on 127.0.0.1
        ..WebhookConfig::new(secret.expose())
    })?;
    let channel = Channel::new(ChannelKind::Webhook).with_provider(Arc::new(provider), None);
    Ok((channel, Box::new(move |n| RecipientRef::Webhook(format!("{base}/{n}"))), Server::Http))
}

async fn email() -> Result<(Channel, Box<dyn Fn(usize) -> RecipientRef>, Server), Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    // aiosmtpd's `Sink` handler accepts and drops every message: the tests' server parses
    // and writes each one to a file, which in Python costs more than Herald's sending.
    let listen = format!("127.0.0.1:{port}");
    let child = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &listen, "-c", "aiosmtpd.handlers.Sink"])
        .spawn()?;
    let server = Server::Smtp(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            return Err("the SMTP server did not start (is aiosmtpd installed?)".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut config = SmtpConfig::new("127.0.0.1", "bench@herald.test");
    config.port = port;
    config.tls = SmtpTls::None;
    config.pool_size = 8;
    let channel =
        Channel::new(ChannelKind::Email).with_provider(Arc::new(SmtpProvider::new(&config)?), None);
    Ok((channel, Box::new(|n| RecipientRef::Email(format!("customer{n}@shop.test"))), server))
}
