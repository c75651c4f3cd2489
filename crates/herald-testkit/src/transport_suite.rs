//! The transport conformance suite: one set of cases every transport passes.
//!
//! A transport's test file implements [`Fixture`] (a transport with names of its own, a
//! way to restart its broker, and cleanup) and runs each case through
//! [`transport_conformance!`](crate::transport_conformance). Where transports really
//! differ, the cases read [`herald_transport::Features`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use herald_envelope::{Data, Envelope, EventId, EventKind};
use herald_transport::{
    Delivery, Message, Pattern, Publisher, Subscriber, Subscription, SubscriptionSpec,
};
use serde_json::value::RawValue;
use tokio::sync::RwLock;

/// Cases that restart the broker take this for writing; the others for reading, so
/// that no case of the same test binary runs through a restart.
pub static BROKER: RwLock<()> = RwLock::const_new(());

/// A transport under test.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The publishing side.
    fn publisher(&self) -> &dyn Publisher;
    /// The subscribing side.
    fn subscriber(&self) -> &dyn Subscriber;
    /// Takes the broker away and brings it back; for the embedded log, cuts every
    /// database connection.
    async fn restart(&self);
    /// Removes what the test created (exchange, queues, stream, database).
    async fn cleanup(self: Box<Self>);
}

/// Generates one `#[tokio::test]` per case for a fixture constructor
/// `async fn() -> Box<dyn Fixture>`.
#[macro_export]
macro_rules! transport_conformance {
    ($fixture:path) => {
        $crate::transport_conformance!($fixture;
            publish_subscribe, selective_routing, redelivery_after_crash, order_per_key,
            delayed_retry, publish_to_group, broker_restart);
    };
    ($fixture:path; $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $fixture().await;
                $crate::transport_suite::$case(fixture.as_ref()).await;
                fixture.cleanup().await;
            }
        )+
    };
}

/// A real event as a message: integration event `<type>` v1 with key `key` and data `{"n":n}`.
pub fn message(event_type: &str, key: &str, n: u32) -> Message {
    let envelope = Envelope {
        id: EventId::new(),
        source: "/conformance".into(),
        event_type: event_type.into(),
        time: Utc::now(),
        datacontenttype: Some("application/json".into()),
        dataschema: None,
        subject: None,
        kind: EventKind::Integration,
        schema_version: 1,
        partition_key: key.into(),
        sequence: Some(format!("{n:010}")),
        traceparent: None,
        extensions: BTreeMap::new(),
        data: Some(Data::Json(RawValue::from_string(format!("{{\"n\":{n}}}")).expect("json"))),
    };
    Message {
        event_id: *envelope.id.as_uuid(),
        routing_key: envelope.routing_key(),
        partition_key: key.into(),
        payload: envelope.to_json(),
    }
}

/// Publishes and requires every message to be confirmed.
pub async fn publish_all(publisher: &dyn Publisher, messages: &[Message]) {
    for (n, result) in publisher.publish(messages).await.into_iter().enumerate() {
        result.unwrap_or_else(|error| panic!("message {n} not confirmed: {error}"));
    }
}

/// Joins `group` as `member` with `patterns`.
pub async fn subscribe(
    fixture: &dyn Fixture,
    group: &str,
    member: &str,
    patterns: &[&str],
) -> Box<dyn Subscription> {
    let spec = SubscriptionSpec {
        group: group.into(),
        member: member.into(),
        patterns: patterns.iter().map(|p| p.parse::<Pattern>().expect("pattern")).collect(),
    };
    fixture.subscriber().subscribe(spec).await.expect("subscribe")
}

/// Receives until `count` deliveries arrived; fails after 30 s. Receive errors (a broker
/// coming back) are retried.
pub async fn receive(subscription: &mut dyn Subscription, count: usize) -> Vec<Delivery> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {count} deliveries in 30 s",
            got.len()
        );
        match subscription.receive(count - got.len(), Duration::from_millis(500)).await {
            Ok(deliveries) => got.extend(deliveries),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    got
}

/// Requires that nothing more arrives within `wait`.
pub async fn receive_nothing(subscription: &mut dyn Subscription, wait: Duration) {
    let extra = subscription.receive(100, wait).await.expect("receive");
    let keys: Vec<&str> = extra.iter().map(|d| d.message.routing_key.as_str()).collect();
    assert!(extra.is_empty(), "unexpected deliveries: {keys:?}");
}

fn ids(deliveries: &[Delivery]) -> BTreeSet<uuid::Uuid> {
    deliveries.iter().map(|d| d.message.event_id).collect()
}

fn message_ids(messages: &[Message]) -> BTreeSet<uuid::Uuid> {
    messages.iter().map(|m| m.event_id).collect()
}

async fn ack_all(subscription: &mut dyn Subscription, deliveries: &[Delivery]) {
    let tags: Vec<_> = deliveries.iter().map(|d| d.tag).collect();
    subscription.ack(&tags).await.expect("ack");
}

/// Published messages arrive whole, once acknowledged they do not come again.
pub async fn publish_subscribe(fixture: &dyn Fixture) {
    let _shared = BROKER.read().await;
    let mut subscription = subscribe(fixture, "billing", "m1", &["integration.#"]).await;
    let messages: Vec<Message> =
        (0..100).map(|n| message("orders.placed", &format!("k{}", n % 7), n)).collect();
    publish_all(fixture.publisher(), &messages).await;
    let got = receive(subscription.as_mut(), messages.len()).await;
    assert_eq!(ids(&got), message_ids(&messages), "every message, once");
    for delivery in &got {
        let sent = messages.iter().find(|m| m.event_id == delivery.message.event_id).expect("sent");
        assert_eq!(delivery.message.routing_key, sent.routing_key);
        assert_eq!(delivery.message.partition_key, sent.partition_key);
        let envelope =
            Envelope::from_json(&delivery.message.payload, &Default::default()).expect("an event");
        let original = Envelope::from_json(&sent.payload, &Default::default()).expect("an event");
        assert_eq!(envelope, original, "the event arrives unchanged");
        assert_eq!(delivery.attempt, 1);
    }
    ack_all(subscription.as_mut(), &got).await;
    receive_nothing(subscription.as_mut(), Duration::from_millis(500)).await;
    subscription.close().await.expect("close");
}

/// Each group receives exactly the routing keys its patterns select.
pub async fn selective_routing(fixture: &dyn Fixture) {
    let _shared = BROKER.read().await;
    let mut orders = subscribe(fixture, "shipping", "m1", &["integration.orders.#"]).await;
    let mut payments = subscribe(fixture, "ledger", "m1", &["*.payments.paid.v1"]).await;
    let mut messages = Vec::new();
    for n in 0..30 {
        messages.push(message("orders.placed", "k", n));
        messages.push(message("payments.paid", "k", n));
        messages.push(message("users.signed_up", "k", n));
    }
    publish_all(fixture.publisher(), &messages).await;
    for (subscription, wanted) in [(&mut orders, "orders."), (&mut payments, "payments.")] {
        let got = receive(subscription.as_mut(), 30).await;
        let expected: Vec<Message> =
            messages.iter().filter(|m| m.routing_key.contains(wanted)).cloned().collect();
        assert_eq!(ids(&got), message_ids(&expected), "exactly the `{wanted}` events");
        ack_all(subscription.as_mut(), &got).await;
        receive_nothing(subscription.as_mut(), Duration::from_millis(500)).await;
        subscription.close().await.expect("close");
    }
}

/// What a member received but did not acknowledge comes again to the next member.
pub async fn redelivery_after_crash(fixture: &dyn Fixture) {
    let _shared = BROKER.read().await;
    let mut first = subscribe(fixture, "audit", "m1", &["#"]).await;
    let messages: Vec<Message> = (0..10).map(|n| message("orders.placed", "k", n)).collect();
    publish_all(fixture.publisher(), &messages).await;
    let got = receive(first.as_mut(), 10).await;
    let (done, unsettled) = got.split_at(5);
    ack_all(first.as_mut(), done).await;
    first.close().await.expect("close");
    drop(first);
    let mut second = subscribe(fixture, "audit", "m2", &["#"]).await;
    let again = receive(second.as_mut(), unsettled.len()).await;
    assert_eq!(ids(&again), ids(unsettled), "the unacknowledged ones, and only they");
    ack_all(second.as_mut(), &again).await;
    second.close().await.expect("close");
}

/// Within a key, deliveries come in publish order.
pub async fn order_per_key(fixture: &dyn Fixture) {
    let _shared = BROKER.read().await;
    let mut subscription = subscribe(fixture, "projector", "m1", &["#"]).await;
    let messages: Vec<Message> =
        (0..250).map(|n| message("orders.placed", &format!("key-{}", n % 5), n)).collect();
    for chunk in messages.chunks(50) {
        publish_all(fixture.publisher(), chunk).await;
    }
    let got = receive(subscription.as_mut(), messages.len()).await;
    for key in 0..5 {
        let key = format!("key-{key}");
        let sent: Vec<uuid::Uuid> =
            messages.iter().filter(|m| m.partition_key == key).map(|m| m.event_id).collect();
        let seen: Vec<uuid::Uuid> = got
            .iter()
            .filter(|d| d.message.partition_key == key)
            .map(|d| d.message.event_id)
            .collect();
        assert_eq!(seen, sent, "order of {key}");
    }
    ack_all(subscription.as_mut(), &got).await;
    subscription.close().await.expect("close");
}

/// A retried delivery comes again after its delay, with the attempt counted.
pub async fn delayed_retry(fixture: &dyn Fixture) {
    let _shared = BROKER.read().await;
    let mut subscription = subscribe(fixture, "mailer", "m1", &["#"]).await;
    let messages = vec![message("orders.placed", "k", 1)];
    publish_all(fixture.publisher(), &messages).await;
    let got = receive(subscription.as_mut(), 1).await;
    let delay = Duration::from_millis(1500);
    let retried_at = tokio::time::Instant::now();
    subscription.retry(&got[0], delay, "handler said no").await.expect("retry");
    let again = receive(subscription.as_mut(), 1).await;
    let waited = retried_at.elapsed();
    assert_eq!(again[0].message.event_id, got[0].message.event_id);
    assert_eq!(again[0].attempt, 2, "the second attempt");
    assert!(waited >= delay.mul_f32(0.9), "came again after {waited:?}, delay {delay:?}");
    if let Some(first_failed_at) = again[0].first_failed_at {
        assert!(first_failed_at <= Utc::now());
    }
    assert_eq!(
        again[0].message.routing_key, got[0].message.routing_key,
        "the original routing key"
    );
    ack_all(subscription.as_mut(), &again).await;
    receive_nothing(subscription.as_mut(), Duration::from_millis(300)).await;
    subscription.close().await.expect("close");
}

/// A message for one group reaches that group only, under its own routing key.
pub async fn publish_to_group(fixture: &dyn Fixture) {
    let _shared = BROKER.read().await;
    let mut target = subscribe(fixture, "target", "m1", &["integration.orders.#"]).await;
    let mut other = subscribe(fixture, "bystander", "m1", &["#"]).await;
    let messages = vec![message("users.signed_up", "k", 1)];
    // First published to all, then again to one group, as a dead-letter replay does:
    // the second publish must not be taken for a duplicate of the first.
    publish_all(fixture.publisher(), &messages).await;
    let seen = receive(other.as_mut(), 1).await;
    ack_all(other.as_mut(), &seen).await;
    for result in fixture.publisher().publish_to_group("target", &messages).await {
        result.expect("confirmed");
    }
    let got = receive(target.as_mut(), 1).await;
    assert_eq!(got[0].message.event_id, messages[0].event_id);
    assert_eq!(got[0].message.routing_key, messages[0].routing_key);
    ack_all(target.as_mut(), &got).await;
    receive_nothing(other.as_mut(), Duration::from_millis(500)).await;
    target.close().await.expect("close");
    other.close().await.expect("close");
}

/// Publishing and receiving go on after the broker restarts; nothing confirmed is lost.
pub async fn broker_restart(fixture: &dyn Fixture) {
    let _exclusive = BROKER.write().await;
    let mut subscription = subscribe(fixture, "survivor", "m1", &["#"]).await;
    let before: Vec<Message> = (0..20).map(|n| message("orders.placed", "k", n)).collect();
    publish_all(fixture.publisher(), &before).await;
    fixture.restart().await;
    let after: Vec<Message> = (20..40).map(|n| message("orders.placed", "k", n)).collect();
    publish_until_confirmed(fixture.publisher(), &after).await;
    let mut seen = BTreeSet::new();
    let wanted: BTreeSet<uuid::Uuid> =
        message_ids(&before).union(&message_ids(&after)).copied().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !wanted.is_subset(&seen) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} after the restart",
            seen.len(),
            wanted.len()
        );
        match subscription.receive(100, Duration::from_millis(500)).await {
            Ok(got) => {
                seen.extend(ids(&got));
                if let Err(error) =
                    subscription.ack(&got.iter().map(|d| d.tag).collect::<Vec<_>>()).await
                {
                    eprintln!("ack after restart failed (they come again): {error}");
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    subscription.close().await.expect("close");
}

/// Publishes, retrying the unconfirmed messages until all are confirmed (60 s at most).
pub async fn publish_until_confirmed(publisher: &dyn Publisher, messages: &[Message]) {
    let mut left = messages.to_vec();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !left.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} messages unconfirmed after 60 s",
            left.len()
        );
        let results = publisher.publish(&left).await;
        left = left.into_iter().zip(results).filter(|(_, r)| r.is_err()).map(|(m, _)| m).collect();
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
