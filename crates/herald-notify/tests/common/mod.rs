//! A notification service under test: a consumer on `notification.#` over the embedded
//! log, its planner, and a dispatcher with the channels a test gives.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use herald_channels::Channel;
use herald_consumer::{Consumer, ConsumerConfig, Router};
use herald_db::Database;
use herald_envelope::{Envelope, Limits};
use herald_log::{SqlLog, SqlLogConfig};
use herald_notify::{
    Delivery, DeliveryFilter, Dispatcher, DispatcherConfig, NotificationRequest, NotificationStore,
    NotifyHandler, RecipientStore, TemplateStore,
};
use herald_testkit::{TestDb, wait_until};
use herald_transport::{Message, Publisher};
use tokio::sync::Notify;

pub struct Service {
    pub test_db: TestDb,
    pub log: Arc<SqlLog>,
    pub recipients: RecipientStore,
    pub templates: TemplateStore,
    pub deliveries: NotificationStore,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Service {
    pub async fn new(test_db: TestDb) -> Service {
        let config =
            SqlLogConfig { poll_interval: Duration::from_millis(20), ..SqlLogConfig::default() };
        let log = Arc::new(SqlLog::new(test_db.db.clone(), config));
        Service {
            recipients: RecipientStore::new(test_db.db.clone()),
            templates: TemplateStore::new(test_db.db.clone()),
            deliveries: NotificationStore::new(test_db.db.clone()),
            test_db,
            log,
            stops: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Starts the consumer (planning) and a dispatcher with `channels`.
    pub fn start(&mut self, channels: Vec<Channel>) {
        let wake = Arc::new(Notify::new());
        let names: Vec<String> = channels.iter().map(|c| c.kind().to_string()).collect();
        let configured: Vec<&str> = names.iter().map(String::as_str).collect();
        let handler = NotifyHandler::new(self.test_db.db.clone(), &configured, Arc::clone(&wake));
        let pattern = "notification.#".parse().expect("pattern");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let log = Arc::clone(&self.log);
        let task = match self.test_db.db.clone() {
            Database::Postgres(pool) => {
                let router = Router::<sqlx::Postgres>::new().on_pattern(pattern, handler);
                let consumer = Consumer::new(ConsumerConfig::new("notify"), pool, router);
                tokio::spawn(async move {
                    consumer
                        .run(log.as_ref(), async { stopped.await.unwrap_or(()) })
                        .await
                        .expect("consumer");
                })
            }
            Database::Sqlite(sqlite) => {
                let router = Router::<sqlx::Sqlite>::new().on_pattern(pattern, handler);
                let consumer =
                    Consumer::new(ConsumerConfig::new("notify"), sqlite.writer.clone(), router);
                tokio::spawn(async move {
                    consumer
                        .run(log.as_ref(), async { stopped.await.unwrap_or(()) })
                        .await
                        .expect("consumer");
                })
            }
        };
        self.stops.push(stop);
        self.tasks.push(task);
        let config = DispatcherConfig {
            poll_interval: Duration::from_millis(20),
            first_delay: Duration::from_millis(50),
            max_attempts: 3,
            ..DispatcherConfig::default()
        };
        let mut dispatcher = Dispatcher::new(self.test_db.db.clone(), config, wake);
        for channel in channels {
            dispatcher = dispatcher.with_channel(channel);
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stops.push(stop);
        self.tasks.push(tokio::spawn(async move {
            dispatcher.run(async { stopped.await.unwrap_or(()) }).await.expect("dispatcher");
        }));
    }

    /// Publishes notification events to the log, as a relay does.
    pub async fn publish(&self, envelopes: &[Envelope]) {
        let messages: Vec<Message> = envelopes
            .iter()
            .map(|envelope| Message {
                event_id: *envelope.id.as_uuid(),
                routing_key: envelope.routing_key(),
                partition_key: envelope.partition_key.clone(),
                payload: envelope.encode(&Limits::default()).expect("encode"),
            })
            .collect();
        for result in self.log.publish(&messages).await {
            result.expect("published");
        }
    }

    pub async fn notify(&self, request: &NotificationRequest) -> Envelope {
        let envelope = Envelope::from_event("/shop", request).expect("envelope");
        self.publish(std::slice::from_ref(&envelope)).await;
        envelope
    }

    /// Waits until `count` deliveries of `event` are in a final or held state.
    pub async fn settled(&self, event: &Envelope, count: usize) -> Vec<Delivery> {
        let filter =
            DeliveryFilter { event_id: Some(*event.id.as_uuid()), ..DeliveryFilter::default() };
        wait_until(Duration::from_secs(30), "deliveries settled", || async {
            let found = self.deliveries.list(&filter).await.expect("list");
            found.len() == count
                && found.iter().all(|d| !matches!(d.status.as_str(), "pending" | "sending"))
        })
        .await;
        let mut found = self.deliveries.list(&filter).await.expect("list");
        found.sort_by(|a, b| (&a.recipient, &a.channel).cmp(&(&b.recipient, &b.channel)));
        found
    }

    /// Waits until the delivery `id` is in `status`.
    pub async fn reaches(&self, id: uuid::Uuid, status: herald_notify::DeliveryStatus) -> Delivery {
        wait_until(Duration::from_secs(30), status.as_str(), || async {
            self.deliveries.get(id).await.expect("get").status == status
        })
        .await;
        self.deliveries.get(id).await.expect("get")
    }

    pub async fn stop(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            task.await.expect("stopped cleanly");
        }
        self.test_db.cleanup().await;
    }
}
