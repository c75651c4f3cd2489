//! The SQL log transport on PostgreSQL and SQLite: selective delivery, order per key,
//! at-least-once redelivery, offsets.

use std::time::Duration;

use herald_db::Database;

use herald_log::{SqlLog, SqlLogConfig};
use herald_transport::{Delivery, Message, Publisher, Subscriber, Subscription, SubscriptionSpec};

fn message(routing_key: &str, key: &str, n: u32) -> Message {
    Message {
        event_id: uuid::Uuid::now_v7(),
        routing_key: routing_key.into(),
        partition_key: key.into(),
        payload: format!("{{\"n\":{n}}}").into_bytes(),
    }
}

fn log(db: &Database) -> SqlLog {
    SqlLog::new(
        db.clone(),
        SqlLogConfig { poll_interval: Duration::from_millis(20), ..SqlLogConfig::default() },
    )
}

async fn subscribe(
    log: &SqlLog,
    group: &str,
    member: &str,
    patterns: &[&str],
) -> Box<dyn Subscription> {
    let spec = SubscriptionSpec {
        group: group.into(),
        member: member.into(),
        patterns: patterns.iter().map(|p| p.parse().expect("pattern")).collect(),
    };
    log.subscribe(spec).await.expect("subscribe")
}

/// Receives until `count` deliveries arrived (or 10 s passed).
async fn receive(subscription: &mut dyn Subscription, count: usize) -> Vec<Delivery> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.len() < count && tokio::time::Instant::now() < deadline {
        got.extend(subscription.receive(100, Duration::from_millis(200)).await.expect("receive"));
    }
    got
}

async fn publish_all(log: &SqlLog, messages: &[Message]) {
    for result in log.publish(messages).await {
        result.expect("confirmed");
    }
}

async fn selective_and_ordered_per_key(db: &Database) {
    let log = log(db);
    let mut messages = Vec::new();
    for n in 0..50 {
        let key = format!("order-{}", n % 5);
        messages.push(message("integration.orders.order_placed.v1", &key, n));
        messages.push(message("integration.payments.paid.v1", &key, n));
    }
    publish_all(&log, &messages).await;
    let mut orders = subscribe(&log, "shipping", "m1", &["integration.orders.#"]).await;
    let got = receive(orders.as_mut(), 50).await;
    assert_eq!(got.len(), 50, "exactly the subscribed routing keys");
    assert!(got.iter().all(|d| d.message.routing_key.starts_with("integration.orders.")));
    for key in 0..5 {
        let key = format!("order-{key}");
        let ours: Vec<&Message> = messages
            .iter()
            .filter(|m| m.partition_key == key && m.routing_key.contains("orders"))
            .collect();
        let seen: Vec<uuid::Uuid> = got
            .iter()
            .filter(|d| d.message.partition_key == key)
            .map(|d| d.message.event_id)
            .collect();
        assert_eq!(
            seen,
            ours.iter().map(|m| m.event_id).collect::<Vec<_>>(),
            "publish order for {key}"
        );
    }
    orders.close().await.expect("close");
}

async fn unacknowledged_deliveries_come_again(db: &Database) {
    let log = log(db);
    let messages: Vec<Message> = (0..10).map(|n| message("integration.t.v1", "k", n)).collect();
    publish_all(&log, &messages).await;
    let mut first = subscribe(&log, "g", "m1", &["#"]).await;
    let got = receive(first.as_mut(), 10).await;
    first.ack(&[got[0].tag, got[1].tag, got[2].tag]).await.expect("ack");
    first.close().await.expect("close");

    let mut second = subscribe(&log, "g", "m2", &["#"]).await;
    let again = receive(second.as_mut(), 7).await;
    let ids: Vec<uuid::Uuid> = again.iter().map(|d| d.message.event_id).collect();
    assert_eq!(
        ids,
        messages[3..].iter().map(|m| m.event_id).collect::<Vec<_>>(),
        "acked ones never again, the rest in order"
    );
    second.close().await.expect("close");
}

async fn retry_rewinds_the_partition(db: &Database) {
    let log = log(db);
    let messages: Vec<Message> = (0..5).map(|n| message("integration.t.v1", "k", n)).collect();
    publish_all(&log, &messages).await;
    let mut subscription = subscribe(&log, "g", "m1", &["#"]).await;
    let got = receive(subscription.as_mut(), 5).await;
    subscription.ack(&[got[0].tag, got[1].tag]).await.expect("ack");
    subscription.retry(&got[2], Duration::ZERO, "failed").await.expect("retry");
    let again = receive(subscription.as_mut(), 3).await;
    assert_eq!(
        again.iter().map(|d| d.message.event_id).collect::<Vec<_>>(),
        messages[2..].iter().map(|m| m.event_id).collect::<Vec<_>>()
    );
    assert_eq!(again[0].attempt, 2, "the retried one counts its attempt");
    assert_eq!(again[1].attempt, 1, "the later ones come again as they were");
    subscription.close().await.expect("close");
}

async fn groups_are_independent(db: &Database) {
    let log = log(db);
    publish_all(&log, &[message("integration.t.v1", "k", 1)]).await;
    let mut a = subscribe(&log, "a", "m", &["#"]).await;
    let got = receive(a.as_mut(), 1).await;
    a.ack(&[got[0].tag]).await.expect("ack");
    let mut b = subscribe(&log, "b", "m", &["#"]).await;
    assert_eq!(receive(b.as_mut(), 1).await.len(), 1, "another group still gets it");
    a.close().await.expect("close");
    b.close().await.expect("close");
}

async fn trim_keeps_unread_entries_and_each_partitions_newest(db: &Database) {
    let log = SqlLog::new(
        db.clone(),
        SqlLogConfig { retention: Duration::ZERO, ..SqlLogConfig::default() },
    );
    let messages: Vec<Message> = (0..10).map(|n| message("integration.t.v1", "k", n)).collect();
    publish_all(&log, &messages).await;
    let mut slow = subscribe(&log, "slow", "m", &["#"]).await;
    let mut fast = subscribe(&log, "fast", "m", &["#"]).await;
    let read_by_slow = receive(slow.as_mut(), 10).await;
    slow.ack(&[read_by_slow[3].tag]).await.expect("ack");
    let read_by_fast = receive(fast.as_mut(), 10).await;
    fast.ack(&[read_by_fast[9].tag]).await.expect("ack");
    assert_eq!(log.trim(1000).await.expect("trim"), 4, "only what the slowest group committed");
    slow.ack(&[read_by_slow[9].tag]).await.expect("ack");
    assert_eq!(log.trim(1000).await.expect("trim"), 5, "all but the partition's newest entry");
    // Offsets go on from where they were: a new entry is not taken for an old one.
    publish_all(&log, &[message("integration.t.v1", "k", 10)]).await;
    let next = receive(fast.as_mut(), 1).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].tag.offset, read_by_fast[9].tag.offset + 1);
    slow.close().await.expect("close");
    fast.close().await.expect("close");
}

macro_rules! both_databases {
    ($($case:ident),* $(,)?) => {
        mod postgres { $(
            #[tokio::test]
            async fn $case() {
                let test_db = herald_testkit::TestDb::postgres(stringify!($case)).await;
                super::$case(&test_db.db).await;
                test_db.cleanup().await;
            }
        )* }
        mod sqlite { $(
            #[tokio::test]
            async fn $case() {
                let test_db = herald_testkit::TestDb::sqlite(stringify!($case)).await;
                super::$case(&test_db.db).await;
                test_db.cleanup().await;
            }
        )* }
    };
}

both_databases!(
    selective_and_ordered_per_key,
    unacknowledged_deliveries_come_again,
    retry_rewinds_the_partition,
    groups_are_independent,
    trim_keeps_unread_entries_and_each_partitions_newest,
);
