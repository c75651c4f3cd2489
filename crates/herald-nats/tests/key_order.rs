//! Per-key order across a lost connection. A publish written into a connection that dies
//! is lost, while async-nats writes the publishes it still holds on its next connection:
//! the publisher must never let a later event of a key be stored when an earlier one was
//! not, or the relay's second try of the earlier one lands after it (and the stream's
//! deduplication drops the second copy of the later one). A TCP proxy between the
//! publisher and the server holds the first event's bytes, then closes the connection.

use std::time::Duration;

use async_nats::jetstream;
use herald_faults::Proxy;
use herald_nats::{JetStream, NatsConfig};
use herald_testkit::brokers::{nats_url, unique};
use herald_testkit::transport_suite::message;
use herald_transport::{Message, Publisher};

/// The event ids of the stream's messages, in the stream's order.
async fn stored(stream_name: &str) -> Vec<String> {
    let client = async_nats::connect(nats_url()).await.expect("connect to NATS");
    let context = jetstream::new(client);
    let mut stream = context.get_stream(stream_name).await.expect("the test stream");
    let last = stream.info().await.expect("stream info").state.last_sequence;
    let mut ids = Vec::new();
    for sequence in 1..=last {
        let Ok(message) = stream.get_raw_message(sequence).await else { continue };
        let id = message.headers.get("Herald-Event-Id").expect("Herald-Event-Id header");
        ids.push(id.to_string());
    }
    ids
}

fn ids(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|message| message.event_id.to_string()).collect()
}

/// A publisher reaching the server through a proxy, with a stream of its own.
async fn through_proxy() -> (Proxy, JetStream) {
    through_proxy_with(Duration::from_secs(2)).await
}

/// The same, with a publish timeout of `publish_timeout`.
async fn through_proxy_with(publish_timeout: Duration) -> (Proxy, JetStream) {
    let server = nats_url().trim_start_matches("nats://").to_owned();
    let proxy = Proxy::start(server).await.expect("start the proxy");
    let id: String = unique("order").chars().filter(char::is_ascii_alphanumeric).collect();
    let mut config = NatsConfig::new(format!("nats://{}", proxy.address));
    config.stream = format!("HERALD_TEST_{id}");
    config.subject_prefix = format!("herald-test-{id}");
    config.publish_timeout = publish_timeout;
    (proxy, JetStream::new(config))
}

#[tokio::test]
async fn a_later_event_of_a_key_is_never_stored_before_an_earlier_lost_one() {
    let (proxy, transport) = through_proxy().await;
    let events: Vec<Message> = (0..3).map(|n| message("order.placed", "customer-7", n)).collect();
    let first = transport.publish(&events[..1]).await;
    assert!(first[0].is_ok(), "{first:?}");

    // The second event's bytes wait in the stalled proxy, then die with the connection.
    let connections = proxy.forwarded_so_far();
    proxy.stall();
    let lost = transport.send(&events[1..2]).await;
    proxy.holding().await;
    proxy.cut();
    proxy.restore();
    // The third, handed over once the client is connected again while the second's
    // acknowledgement is still awaited (as the relay's next batch is), goes out on the
    // new connection unless the publisher holds it back.
    proxy.forwarded(connections + 1).await;
    let later = transport.send(&events[2..3]).await;
    let (lost, later) = (lost.await, later.await);

    let stream = stored(&transport.config().stream).await;
    let expected = ids(&events);
    assert_eq!(stream, expected[..stream.len()], "stored out of order: {lost:?} {later:?}");
    assert!(later[0].is_err() || lost[0].is_ok(), "the later one confirmed alone: {later:?}");

    // The relay's next try, in order: both stored after the first, in order.
    let retried = transport.publish(&events[1..]).await;
    assert!(retried.iter().all(Result::is_ok), "{retried:?}");
    assert_eq!(stored(&transport.config().stream).await, expected);
    transport.delete_stream().await.expect("delete the test stream");
}

#[tokio::test]
async fn a_failed_hand_over_holds_its_key_back_until_the_event_goes_out_again() {
    let (proxy, transport) = through_proxy().await;
    let events: Vec<Message> = (0..2).map(|n| message("order.placed", "customer-9", n)).collect();
    // No connection yet, and none possible: the hand-over fails at once.
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
    assert_eq!(stored(&transport.config().stream).await, ids(&events));
    transport.delete_stream().await.expect("delete the test stream");
}

/// A publish written into a connection that dies never gets JetStream's reply; async-nats
/// would wait for it across the reconnection until the publish timeout (10 s by
/// default), and the relay with it. It fails when the connection is lost instead.
#[tokio::test]
async fn a_publish_whose_connection_dies_fails_then_not_at_the_timeout() {
    let (proxy, transport) = through_proxy_with(Duration::from_secs(60)).await;
    let events: Vec<Message> = (0..2).map(|n| message("order.placed", "customer-3", n)).collect();
    let first = transport.publish(&events[..1]).await;
    assert!(first[0].is_ok(), "{first:?}");
    proxy.stall();
    let pending = transport.send(&events[1..]).await;
    proxy.holding().await;
    let cut_at = std::time::Instant::now();
    proxy.cut();
    let outcome = tokio::time::timeout(Duration::from_secs(30), pending)
        .await
        .expect("the publish settles long before its 60 s timeout");
    let waited = cut_at.elapsed();
    let error = outcome[0].as_ref().expect_err("no acknowledgement came").to_string();
    assert!(error.contains("connection to NATS was lost"), "{error}");
    assert!(waited < Duration::from_secs(5), "failed only after {waited:?}");
    proxy.restore();
    // The relay's retry goes through, and the stream holds the event once.
    let retried = transport.publish(&events[1..]).await;
    assert!(retried[0].is_ok(), "{retried:?}");
    assert_eq!(stored(&transport.config().stream).await, ids(&events));
    transport.delete_stream().await.expect("delete the test stream");
}
