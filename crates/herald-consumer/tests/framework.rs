//! The consumer framework on every transport (embedded log, RabbitMQ, NATS JetStream):
//! dead letters with their reasons and replay with a loop guard, per-key order across
//! eight workers, selective delivery by pattern and CloudEvents SQL filter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use herald_consumer::{
    Consumer, ConsumerConfig, DeadLetterFilter, DeadLetterStore, Handler, HandlerContext,
    HandlerError, RetryPolicy, Router, cesql_filter,
};
use herald_db::Database;
use herald_envelope::{Envelope, Event, EventKind, Limits};
use herald_log::{SqlLog, SqlLogConfig};
use herald_nats::{JetStream, NatsConfig};
use herald_rabbitmq::{RabbitMq, RabbitMqConfig};
use herald_testkit::brokers::{amqp_url, nats_url, unique};
use herald_testkit::{TestDb, wait_until};
use herald_transport::{Message, Publisher, Subscriber, SubscriptionSpec};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Ping {
    key: String,
    n: i64,
    poison: bool,
}

impl Event for Ping {
    const TYPE: &'static str = "test.ping";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        self.key.clone()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Other {
    n: i64,
}

impl Event for Other {
    const TYPE: &'static str = "test.other";
    const VERSION: u32 = 1;
    const KIND: EventKind = EventKind::Integration;

    fn partition_key(&self) -> String {
        "other".into()
    }
}

/// Records each ping in `applied`; poison pings fail until `fixed`.
struct Apply {
    fixed: Arc<AtomicBool>,
}

#[async_trait]
impl Handler<Ping, sqlx::Postgres> for Apply {
    async fn handle(
        &self,
        ping: Ping,
        ctx: HandlerContext<'_, sqlx::Postgres>,
    ) -> Result<(), HandlerError> {
        if ping.poison && !self.fixed.load(Ordering::SeqCst) {
            return Err(HandlerError::retry(format!("poison ping {}", ping.n)));
        }
        sqlx::query("INSERT INTO applied (event_id, key, n) VALUES ($1, $2, $3)")
            .bind(ctx.envelope.id.as_uuid())
            .bind(&ping.key)
            .bind(ping.n)
            .execute(&mut *ctx.tx)
            .await?;
        Ok(())
    }
}

enum Broker {
    Embedded,
    RabbitMq,
    Nats,
}

/// A consumer database and a transport with names of the test's own.
struct Setup {
    test_db: TestDb,
    pool: PgPool,
    publisher: Arc<dyn Publisher>,
    subscriber: Arc<dyn Subscriber>,
    rabbit: Option<Arc<RabbitMq>>,
    nats: Option<Arc<JetStream>>,
    group: String,
}

async fn setup(broker: Broker) -> Setup {
    let test_db = TestDb::postgres("consumer_framework").await;
    let Database::Postgres(pool) = test_db.db.clone() else {
        unreachable!("a PostgreSQL test database")
    };
    sqlx::query("CREATE TABLE applied (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL, key TEXT NOT NULL, n BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .expect("create applied");
    let id: String = unique("t").chars().filter(char::is_ascii_alphanumeric).collect();
    let group = format!("svc-{}", &id[id.len() - 12..]);
    let (publisher, subscriber, rabbit, nats): (Arc<dyn Publisher>, Arc<dyn Subscriber>, _, _) =
        match broker {
            Broker::Embedded => {
                let config = SqlLogConfig {
                    poll_interval: Duration::from_millis(20),
                    ..SqlLogConfig::default()
                };
                let log = Arc::new(SqlLog::new(test_db.db.clone(), config));
                (log.clone(), log, None, None)
            }
            Broker::RabbitMq => {
                let mut config = RabbitMqConfig::new(amqp_url());
                config.exchange = format!("herald.test.{id}");
                config.queue_prefix = format!("herald-test.{id}");
                let rabbit = Arc::new(RabbitMq::new(config));
                (rabbit.clone(), rabbit.clone(), Some(rabbit), None)
            }
            Broker::Nats => {
                let mut config = NatsConfig::new(nats_url());
                config.stream = format!("HERALD_TEST_{id}");
                config.subject_prefix = format!("herald-test-{id}");
                let nats = Arc::new(JetStream::new(config));
                (nats.clone(), nats.clone(), None, Some(nats))
            }
        };
    Setup { test_db, pool, publisher, subscriber, rabbit, nats, group }
}

impl Setup {
    async fn cleanup(self) {
        if let Some(rabbit) = &self.rabbit {
            rabbit.delete_topology(&[&self.group]).await.expect("delete queues");
        }
        if let Some(nats) = &self.nats {
            nats.delete_stream().await.expect("delete stream");
        }
        self.test_db.cleanup().await;
    }

    /// Starts a consumer; returns its stop switch and join handle. The group's topology
    /// is declared first, as a deployment does, so that nothing published is unrouted.
    async fn start(&self, config: ConsumerConfig, router: Router<sqlx::Postgres>) -> Running {
        if let Some(rabbit) = &self.rabbit {
            let spec = SubscriptionSpec {
                group: config.name.clone(),
                member: config.member.clone(),
                patterns: router.patterns().to_vec(),
            };
            rabbit.declare_group(&spec).await.expect("declare the group's queue");
        }
        let consumer = Consumer::new(config, self.pool.clone(), router);
        let subscriber = Arc::clone(&self.subscriber);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            consumer
                .run(subscriber.as_ref(), async { stopped.await.unwrap_or(()) })
                .await
                .expect("consumer runs");
        });
        Running { stop, handle }
    }

    async fn publish(&self, envelopes: &[Envelope]) {
        let messages: Vec<Message> = envelopes.iter().map(message).collect();
        for result in self.publisher.publish(&messages).await {
            result.expect("published");
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.expect("count")
    }

    async fn wait_for(&self, sql: &str, expected: i64) {
        wait_until(Duration::from_secs(30), sql, || async { self.count(sql).await == expected })
            .await;
    }

    fn dead_letters(&self) -> DeadLetterStore {
        DeadLetterStore::new(self.test_db.db.clone())
    }
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle.await.expect("consumer stopped cleanly");
    }
}

fn message(envelope: &Envelope) -> Message {
    Message {
        event_id: *envelope.id.as_uuid(),
        routing_key: envelope.routing_key(),
        partition_key: envelope.partition_key.clone(),
        payload: envelope.encode(&Limits::default()).expect("encode"),
    }
}

fn ping(source: &str, key: &str, n: i64, poison: bool) -> Envelope {
    let envelope =
        Envelope::from_event(source, &Ping { key: key.into(), n, poison }).expect("envelope");
    envelope.with_sequence(format!("{n:012}"))
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        immediate: 1,
        delayed: 2,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        jitter: 0.0,
    }
}

fn config(setup: &Setup) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(setup.group.clone());
    config.retry = quick_retries();
    config
}

/// A poison event is dead-lettered after every attempt, with the reasons; replay after
/// the fix applies it once; the replay counter stops endless replays.
async fn poison_event_dead_letter_and_replay(broker: Broker) {
    let setup = setup(broker).await;
    let fixed = Arc::new(AtomicBool::new(false));
    let router = Router::new().on::<Ping, _>(Apply { fixed: Arc::clone(&fixed) });
    let running = setup.start(config(&setup), router).await;
    let mut events: Vec<Envelope> = (0..10).map(|n| ping("/orders", "k", n, false)).collect();
    events[4] = ping("/orders", "k", 4, true);
    let poison_id = *events[4].id.as_uuid();
    setup.publish(&events).await;
    setup.wait_for("SELECT count(*) FROM herald_dead_letters", 1).await;
    setup.wait_for("SELECT count(*) FROM applied", 9).await;

    let store = setup.dead_letters();
    let filter =
        DeadLetterFilter { service: Some(setup.group.clone()), ..DeadLetterFilter::default() };
    let parked = store.list(&filter).await.expect("list");
    assert_eq!(parked.len(), 1);
    let letter = &parked[0];
    assert_eq!(letter.event_id, poison_id);
    assert_eq!(letter.reason, "handler_failed");
    assert_eq!(letter.attempts, 6, "(1 + 2 delayed) deliveries × (1 + 1 immediate) runs");
    assert!(letter.error.contains("poison ping 4"), "{}", letter.error);
    assert!(letter.handler.as_deref().is_some_and(|h| h.contains("Apply")), "{:?}", letter.handler);
    assert_eq!(letter.routing_key, "integration.test.ping.v1");
    assert_eq!(letter.event_type.as_deref(), Some("test.ping"));
    assert!(letter.first_failed_at < letter.last_failed_at, "first and last failure times");

    let dry = store.replay(setup.publisher.as_ref(), &filter, 2, true).await.expect("dry run");
    assert_eq!(dry.replayed, vec![letter.id]);
    assert_eq!(store.list(&filter).await.expect("list").len(), 1, "a dry run changes nothing");

    fixed.store(true, Ordering::SeqCst);
    let report = store.replay(setup.publisher.as_ref(), &filter, 2, false).await.expect("replay");
    assert_eq!(report.replayed, vec![letter.id]);
    setup.wait_for("SELECT count(*) FROM applied", 10).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM applied WHERE event_id = $1")
        .bind(poison_id)
        .fetch_one(&setup.pool)
        .await
        .expect("count");
    assert_eq!(applied, 1, "the replayed event is applied once");
    assert!(store.list(&filter).await.expect("list").is_empty(), "nothing dead any more");

    // The loop guard: an event that keeps failing is replayed at most twice.
    fixed.store(false, Ordering::SeqCst);
    setup.publish(&[ping("/orders", "k", 99, true)]).await;
    for replays in 0..2 {
        setup.wait_for("SELECT count(*) FROM herald_dead_letters WHERE status = 'dead'", 1).await;
        let report =
            store.replay(setup.publisher.as_ref(), &filter, 2, false).await.expect("replay");
        assert_eq!(report.replayed.len(), 1, "replay number {}", replays + 1);
    }
    setup.wait_for("SELECT count(*) FROM herald_dead_letters WHERE status = 'dead'", 1).await;
    let report = store.replay(setup.publisher.as_ref(), &filter, 2, false).await.expect("replay");
    assert!(report.replayed.is_empty(), "no third replay");
    assert_eq!(report.over_limit.len(), 1, "the loop guard names it");
    running.stop().await;
    setup.cleanup().await;
}

/// Eight workers never reorder the events of one key.
async fn order_per_key_with_eight_workers(broker: Broker) {
    let setup = setup(broker).await;
    let router = Router::new().on::<Ping, _>(Apply { fixed: Arc::new(AtomicBool::new(true)) });
    let mut config = config(&setup);
    config.workers = 8;
    let running = setup.start(config, router).await;
    let events: Vec<Envelope> =
        (0..2000).map(|n| ping("/orders", &format!("key-{}", n % 20), n, false)).collect();
    for chunk in events.chunks(250) {
        setup.publish(chunk).await;
    }
    setup.wait_for("SELECT count(*) FROM applied", 2000).await;
    let reordered: i64 = setup
        .count(
            "SELECT count(*) FROM (SELECT n, lag(n) OVER (PARTITION BY key ORDER BY seq) AS before \
             FROM applied) AS a WHERE before >= n",
        )
        .await;
    assert_eq!(reordered, 0, "per key, strictly increasing in the order applied");
    assert_eq!(setup.count("SELECT count(DISTINCT key) FROM applied").await, 20);
    running.stop().await;
    setup.cleanup().await;
}

/// A consumer gets exactly the types its patterns select and its CESQL filter keeps.
async fn selective_types_and_cesql_filter(broker: Broker) {
    let setup = setup(broker).await;
    let router = Router::new().on::<Ping, _>(Apply { fixed: Arc::new(AtomicBool::new(true)) });
    let mut config = config(&setup);
    let expression = "source = '/orders' AND eventkind = 'integration' AND schemaversion = 1";
    config.filter = Some(cesql_filter(expression.parse().expect("CESQL")));
    let running = setup.start(config, router).await;
    let mut events = Vec::new();
    for n in 0..10 {
        events.push(ping("/orders", "k", n, false));
        events.push(ping("/billing", "k", 100 + n, false));
        events.push(Envelope::from_event("/orders", &Other { n }).expect("envelope"));
    }
    setup.publish(&events).await;
    let last = ping("/orders", "k", 10, false);
    setup.publish(std::slice::from_ref(&last)).await;
    setup.wait_for("SELECT count(*) FROM applied", 11).await;
    let outside: i64 = setup.count("SELECT count(*) FROM applied WHERE n >= 100").await;
    assert_eq!(outside, 0, "the filter kept the /billing pings out");
    assert_eq!(
        setup.count("SELECT count(*) FROM herald_dead_letters").await,
        0,
        "`test.other` never arrived"
    );
    running.stop().await;
    setup.cleanup().await;
}

/// A delivery that is not an event is dead-lettered, not retried forever.
async fn undecodable_is_dead_lettered(broker: Broker) {
    let setup = setup(broker).await;
    let router = Router::new().on::<Ping, _>(Apply { fixed: Arc::new(AtomicBool::new(true)) });
    let running = setup.start(config(&setup), router).await;
    let garbage = Message {
        event_id: uuid::Uuid::now_v7(),
        routing_key: "integration.test.ping.v1".into(),
        partition_key: "k".into(),
        payload: b"{\"not\": \"an event\"}".to_vec(),
    };
    for result in setup.publisher.publish(std::slice::from_ref(&garbage)).await {
        result.expect("published");
    }
    setup.publish(&[ping("/orders", "k", 1, false)]).await;
    setup.wait_for("SELECT count(*) FROM applied", 1).await;
    setup
        .wait_for("SELECT count(*) FROM herald_dead_letters WHERE reason = 'undecodable'", 1)
        .await;
    let parked = setup.dead_letters().list(&DeadLetterFilter::default()).await.expect("list");
    assert_eq!(parked[0].event_id, garbage.event_id);
    assert!(
        parked[0].error.contains("specversion") || parked[0].error.contains("missing"),
        "{}",
        parked[0].error
    );
    running.stop().await;
    setup.cleanup().await;
}

macro_rules! on_every_transport {
    ($($case:ident),+) => {
        mod embedded { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { super::$case(Broker::Embedded).await } )+ }
        mod rabbitmq { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { super::$case(Broker::RabbitMq).await } )+ }
        mod nats { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $case() { super::$case(Broker::Nats).await } )+ }
    };
}

on_every_transport!(
    poison_event_dead_letter_and_replay,
    order_per_key_with_eight_workers,
    selective_types_and_cesql_filter,
    undecodable_is_dead_lettered
);

/// Notes each handler call it wraps, on the way in and out, with the outcome.
struct Recording {
    name: &'static str,
    calls: Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait]
impl herald_consumer::HandlerLayer<sqlx::Postgres> for Recording {
    async fn call(
        &self,
        ctx: HandlerContext<'_, sqlx::Postgres>,
        next: herald_consumer::Next<'_, sqlx::Postgres>,
    ) -> Result<(), HandlerError> {
        let note = |text: String| self.calls.lock().expect("calls").push(text);
        note(format!("{} > {}", self.name, ctx.envelope.event_type));
        let result = next.run(ctx).await;
        note(format!("{} < {}", self.name, if result.is_ok() { "ok" } else { "failed" }));
        result
    }
}

/// Layers added with `Router::layer` run around every handler call, the first added
/// outermost, and see each call's outcome, failures included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_wrap_every_handler_call_first_added_outermost() {
    let setup = setup(Broker::Embedded).await;
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let router = Router::new()
        .on::<Ping, _>(Apply { fixed: Arc::new(AtomicBool::new(false)) })
        .layer(Recording { name: "outer", calls: Arc::clone(&calls) })
        .layer(Recording { name: "inner", calls: Arc::clone(&calls) });
    let mut config = config(&setup);
    config.retry = RetryPolicy { immediate: 0, delayed: 0, ..quick_retries() };
    let running = setup.start(config, router).await;
    // One at a time: in one window, a failure makes the consumer run the window's
    // other events again (each in a savepoint), and the layers would see those runs too.
    setup.publish(&[ping("/orders", "k", 1, false)]).await;
    setup.wait_for("SELECT count(*) FROM applied", 1).await;
    setup.publish(&[ping("/orders", "k", 2, true)]).await;
    setup.wait_for("SELECT count(*) FROM herald_dead_letters", 1).await;
    running.stop().await;
    let calls = calls.lock().expect("calls").clone();
    let one_call = |outcome: &str| {
        vec![
            "outer > test.ping".to_owned(),
            "inner > test.ping".to_owned(),
            format!("inner < {outcome}"),
            format!("outer < {outcome}"),
        ]
    };
    let mut expected = one_call("ok");
    expected.extend(one_call("failed"));
    assert_eq!(calls, expected, "one applied and one failed call, each wrapped in both layers");
    setup.cleanup().await;
}
