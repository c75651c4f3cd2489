//! The whole path in one process, on SQLite and on PostgreSQL: rolled-back events never
//! travel, and late commits are not skipped.

use std::time::Duration;

use herald_bench::pipeline::{Pipeline, PipelineDatabases, PipelineOptions};
use herald_bench::workload::{self, OrderPlaced, now_us};
use herald_db::Database;
use herald_envelope::Envelope;
use herald_testkit::{TestDb, wait_until};

fn order(run: &str, order_id: i64) -> OrderPlaced {
    OrderPlaced {
        run: run.into(),
        order_id,
        customer: format!("customer-{}", order_id % 3),
        customer_seq: order_id,
        amount_cents: 100,
        due_at_us: now_us(),
    }
}

async fn effects_of(db: &Database, event_id: uuid::Uuid) -> i64 {
    let sql = "SELECT count(*) FROM shop_effects WHERE event_id = $1";
    match db {
        Database::Postgres(pool) => sqlx::query_scalar(sql).bind(event_id).fetch_one(pool).await,
        Database::Sqlite(sqlite) => {
            sqlx::query_scalar(sql).bind(event_id).fetch_one(&sqlite.reader).await
        }
    }
    .expect("count effects")
}

/// Writes an order and its event in one transaction, then commits or rolls back.
async fn place(pipeline: &Pipeline, order: &OrderPlaced, commit: bool) -> uuid::Uuid {
    let envelope = Envelope::from_event("/shop/orders", order)
        .expect("valid")
        .with_sequence(format!("{:020}", order.customer_seq));
    let insert =
        "INSERT INTO shop_orders (run, order_id, customer, amount_cents) VALUES ($1, $2, $3, $4)";
    match &pipeline.producer_db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query(insert)
                .bind(&order.run)
                .bind(order.order_id)
                .bind(&order.customer)
                .bind(order.amount_cents)
                .execute(&mut *tx)
                .await
                .expect("insert");
            pipeline.outbox.enqueue(&mut tx, &envelope).await.expect("enqueue");
            if commit {
                pipeline.outbox.commit(tx).await.expect("commit")
            } else {
                tx.rollback().await.expect("rollback")
            }
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.writer.begin().await.expect("begin");
            sqlx::query(insert)
                .bind(&order.run)
                .bind(order.order_id)
                .bind(&order.customer)
                .bind(order.amount_cents)
                .execute(&mut *tx)
                .await
                .expect("insert");
            pipeline.outbox.enqueue(&mut tx, &envelope).await.expect("enqueue");
            if commit {
                pipeline.outbox.commit(tx).await.expect("commit")
            } else {
                tx.rollback().await.expect("rollback")
            }
        }
    }
    *envelope.id.as_uuid()
}

async fn rolled_back_events_are_never_delivered(test_db: &TestDb) {
    let run = "rollback";
    let pipeline = Pipeline::start(&PipelineOptions {
        databases: PipelineDatabases {
            producer_url: test_db.url.clone(),
            consumer_url: test_db.url.clone(),
        },
        run: run.into(),
        partitions: 16,
        producers: 1,
        broker: Default::default(),
        ledger: true,
        relays: 1,
        consumers: 1,
    })
    .await
    .expect("pipeline");
    let mut committed = Vec::new();
    let mut rolled_back = Vec::new();
    for n in 1..=40 {
        let commit = n % 2 == 0;
        let id = place(&pipeline, &order(run, n), commit).await;
        if commit { committed.push(id) } else { rolled_back.push(id) }
    }
    let db = pipeline.producer_db.clone();
    wait_until(Duration::from_secs(20), "every committed event to be applied", || {
        let db = db.clone();
        async move { workload::verify(&db, &db, run).await.expect("verify").delivered == 20 }
    })
    .await;
    // A committed marker sent after all of them: once it is applied, anything sent before
    // it has been too, so a rolled-back event that had leaked would be visible now.
    let marker = place(&pipeline, &order(run, 1000), true).await;
    wait_until(Duration::from_secs(20), "the marker", || {
        let db = db.clone();
        async move { effects_of(&db, marker).await == 1 }
    })
    .await;
    for id in &rolled_back {
        assert_eq!(effects_of(&db, *id).await, 0, "rolled-back event {id} was delivered");
    }
    for id in &committed {
        assert_eq!(effects_of(&db, *id).await, 1, "committed event {id} applied once");
    }
    let verification = workload::verify(&db, &db, run).await.expect("verify");
    assert_eq!((verification.produced, verification.delivered, verification.lost), (21, 21, 0));
    pipeline.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rolled_back_events_are_never_delivered() {
    let test_db = TestDb::sqlite("rollback").await;
    rolled_back_events_are_never_delivered(&test_db).await;
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rolled_back_events_are_never_delivered() {
    let test_db = TestDb::postgres("rollback").await;
    rolled_back_events_are_never_delivered(&test_db).await;
    test_db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_event_committed_after_a_later_one_is_still_delivered() {
    let test_db = TestDb::postgres("late_commit").await;
    let run = "late";
    let pipeline = Pipeline::start(&PipelineOptions {
        databases: PipelineDatabases {
            producer_url: test_db.url.clone(),
            consumer_url: test_db.url.clone(),
        },
        run: run.into(),
        partitions: 16,
        producers: 1,
        broker: Default::default(),
        ledger: true,
        relays: 1,
        consumers: 1,
    })
    .await
    .expect("pipeline");
    let Database::Postgres(pool) = &pipeline.producer_db else { unreachable!("postgres") };
    // The early transaction takes its outbox id first, then waits.
    let early_order = order(run, 1);
    let early_envelope = Envelope::from_event("/shop/orders", &early_order).expect("valid");
    let mut early = pool.begin().await.expect("begin");
    let early_row = pipeline.outbox.enqueue(&mut early, &early_envelope).await.expect("enqueue");
    // A later transaction commits and is delivered while the early one is open.
    let late_id = place(&pipeline, &order(run, 2), true).await;
    let db = pipeline.producer_db.clone();
    wait_until(Duration::from_secs(20), "the later event", || {
        let db = db.clone();
        async move { effects_of(&db, late_id).await == 1 }
    })
    .await;
    let last_id: i64 = sqlx::query_scalar("SELECT last_value FROM herald_outbox_id_seq")
        .fetch_one(pool)
        .await
        .expect("last outbox id");
    assert!(early_row < last_id, "the later transaction took a larger id and committed first");
    early.commit().await.expect("commit the early transaction");
    wait_until(Duration::from_secs(20), "the early event, committed late", || {
        let db = db.clone();
        let id = *early_envelope.id.as_uuid();
        async move { effects_of(&db, id).await == 1 }
    })
    .await;
    pipeline.stop().await.expect("stop");
    test_db.cleanup().await;
}
