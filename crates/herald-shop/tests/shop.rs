//! The shop end to end: 50 customers place, pay and cancel orders (some for skus out of
//! stock, some for skus that do not exist) while every service runs over the embedded log;
//! the services agree within seconds of the workload's end, and the read model rebuilt
//! from the event store equals the one maintained in the command transactions.

use std::time::{Duration, Instant};

use herald_eventstore::{EventStoreError, Projector};
use herald_shop::{OrderItem, Orders, OrdersByCustomer, Shop, ShopConfig, ShopError};
use herald_testkit::TestDb;

/// How long the services may take to agree after the workload stops.
const SETTLE: Duration = Duration::from_secs(5);

fn item(sku: &str, quantity: i64) -> OrderItem {
    OrderItem { sku: sku.to_owned(), quantity }
}

/// Waits until `verify` passes, and names the disagreements if it never does.
async fn settle(shop: &Shop) -> herald_shop::ShopSummary {
    let deadline = Instant::now() + SETTLE;
    loop {
        match shop.verify().await {
            Ok(summary) => return summary,
            Err(error) if Instant::now() >= deadline => {
                panic!("the services did not agree within {SETTLE:?}: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The shop's database: on PostgreSQL a pool with room for every consumer worker, the
/// customers' commands and the relay.
async fn shop_database(test: &TestDb) -> herald_db::Database {
    match &test.db {
        herald_db::Database::Sqlite(_) => test.db.clone(),
        herald_db::Database::Postgres(_) => {
            let options = herald_db::DatabaseOptions { max_connections: 40, ..Default::default() };
            herald_db::Database::connect(&test.url, &options).await.expect("connect")
        }
    }
}

/// Stops the shop, and closes the pool `shop_database` opened on PostgreSQL.
async fn stop(shop: Shop) {
    let db = shop.database().clone();
    shop.stop().await.expect("stop");
    if matches!(db, herald_db::Database::Postgres(_)) {
        db.close().await;
    }
}

fn config() -> ShopConfig {
    ShopConfig {
        stock: vec![("apple".into(), 1000), ("pear".into(), 1000), ("rare".into(), 20)],
        ..ShopConfig::default()
    }
}

/// Runs a command, retrying it when a concurrent command (the `orders` consumer cancelling
/// a rejected order) moved the order on; a broken rule is an accepted outcome.
async fn command<F, Fut>(mut run: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ShopError>>,
{
    for _ in 0..20 {
        match run().await {
            Ok(()) | Err(ShopError::Rule { .. }) => return,
            Err(ShopError::EventStore(EventStoreError::Conflict { .. })) => continue,
            Err(error) => panic!("command failed: {error}"),
        }
    }
    panic!("a command conflicted 20 times in a row");
}

/// Each customer places three orders: one that fits the stock, one for the scarce `rare`
/// sku (20 in stock, 2 per order), one with a sku the inventory does not know; then pays
/// or cancels some of them.
async fn workload(orders: &Orders, customers: usize) {
    let mut tasks = Vec::new();
    for customer_number in 0..customers {
        let orders = orders.clone();
        tasks.push(tokio::spawn(async move {
            let customer = format!("customer-{customer_number}");
            let plenty = orders
                .place(
                    &customer,
                    vec![item("apple", 1 + (customer_number % 3) as i64), item("pear", 1)],
                )
                .await
                .expect("place");
            let scarce = orders.place(&customer, vec![item("rare", 2)]).await.expect("place");
            let unknown = orders
                .place(&customer, vec![item("apple", 1), item("ghost", 1)])
                .await
                .expect("place");
            match customer_number % 4 {
                0 | 2 => command(|| orders.pay(&plenty)).await,
                1 => command(|| orders.cancel(&plenty)).await,
                _ => {}
            }
            match customer_number % 3 {
                0 => command(|| orders.pay(&scarce)).await,
                1 => command(|| orders.cancel(&scarce)).await,
                _ => {}
            }
            if customer_number % 5 == 0 {
                command(|| orders.pay(&unknown)).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("customer task");
    }
}

async fn the_services_agree_within_seconds_of_the_workload(test: TestDb) {
    let shop = Shop::start(shop_database(&test).await, config()).await.expect("start the shop");
    workload(shop.orders(), 50).await;
    let stopped = Instant::now();
    let summary = settle(&shop).await;
    println!("{summary:?}, agreed {:?} after the workload", stopped.elapsed());
    assert_eq!(summary.orders, 150);
    assert!(summary.shipped >= 25, "the plentiful orders paid were shipped: {summary:?}");
    assert!(summary.rejected >= 50, "every order with an unknown sku is rejected: {summary:?}");
    assert!(summary.cancelled >= 50, "rejected orders are cancelled: {summary:?}");
    let orders = shop.orders().by_customer("customer-0").await.expect("by customer");
    assert_eq!(orders.len(), 3);
    stop(shop).await;
    test.cleanup().await;
}

/// The same shop on PostgreSQL with RabbitMQ between the services (an exchange and queues
/// of the test's own, deleted afterwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_rabbitmq_the_services_agree_within_seconds_of_the_workload() {
    use herald_testkit::brokers::{amqp_url, unique};
    let test = TestDb::postgres("shop_rabbitmq").await;
    let id: String = unique("shop").chars().filter(char::is_ascii_alphanumeric).collect();
    let db = shop_database(&test).await;
    let namespace = format!("test-{id}");
    let rabbit = herald::Transport::open(Some(&amqp_url()), &namespace, &db, config().partitions)
        .expect("open RabbitMQ");
    let config = ShopConfig { broker: Some(rabbit.clone()), ..config() };
    let shop = Shop::start(db, config).await.expect("start the shop");
    workload(shop.orders(), 50).await;
    let stopped = Instant::now();
    let summary = settle(&shop).await;
    println!("{summary:?}, agreed {:?} after the workload (RabbitMQ)", stopped.elapsed());
    assert_eq!(summary.orders, 150);
    assert!(summary.shipped >= 25, "{summary:?}");
    assert!(summary.rejected >= 50 && summary.cancelled >= 50, "{summary:?}");
    stop(shop).await;
    rabbit.delete_topology(&herald_shop::shop::GROUPS).await.expect("delete the test's queues");
    test.cleanup().await;
}

async fn the_rebuilt_read_model_equals_the_incremental_one(test: TestDb) {
    let shop = Shop::start(shop_database(&test).await, config()).await.expect("start the shop");
    workload(shop.orders(), 20).await;
    settle(&shop).await;
    stop(shop).await;
    let incremental = shop_read_model(&test).await;
    assert_eq!(incremental.len(), 60);
    let projector = Projector::new(test.db.clone());
    let applied = match &test.db {
        herald_db::Database::Postgres(_) => {
            projector.rebuild::<sqlx::Postgres>(&OrdersByCustomer).await
        }
        herald_db::Database::Sqlite(_) => {
            projector.rebuild::<sqlx::Sqlite>(&OrdersByCustomer).await
        }
    }
    .expect("rebuild");
    assert!(applied >= 60, "every event replayed, got {applied}");
    assert_eq!(shop_read_model(&test).await, incremental);
    test.cleanup().await;
}

async fn shop_read_model(test: &TestDb) -> Vec<herald_shop::OrderSummary> {
    herald_shop::orders::read_model(&test.db).await.expect("read model")
}

async fn order_rules_refuse_paying_a_cancelled_and_cancelling_a_paid_order(test: TestDb) {
    let shop = Shop::start(shop_database(&test).await, config()).await.expect("start the shop");
    let orders = shop.orders();
    let cancelled = orders.place("ann", vec![item("apple", 1)]).await.expect("place");
    orders.cancel(&cancelled).await.expect("cancel");
    let error = orders.pay(&cancelled).await.expect_err("a cancelled order cannot be paid");
    assert!(matches!(error, ShopError::Rule { .. }), "{error}");
    let paid = orders.place("ann", vec![item("apple", 1)]).await.expect("place");
    orders.pay(&paid).await.expect("pay");
    let error = orders.cancel(&paid).await.expect_err("a paid order cannot be cancelled");
    assert!(error.to_string().contains("paid order cannot be cancelled"), "{error}");
    let error = orders.pay("no-such-order").await.expect_err("unknown");
    assert!(matches!(error, ShopError::UnknownOrder { .. }), "{error}");
    let error = orders.place("ann", Vec::new()).await.expect_err("empty");
    assert!(matches!(error, ShopError::Rule { .. }), "{error}");
    let summary = settle(&shop).await;
    assert_eq!((summary.paid, summary.cancelled, summary.shipped), (1, 1, 1));
    stop(shop).await;
    test.cleanup().await;
}

macro_rules! both_databases {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(herald_testkit::TestDb::sqlite(stringify!($case)).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(herald_testkit::TestDb::postgres(stringify!($case)).await).await;
                }
            )+
        }
    };
}

both_databases!(
    the_services_agree_within_seconds_of_the_workload,
    the_rebuilt_read_model_equals_the_incremental_one,
    order_rules_refuse_paying_a_cancelled_and_cancelling_a_paid_order,
);
