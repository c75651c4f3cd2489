//! Aggregates: folding a stream, the domain rule, and loading from a snapshot plus the
//! events after it, which must equal folding every event.

mod common;

use common::{Order, Status, cancelled, item, paid, placed};
use herald_eventstore::{
    Aggregate, EventStore, EventStoreError, ExpectedVersion, SnapshotPolicy, load_aggregate,
    maybe_snapshot,
};
use herald_testkit::TestDb;

/// Places an order, adds 118 items and pays it: 120 events, appended in chunks.
async fn order_of_120_events(store: &EventStore, order_id: &str) {
    let mut events = vec![placed(order_id, "ann")];
    events.extend((1..=118).map(|amount| item(order_id, "ann", amount)));
    events.push(paid(order_id, "ann"));
    let mut version = 0;
    for chunk in events.chunks(25) {
        store.append(order_id, ExpectedVersion::Exactly(version), chunk).await.expect("append");
        version += chunk.len() as i64;
    }
}

async fn a_snapshot_plus_the_later_events_equals_folding_them_all(test: TestDb) {
    let store = EventStore::new(test.db.clone());
    order_of_120_events(&store, "order-1").await;
    let all = store.load("order-1", 0).await.expect("load");
    let mut folded = Order::default();
    for event in &all {
        folded.apply(event).expect("fold");
    }
    assert_eq!((folded.status, folded.items, folded.total), (Status::Paid, 118, 118 * 119 / 2));

    let mut at_50 = Order::default();
    for event in &all[..50] {
        at_50.apply(event).expect("fold");
    }
    let state = serde_json::to_value(&at_50).expect("state");
    store.save_snapshot("order-1", 50, &state).await.expect("snapshot");

    let loaded = load_aggregate::<Order>(&store, "order-1").await.expect("load aggregate");
    assert_eq!((loaded.snapshot_version, loaded.events_applied, loaded.version), (50, 70, 120));
    assert_eq!(loaded.state, folded);
    assert_eq!(loaded.state.folded, 120);
    test.cleanup().await;
}

async fn the_snapshot_policy_snapshots_when_enough_events_follow(test: TestDb) {
    let store = EventStore::new(test.db.clone());
    order_of_120_events(&store, "order-1").await;
    let loaded = load_aggregate::<Order>(&store, "order-1").await.expect("load");
    assert_eq!((loaded.snapshot_version, loaded.events_applied), (0, 120));
    let rare = SnapshotPolicy { every: 200 };
    assert!(!maybe_snapshot(&store, "order-1", &loaded, rare).await.expect("policy"));
    assert_eq!(store.snapshot("order-1").await.expect("snapshot"), None);
    assert!(
        maybe_snapshot(&store, "order-1", &loaded, SnapshotPolicy::default())
            .await
            .expect("policy")
    );

    let reloaded = load_aggregate::<Order>(&store, "order-1").await.expect("reload");
    assert_eq!((reloaded.snapshot_version, reloaded.events_applied), (120, 0));
    assert_eq!(reloaded.state, loaded.state);
    store.save_snapshot("order-1", 60, &serde_json::json!({})).await.expect("older snapshot");
    let kept = store.snapshot("order-1").await.expect("snapshot").map(|(version, _)| version);
    assert_eq!(kept, Some(120), "an older snapshot never replaces a newer one");
    test.cleanup().await;
}

async fn a_cancelled_order_refuses_payment(test: TestDb) {
    let store = EventStore::new(test.db.clone());
    let events = [placed("order-1", "ann"), cancelled("order-1", "ann")];
    store.append("order-1", ExpectedVersion::NoStream, &events).await.expect("append");
    let order = load_aggregate::<Order>(&store, "order-1").await.expect("load");
    assert_eq!((order.state.status, order.version), (Status::Cancelled, 2));
    let refused = order.state.pay("order-1").expect_err("cannot pay a cancelled order");
    assert!(refused.contains("Cancelled order cannot be paid"), "{refused}");

    // A payment appended without the rule makes the stream unloadable, naming the event.
    store.append("order-1", ExpectedVersion::Any, &[paid("order-1", "ann")]).await.expect("any");
    match load_aggregate::<Order>(&store, "order-1").await {
        Err(EventStoreError::Apply { version: 3, reason, .. }) => {
            assert!(reason.contains("cannot be paid"), "{reason}");
        }
        other => panic!("expected an apply error at version 3, got {other:?}"),
    }
    test.cleanup().await;
}

on_both_databases!(
    a_snapshot_plus_the_later_events_equals_folding_them_all,
    the_snapshot_policy_snapshots_when_enough_events_follow,
    a_cancelled_order_refuses_payment,
);
