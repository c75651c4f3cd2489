//! Upcasting: events stored in an old version before a deploy are handled by the new
//! version's handler, through chained upcasters (v1 → v2 → v3); a version with no path,
//! or an upcaster that fails, is dead-lettered with a reason that says so.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald_consumer::{
    Consumer, ConsumerConfig, DeadLetterFilter, DeadLetterStore, Handler, HandlerContext,
    HandlerError, Router,
};
use herald_db::Database;
use herald_envelope::{Envelope, Event, EventKind, Limits};
use herald_log::{SqlLog, SqlLogConfig};
use herald_testkit::brokers::unique;
use herald_testkit::{TestDb, wait_until};
use herald_transport::{Message, Publisher};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// Version 1: the amount in cents, currency implied (euros).
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlacedV1 {
    order_id: String,
    amount_cents: i64,
}

/// Version 2: the amount with its currency.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlacedV2 {
    order_id: String,
    amount: Money,
}

/// Version 3: and the sales channel.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlacedV3 {
    order_id: String,
    amount: Money,
    channel: String,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Money {
    cents: i64,
    currency: String,
}

macro_rules! order_placed {
    ($name:ident, $version:expr) => {
        impl Event for $name {
            const TYPE: &'static str = "shop.order_placed";
            const VERSION: u32 = $version;
            const KIND: EventKind = EventKind::Integration;

            fn partition_key(&self) -> String {
                self.order_id.clone()
            }
        }
    };
}

order_placed!(OrderPlacedV1, 1);
order_placed!(OrderPlacedV2, 2);
order_placed!(OrderPlacedV3, 3);

fn v1_to_v2(old: OrderPlacedV1) -> OrderPlacedV2 {
    OrderPlacedV2 {
        order_id: old.order_id,
        amount: Money { cents: old.amount_cents, currency: "EUR".into() },
    }
}

fn v2_to_v3(old: OrderPlacedV2) -> OrderPlacedV3 {
    OrderPlacedV3 { order_id: old.order_id, amount: old.amount, channel: "web".into() }
}

/// Writes what it was handed, and the version its envelope says, to `handled`.
struct Record;

async fn record(
    ctx: HandlerContext<'_, sqlx::Postgres>,
    order_id: &str,
    amount: &Money,
    channel: &str,
) -> Result<(), HandlerError> {
    sqlx::query(
        "INSERT INTO handled (event_id, version, order_id, cents, currency, channel) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ctx.envelope.id.as_uuid())
    .bind(i32::try_from(ctx.envelope.schema_version).unwrap_or(i32::MAX))
    .bind(order_id)
    .bind(amount.cents)
    .bind(&amount.currency)
    .bind(channel)
    .execute(&mut *ctx.tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Handler<OrderPlacedV2, sqlx::Postgres> for Record {
    async fn handle(
        &self,
        event: OrderPlacedV2,
        ctx: HandlerContext<'_, sqlx::Postgres>,
    ) -> Result<(), HandlerError> {
        record(ctx, &event.order_id, &event.amount, "-").await
    }
}

#[async_trait]
impl Handler<OrderPlacedV3, sqlx::Postgres> for Record {
    async fn handle(
        &self,
        event: OrderPlacedV3,
        ctx: HandlerContext<'_, sqlx::Postgres>,
    ) -> Result<(), HandlerError> {
        record(ctx, &event.order_id, &event.amount, &event.channel).await
    }
}

struct Setup {
    test_db: TestDb,
    pool: PgPool,
    log: Arc<SqlLog>,
    group: String,
}

async fn setup() -> Setup {
    let test_db = TestDb::postgres("upcasting").await;
    let Database::Postgres(pool) = test_db.db.clone() else {
        unreachable!("a PostgreSQL test database")
    };
    sqlx::query(
        "CREATE TABLE handled (event_id UUID PRIMARY KEY, version INT NOT NULL, \
         order_id TEXT NOT NULL, cents BIGINT NOT NULL, currency TEXT NOT NULL, channel TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("create handled");
    let config =
        SqlLogConfig { poll_interval: Duration::from_millis(20), ..SqlLogConfig::default() };
    let log = Arc::new(SqlLog::new(test_db.db.clone(), config));
    let id: String = unique("u").chars().filter(char::is_ascii_alphanumeric).collect();
    Setup { test_db, pool, log, group: format!("billing-{}", &id[id.len() - 10..]) }
}

impl Setup {
    /// Stores events in the log, as a relay does, with no consumer running yet.
    async fn store(&self, envelopes: &[Envelope]) {
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
            result.expect("stored");
        }
    }

    /// Deploys a consumer with `router` until `done` holds.
    async fn deploy_until(
        &self,
        router: Router<sqlx::Postgres>,
        what: &str,
        done: &str,
        count: i64,
    ) {
        let consumer =
            Consumer::new(ConsumerConfig::new(self.group.clone()), self.pool.clone(), router);
        let log = Arc::clone(&self.log);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(async move {
            consumer
                .run(log.as_ref(), async { stopped.await.unwrap_or(()) })
                .await
                .expect("consumer runs");
        });
        wait_until(Duration::from_secs(30), what, || async { self.count(done).await == count })
            .await;
        let _ = stop.send(());
        running.await.expect("consumer stopped cleanly");
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.expect("count")
    }

    async fn handled(&self, event: &Envelope) -> (i32, String, i64, String, String) {
        sqlx::query_as(
            "SELECT version, order_id, cents, currency, channel FROM handled WHERE event_id = $1",
        )
        .bind(event.id.as_uuid())
        .fetch_one(&self.pool)
        .await
        .expect("the event was handled")
    }
}

fn v1(order_id: &str, cents: i64) -> Envelope {
    Envelope::from_event("/shop", &OrderPlacedV1 { order_id: order_id.into(), amount_cents: cents })
        .expect("v1 envelope")
}

fn v2(order_id: &str, cents: i64, currency: &str) -> Envelope {
    let amount = Money { cents, currency: currency.into() };
    Envelope::from_event("/shop", &OrderPlacedV2 { order_id: order_id.into(), amount }).expect("v2")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_event_stored_before_the_v2_deploy_is_handled_by_the_v2_handler() {
    let setup = setup().await;
    let old = v1("o-1", 1250);
    setup.store(std::slice::from_ref(&old)).await;

    let router = Router::new()
        .on::<OrderPlacedV2, _>(Record)
        .upcast::<OrderPlacedV1, OrderPlacedV2, _>(v1_to_v2);
    let patterns: Vec<String> = router.patterns().iter().map(ToString::to_string).collect();
    assert!(patterns.contains(&"integration.shop.order_placed.v1".to_owned()), "{patterns:?}");
    let new = v2("o-2", 990, "USD");
    setup.store(std::slice::from_ref(&new)).await;
    setup.deploy_until(router, "both versions handled", "SELECT count(*) FROM handled", 2).await;

    assert_eq!(setup.handled(&old).await, (2, "o-1".into(), 1250, "EUR".into(), "-".into()));
    assert_eq!(setup.handled(&new).await, (2, "o-2".into(), 990, "USD".into(), "-".into()));
    assert_eq!(setup.count("SELECT count(*) FROM herald_dead_letters").await, 0);
    setup.test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upcasters_chain_from_v1_through_v2_to_the_v3_handler() {
    let setup = setup().await;
    let (first, second) = (v1("o-1", 100), v2("o-2", 200, "GBP"));
    setup.store(&[first.clone(), second.clone()]).await;

    let router = Router::new()
        .on::<OrderPlacedV3, _>(Record)
        .upcast::<OrderPlacedV1, OrderPlacedV2, _>(v1_to_v2)
        .upcast::<OrderPlacedV2, OrderPlacedV3, _>(v2_to_v3);
    setup.deploy_until(router, "v1 and v2 handled as v3", "SELECT count(*) FROM handled", 2).await;

    assert_eq!(setup.handled(&first).await, (3, "o-1".into(), 100, "EUR".into(), "web".into()));
    assert_eq!(setup.handled(&second).await, (3, "o-2".into(), 200, "GBP".into(), "web".into()));
    setup.test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_with_no_path_and_a_failing_upcaster_are_dead_lettered_with_the_reason() {
    let setup = setup().await;
    let stranded = v1("o-1", 100);
    let unliftable = v2("o-2", 200, "");
    let fine = v2("o-3", 300, "EUR");
    setup.store(&[stranded.clone(), unliftable.clone(), fine.clone()]).await;

    let router = Router::new()
        .on::<OrderPlacedV3, _>(Record)
        .upcast_json(EventKind::Integration, "shop.order_placed", 2, 3, |mut data| {
            let currency = data.pointer("/amount/currency").and_then(|c| c.as_str()).unwrap_or("");
            if currency.is_empty() {
                return Err("`/amount/currency` is empty; no channel can be inferred".into());
            }
            data["channel"] = "web".into();
            Ok(data)
        })
        .subscribe("integration.shop.order_placed.#".parse().expect("pattern"));
    setup
        .deploy_until(router, "two dead letters", "SELECT count(*) FROM herald_dead_letters", 2)
        .await;
    assert_eq!(setup.count("SELECT count(*) FROM handled").await, 1, "only o-3 was liftable");
    assert_eq!(setup.handled(&fine).await.4, "web");

    let store = DeadLetterStore::new(setup.test_db.db.clone());
    let parked = store.list(&DeadLetterFilter::default()).await.expect("list");
    let reason_of = |event: &Envelope| {
        let letter = parked.iter().find(|l| l.event_id == *event.id.as_uuid()).expect("parked");
        (letter.reason.clone(), letter.error.clone())
    };
    let (reason, error) = reason_of(&stranded);
    assert_eq!(reason, "no_upcast_path");
    assert!(error.contains("`shop.order_placed` v1") && error.contains("v3"), "{error}");
    assert!(error.contains("no upcaster starts there"), "{error}");
    let (reason, error) = reason_of(&unliftable);
    assert_eq!(reason, "rejected");
    assert!(
        error.contains("upcasting `shop.order_placed` v2 → `shop.order_placed` v3 failed"),
        "{error}"
    );
    assert!(error.contains("currency"), "{error}");
    let stored = Envelope::from_json(&parked[0].payload, &Limits::default()).expect("payload");
    assert!(stored.schema_version < 3, "the dead letter keeps the event as it came");
    setup.test_db.cleanup().await;
}
