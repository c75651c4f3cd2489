//! A consuming service whose handler can be broken on purpose, the embedded log between
//! it and the test, and the admin router served on a free port.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use herald_admin::AdminConfig;
use herald_consumer::{Consumer, ConsumerConfig, Handler, HandlerContext, HandlerError, Router};
use herald_db::Database;
use herald_envelope::{Envelope, Event, EventKind};
use herald_http::Credentials;
use herald_log::{SqlLog, SqlLogConfig};
use herald_transport::{Message, Publisher};
use tokio::sync::watch;

pub(crate) const TOKEN: &str = "admin-test-token-0123456789abcdef";
pub(crate) const SERVICE: &str = "billing";

/// The test's event.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Invoiced {
    pub number: u32,
}

impl Event for Invoiced {
    const TYPE: &'static str = "test.invoiced";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;
    fn partition_key(&self) -> String {
        format!("customer-{}", self.number % 3)
    }
}

/// Fails an invoice while `broken` says so for its number: rejects it (straight to the
/// dead-letter queue), or with `retryable`, asks for a retry.
#[derive(Clone)]
pub(crate) struct Billing {
    pub broken: Arc<dyn Fn(u32) -> bool + Send + Sync>,
    pub retryable: bool,
}

#[async_trait]
impl<DB: sqlx::Database> Handler<Invoiced, DB> for Billing {
    async fn handle(
        &self,
        event: Invoiced,
        _ctx: HandlerContext<'_, DB>,
    ) -> Result<(), HandlerError> {
        if (self.broken)(event.number) {
            let message = format!("invoice {} is broken", event.number);
            return Err(if self.retryable {
                HandlerError::retry(message)
            } else {
                HandlerError::dead_letter(message)
            });
        }
        Ok(())
    }
}

/// The log, a running consumer of `SERVICE`, and a way to stop it.
pub(crate) struct Service {
    pub(crate) log: Arc<SqlLog>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Service {
    pub(crate) fn start(db: &Database, billing: Billing) -> Service {
        Service::start_with(db, billing, ConsumerConfig::new(SERVICE))
    }

    /// A consumer with its own settings (a retry policy).
    pub(crate) fn start_with(db: &Database, billing: Billing, config: ConsumerConfig) -> Service {
        let log = Arc::new(SqlLog::new(
            db.clone(),
            SqlLogConfig {
                poll_interval: std::time::Duration::from_millis(20),
                ..SqlLogConfig::default()
            },
        ));
        let (stop, mut stopped) = watch::channel(false);
        let until = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let subscriber = Arc::clone(&log);
        let task = match db.clone() {
            Database::Postgres(pool) => {
                let consumer =
                    Consumer::new(config, pool, Router::new().on::<Invoiced, _>(billing));
                tokio::spawn(async move {
                    consumer.run(subscriber.as_ref(), until).await.expect("consumer");
                })
            }
            Database::Sqlite(sqlite) => {
                let consumer =
                    Consumer::new(config, sqlite.writer, Router::new().on::<Invoiced, _>(billing));
                tokio::spawn(async move {
                    consumer.run(subscriber.as_ref(), until).await.expect("consumer");
                })
            }
        };
        Service { log, stop, task }
    }

    pub(crate) async fn stop(self) {
        self.stop.send_replace(true);
        self.task.await.expect("consumer task");
    }
}

/// Publishes invoices `numbers` to the log.
pub(crate) async fn publish(log: &SqlLog, numbers: impl Iterator<Item = u32>) -> Vec<uuid::Uuid> {
    let messages: Vec<Message> = numbers
        .map(|number| {
            let envelope =
                Envelope::from_event("/billing-test", &Invoiced { number }).expect("envelope");
            Message {
                event_id: *envelope.id.as_uuid(),
                routing_key: envelope.routing_key(),
                partition_key: envelope.partition_key.clone(),
                payload: envelope.to_json(),
            }
        })
        .collect();
    for result in log.publish(&messages).await {
        result.expect("published");
    }
    messages.iter().map(|m| m.event_id).collect()
}

/// Serves the admin router on a free port; returns its base URL.
pub(crate) async fn serve(
    db: &Database,
    log: Arc<SqlLog>,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> String {
    let app = herald_admin::router(AdminConfig {
        db: db.clone(),
        credentials: Credentials::bearer(TOKEN),
        publisher: Some(log),
        relay: None,
        embedded_log: Some(SqlLog::new(db.clone(), SqlLogConfig::default())),
        transport: "embedded log".into(),
        prometheus,
        max_replays: 3,
    })
    .into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// GETs `url` with the token (reading dead letters and journeys needs one).
pub(crate) async fn get_json(url: &str) -> serde_json::Value {
    let response = get_with_token(url).await;
    let status = response.status();
    let body = response.text().await.expect("body");
    assert!(status.is_success(), "GET {url}: {status} {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// GETs `url` with the token; returns the response whatever its status.
pub(crate) async fn get_with_token(url: &str) -> reqwest::Response {
    let request = reqwest::Client::new().get(url).bearer_auth(TOKEN);
    request.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

pub(crate) fn flag(flag: &Arc<AtomicBool>) -> Arc<dyn Fn(u32) -> bool + Send + Sync> {
    let flag = Arc::clone(flag);
    Arc::new(move |_| flag.load(Ordering::Relaxed))
}
