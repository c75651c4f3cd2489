//! Domain events in the business transaction: in-process handlers update a read model,
//! only translated events reach the outbox, and a failing handler leaves nothing behind.

use async_trait::async_trait;
use herald_db::Database;
use herald_domain::{DomainBus, DomainError, DomainHandler, Raised};
use herald_envelope::{Event, EventKind};
use herald_outbox::{Outbox, OutboxConfig};
use herald_testkit::TestDb;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderPlaced {
    order_id: String,
    customer: String,
    cents: i64,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct NoteAdded {
    order_id: String,
    note: String,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderAccepted {
    order_id: String,
    cents: i64,
}

macro_rules! event {
    ($name:ident, $type:literal, $kind:expr) => {
        impl Event for $name {
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            const KIND: EventKind = $kind;
            fn partition_key(&self) -> String {
                self.order_id.clone()
            }
        }
    };
}

event!(OrderPlaced, "orders.order_placed", EventKind::Domain);
event!(NoteAdded, "orders.note_added", EventKind::Domain);
event!(OrderAccepted, "orders.order_accepted", EventKind::Integration);

/// The CQRS read model: totals per customer, in the same database.
struct TotalsPerCustomer;

macro_rules! totals_for {
    ($db:ty) => {
        #[async_trait]
        impl DomainHandler<OrderPlaced, $db> for TotalsPerCustomer {
            async fn handle(&self, event: &OrderPlaced, tx: &mut <$db as sqlx::Database>::Connection) -> Result<(), String> {
                if event.cents < 0 {
                    return Err(format!("order {} has a negative total", event.order_id));
                }
                sqlx::query(
                    "INSERT INTO totals (customer, orders, cents) VALUES ($1, 1, $2) \
                     ON CONFLICT (customer) DO UPDATE SET orders = totals.orders + 1, cents = totals.cents + $2",
                )
                .bind(&event.customer)
                .bind(event.cents)
                .execute(&mut *tx)
                .await
                .map(|_| ())
                .map_err(|error| error.to_string())
            }
        }
    };
}

totals_for!(sqlx::Postgres);
totals_for!(sqlx::Sqlite);

fn accepted(placed: &OrderPlaced) -> Option<OrderAccepted> {
    Some(OrderAccepted { order_id: placed.order_id.clone(), cents: placed.cents })
}

fn raised(order: &str, cents: i64) -> Raised {
    let mut raised = Raised::new();
    raised
        .raise(&OrderPlaced { order_id: order.into(), customer: "c-1".into(), cents })
        .expect("raise");
    raised.raise(&NoteAdded { order_id: order.into(), note: "gift wrap".into() }).expect("raise");
    raised
}

macro_rules! scenario {
    ($pool:expr, $db:ty, $begin:expr) => {{
        let pool = $pool;
        sqlx::query("CREATE TABLE totals (customer TEXT PRIMARY KEY, orders BIGINT NOT NULL, cents BIGINT NOT NULL)")
            .execute(&pool)
            .await
            .expect("create totals");
        let bus = DomainBus::<$db>::new(Outbox::new(OutboxConfig::default()).expect("outbox"), "/orders")
            .on::<OrderPlaced, _>(TotalsPerCustomer)
            .translate::<OrderPlaced, OrderAccepted, _>(accepted)
            .expect("an integration event");

        let mut tx = $begin;
        let dispatched = bus.dispatch(&mut tx, raised("o-1", 1250).events()).await.expect("dispatch");
        tx.commit().await.expect("commit");
        assert_eq!(dispatched.handled, 1);
        assert_eq!(dispatched.published.len(), 1, "only the translated event leaves");
        assert_eq!(dispatched.published[0].event_type, "orders.order_accepted");
        assert_eq!(dispatched.published[0].kind, EventKind::Integration);

        let mut tx = $begin;
        let error = bus.dispatch(&mut tx, raised("o-2", -5).events()).await.expect_err("negative");
        assert!(matches!(error, DomainError::Handler { .. }), "{error}");
        assert!(error.to_string().contains("o-2"), "{error}");
        tx.rollback().await.expect("rollback");

        let totals: (i64, i64) = sqlx::query_as("SELECT orders, cents FROM totals WHERE customer = 'c-1'")
            .fetch_one(&pool)
            .await
            .expect("totals");
        assert_eq!(totals, (1, 1250), "the read model moved with the first transaction only");
        let types: Vec<String> = sqlx::query_scalar("SELECT event_type FROM herald_outbox ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("outbox");
        assert_eq!(types, ["orders.order_accepted"], "no domain event, nothing from the rolled-back one");
    }};
}

#[tokio::test]
async fn postgres_domain_events_stay_inside_unless_translated() {
    let test_db = TestDb::postgres("domain_events").await;
    let Database::Postgres(pool) = test_db.db.clone() else { unreachable!("PostgreSQL") };
    scenario!(pool.clone(), sqlx::Postgres, pool.begin().await.expect("begin"));
    test_db.cleanup().await;
}

#[tokio::test]
async fn sqlite_domain_events_stay_inside_unless_translated() {
    let test_db = TestDb::sqlite("domain_events").await;
    let Database::Sqlite(sqlite) = test_db.db.clone() else { unreachable!("SQLite") };
    scenario!(sqlite.writer.clone(), sqlx::Sqlite, sqlite.begin_write().await.expect("begin"));
    test_db.cleanup().await;
}

#[test]
fn a_translation_into_a_domain_event_is_refused() {
    let outbox = Outbox::new(OutboxConfig::default()).expect("outbox");
    let refused = DomainBus::<sqlx::Sqlite>::new(outbox, "/orders")
        .translate::<OrderPlaced, NoteAdded, _>(|placed| {
            Some(NoteAdded { order_id: placed.order_id.clone(), note: String::new() })
        });
    let Err(error) = refused else { panic!("a domain event must not leave") };
    assert!(matches!(error, DomainError::StaysInside { .. }), "{error}");
    assert!(error.to_string().contains("orders.note_added"), "{error}");
}
