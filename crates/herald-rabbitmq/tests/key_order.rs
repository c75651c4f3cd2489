//! Per-key order across a lost connection. When the connection dies with a publish
//! unconfirmed, the next publish reconnects; if a later event of the same key went out on
//! the new connection before the earlier one's fate was known, the relay's second try of
//! the earlier one would be stored after it, and a consumer's inbox would apply them out
//! of order. A TCP proxy between the publisher and the broker holds the earlier event's
//! bytes, then closes the connection.

use std::time::Duration;

use herald_faults::Proxy;
use herald_rabbitmq::{RabbitMq, RabbitMqConfig};
use herald_testkit::brokers::{amqp_url, unique};
use herald_testkit::transport_suite::message;
use herald_transport::{Message, Publisher, Subscriber, SubscriptionSpec};

const KEY: &str = "customer-7";

/// The event ids of `KEY` in the group's queue, first deliveries only (as an inbox
/// applies them), in the queue's order.
async fn applied_order(transport: &RabbitMq, spec: SubscriptionSpec, count: usize) -> Vec<String> {
    let mut subscription = transport.subscribe(spec).await.expect("subscribe");
    let mut seen = Vec::new();
    while seen.len() < count {
        let deliveries = subscription.receive(64, Duration::from_secs(5)).await.expect("receive");
        if deliveries.is_empty() {
            break;
        }
        for delivery in &deliveries {
            let id = delivery.message.event_id.to_string();
            if delivery.message.partition_key == KEY && !seen.contains(&id) {
                seen.push(id);
            }
        }
        let tags: Vec<_> = deliveries.iter().map(|delivery| delivery.tag).collect();
        subscription.ack(&tags).await.expect("ack");
    }
    subscription.close().await.expect("close");
    seen
}

fn ids(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|message| message.event_id.to_string()).collect()
}

/// A transport reaching the broker through a proxy, with an exchange of its own and the
/// group `ordered` declared.
async fn through_proxy() -> (Proxy, RabbitMq, SubscriptionSpec) {
    let broker = host_and_port(&amqp_url());
    let proxy = Proxy::start(broker.clone()).await.expect("start the proxy");
    let id = unique("order");
    let mut config = RabbitMqConfig::new(amqp_url().replace(&broker, &proxy.address.to_string()));
    config.exchange = format!("herald.test.{id}");
    config.queue_prefix = format!("herald-test.{id}");
    config.confirm_timeout = Duration::from_secs(2);
    let transport = RabbitMq::new(config);
    let spec = SubscriptionSpec {
        group: "ordered".into(),
        member: "ordered-1".into(),
        patterns: vec!["#".parse().expect("pattern")],
    };
    transport.declare_group(&spec).await.expect("declare the group");
    (proxy, transport, spec)
}

#[tokio::test]
async fn a_later_event_of_a_key_is_never_stored_before_an_earlier_lost_one() {
    let (proxy, transport, spec) = through_proxy().await;
    let events: Vec<Message> = (0..3).map(|n| message("order.placed", KEY, n)).collect();
    let first = transport.publish(&events[..1]).await;
    assert!(first[0].is_ok(), "{first:?}");

    // The second event's bytes wait in the stalled proxy, then die with the connection.
    proxy.stall();
    let lost = transport.send(&events[1..2]).await;
    proxy.holding().await;
    let connections = proxy.forwarded_so_far();
    proxy.cut();
    proxy.restore();
    // Other keys' publishes go on until one has reconnected (as the relay's next batches
    // do), while the second event's confirm is still awaited.
    while proxy.forwarded_so_far() == connections {
        let other = message("order.placed", "customer-8", 0);
        let _ = transport.publish(&[other]).await;
    }
    let later = transport.send(&events[2..3]).await;
    let (lost, later) = (lost.await, later.await);
    assert!(later[0].is_err() || lost[0].is_ok(), "the later one confirmed alone: {later:?}");

    // The relay's next try, in order.
    let retried = transport.publish(&events[1..]).await;
    assert!(retried.iter().all(Result::is_ok), "{retried:?}");
    let order = applied_order(&transport, spec, events.len()).await;
    assert_eq!(order, ids(&events), "applied out of order: {lost:?} {later:?}");
    transport.delete_topology(&["ordered"]).await.expect("delete the test topology");
}

#[tokio::test]
async fn a_failed_hand_over_holds_its_key_back_until_the_event_goes_out_again() {
    let (proxy, transport, spec) = through_proxy().await;
    let events: Vec<Message> = (0..2).map(|n| message("order.placed", KEY, n)).collect();
    // The publisher has no connection yet, and none is possible: it fails at once.
    proxy.cut();
    let refused = transport.publish(&events[..1]).await;
    assert!(refused[0].is_err(), "{refused:?}");
    proxy.restore();
    // The relay's next batch, handed over before it learned of the failure, holds the
    // key's next event: it must not go out before the first.
    let later = transport.publish(&events[1..]).await;
    let error = later[0].as_ref().expect_err("held back").to_string();
    assert!(error.contains(&events[0].event_id.to_string()), "{error}");
    // The relay's retry, from the failed event: both go out, in order.
    let retried = transport.publish(&events).await;
    assert!(retried.iter().all(Result::is_ok), "{retried:?}");
    let order = applied_order(&transport, spec, events.len()).await;
    assert_eq!(order, ids(&events));
    transport.delete_topology(&["ordered"]).await.expect("delete the test topology");
}

/// The `host:port` of an `amqp://user:pass@host:port/vhost` URL.
fn host_and_port(url: &str) -> String {
    let after_at = url.rsplit_once('@').map_or(url.trim_start_matches("amqp://"), |(_, rest)| rest);
    let host_port = after_at.split('/').next().unwrap_or(after_at);
    if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5672") }
}
